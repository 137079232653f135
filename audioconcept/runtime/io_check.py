"""Does the loaded model fit its manifest? Input shape, output names and widths (torch-free).

The manifest's sha256 only proves that the file is the one the manifest names; a hand-edited
manifest can name a model with another input size or another number of classes. These checks
turn that into one BundleError line when the model loads (from the ONNX graph's declared shapes)
and on every batch (from the arrays it returns), instead of an onnxruntime traceback or labels
zipped onto the wrong columns.
"""

from __future__ import annotations

from audioconcept.errors import BundleError

REQUIRED_OUTPUTS = {
    "features": ("probabilities",),
    "waveform": ("logits", "probabilities"),
    "mel": ("logits", "probabilities"),
}


def expected_input(manifest: dict, kind: str) -> list[int | None]:
    """Input dims after the batch axis (None: not known from the manifest)."""
    fe = manifest.get("frontend") or {}
    # song framing: a window carries `context_samples` of the song on both sides (see data.audio.iter_windows)
    window = int(round(float(manifest["window_s"]) * int(manifest["sample_rate"]))) + 2 * int(
        fe.get("context_samples") or 0
    )
    if kind == "features":
        feats = manifest.get("features")
        return [len(feats) if isinstance(feats, list) and feats else None]
    if kind == "mel":
        if not fe:
            return [None, None]
        hop = int(fe["hop_length"])
        frames = 1 + window // hop if fe.get("center", True) else 1 + (window - int(fe["n_fft"])) // hop
        return [int(fe["n_mels"]), frames]
    return [window]


def check_session_io(backend, manifest: dict, where: str) -> None:
    """For onnxruntime backends: the graph's declared input and output shapes against the manifest."""
    session = getattr(backend, "session", None)
    if session is None:
        return
    kind = backend.input_kind
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise BundleError(f"{where}: the ONNX model takes {len(inputs)} inputs; a bundle model takes one")
    got = list(inputs[0].shape)[1:]
    want = expected_input(manifest, kind)
    fits = len(got) == len(want) and all(
        not isinstance(g, int) or w is None or g == w for g, w in zip(got, want, strict=True)
    )
    if not fits:
        raise BundleError(
            f"{where}: the ONNX model's input {inputs[0].name} has shape {['batch', *got]}, but the manifest "
            f"describes {['batch', *want]} ({kind})"
        )
    outputs = {o.name: list(o.shape) for o in session.get_outputs()}
    missing = [n for n in REQUIRED_OUTPUTS[kind] if n not in outputs]
    if missing:
        raise BundleError(f"{where}: the ONNX model has no {', '.join(missing)} output (it has {', '.join(outputs)})")
    n = len(manifest["labels"])
    for name in ("logits", "probabilities"):
        shape = outputs.get(name)
        if shape and isinstance(shape[-1], int) and len(shape) >= 2 and shape[-1] != n:
            raise BundleError(
                f"{where}: the model's {name} output has {shape[-1]} classes; the manifest lists {n} labels"
            )
    c = manifest.get("concepts") or {}
    # a tagger's concept output is its source tags, which the runtime merges into the named concepts
    names = (c.get("outputs") if c.get("kind") == "tags" else c.get("names")) or []
    shape = outputs.get("concepts")
    if names and shape and isinstance(shape[-1], int) and shape[-1] != len(names):
        raise BundleError(
            f"{where}: the model's concepts output has {shape[-1]} columns; the manifest names {len(names)}"
        )


def check_outputs(out, n_labels: int, n_concepts: int, where: str) -> None:
    """On every batch: the arrays the backend returned fit the labels and concept names, and are finite (a NaN
    or Inf is never reported as a result)."""
    p = out.probabilities
    if p.ndim != 2 or p.shape[-1] != n_labels:
        raise BundleError(f"{where}: the model returned {p.shape[-1]} class probabilities for {n_labels} labels")
    if out.logits is not None and out.logits.shape != p.shape:
        raise BundleError(f"{where}: the model's logits {out.logits.shape} and probabilities {p.shape} differ in shape")
    if n_concepts and out.concepts is not None and out.concepts.shape[-1] != n_concepts:
        raise BundleError(f"{where}: the model returned {out.concepts.shape[-1]} concepts for {n_concepts} names")
    check_finite_outputs(out, where)


def check_finite_outputs(out, where: str) -> None:
    import numpy as np

    for name in ("logits", "probabilities", "concepts", "concept_frames"):
        a = getattr(out, name, None)
        if a is not None and not np.isfinite(a).all():
            raise BundleError(f"{where}: the model's {name} output is not finite (NaN or Inf); no result is reported")


def check_result_finite(res, where: str) -> None:
    """A song's numbers (genres, window probabilities, concepts, tags, explanations) are all finite: a NaN or Inf
    made while aggregating (a hostile manifest's genre head, say) is an error, never an "ok" result."""
    import json
    import math

    def bad(x) -> bool:
        return isinstance(x, float) and not math.isfinite(x)

    try:
        json.dumps(res.to_dict(), allow_nan=False)
    except ValueError:
        found = next((g for g, p in res.genres if bad(p)), None)
        what = f"genre {found}" if found else "a window or concept value"
        raise BundleError(f"{where}: the result for {res.path} is not finite ({what} is NaN or Inf)") from None
