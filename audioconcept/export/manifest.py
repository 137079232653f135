"""Build the bundle manifest and its model card."""

from __future__ import annotations

import platform
import time
from importlib import metadata as md
from pathlib import Path

from audioconcept import __version__
from audioconcept.runtime.bundle import SCHEMA_VERSION
from audioconcept.utils import sha256_tree, tree_size


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"audioconcept": __version__, "python": platform.python_version()}
    for pkg in ("torch", "onnx", "onnxruntime", "onnxscript", "coremltools", "scikit-learn", "skl2onnx", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def core_manifest(
    *,
    name: str,
    arch: str,
    labels: list[str],
    window_s: float,
    hop_s: float,
    sample_rate: int,
    frontend: dict | None,
    inputs: dict,
    outputs: list[dict],
    source_sha256: str,
    source_path: str,
    trained_on: str,
    metrics: dict,
    extra: dict | None = None,
) -> dict:
    """Everything but artifacts and parity: this part is also embedded in each artifact."""
    m = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "arch": arch,
        "labels": labels,
        "sample_rate": sample_rate,
        "window_s": window_s,
        "hop_s": hop_s,
        "window_samples": int(round(window_s * sample_rate)),
        "frontend": frontend,
        "inputs": inputs,
        "outputs": outputs,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_checkpoint": {"sha256": source_sha256, "path": source_path},
        "trained_on": trained_on,
        "metrics": metrics,
    }
    m.update(extra or {})
    return m


def artifact_entry(root: Path, file: str, input_name: str, precision: str, **extra) -> dict:
    p = root / file
    return {
        "file": file,
        "sha256": sha256_tree(p),
        "size_bytes": tree_size(p),
        "input": input_name,
        "precision": precision,
        **extra,
    }


def model_card(m: dict) -> str:
    lines = [
        f"# {m['name']} ({m['arch']})",
        "",
        f"Genre classifier exported by AudioConcept {m['versions'].get('audioconcept')} on {m['created']}.",
        "",
        f"- Labels: {', '.join(m['labels'])}",
        f"- Input: {m['window_s']} s mono at {m['sample_rate']} Hz ({m.get('window_samples')} samples); "
        f"songs are cut into windows every {m['hop_s']} s and window logits are averaged.",
        f"- Trained on: `{m.get('trained_on', '?')}`",
        f"- Source checkpoint sha256: `{m['source_checkpoint']['sha256']}`",
    ]
    test = (m.get("metrics") or {}).get("test") or {}
    if test:
        lines.append(
            f"- Test accuracy at training time: {test.get('accuracy', float('nan')):.3f} "
            f"(macro-F1 {test.get('macro_f1', float('nan')):.3f}, n={test.get('n')})"
        )
    if m.get("frontend"):
        f = m["frontend"]
        lines.append(
            f"- Front end: mel {f['n_mels']} bands, n_fft {f['n_fft']}, hop {f['hop_length']}, "
            f"f_max {f['f_max']}, power {f['power']}, dB (amin {f['amin']}), fp32 in every artifact"
        )
    if m.get("features"):
        lines.append(
            f"- Features: {len(m['features'])} GTZAN features (librosa's definitions, computed in numpy); "
            f"label rule: {m.get('label_rule')}"
        )
    lines += ["", "## Artifacts", "", "| key | file | input | precision | size | sha256 |", "|---|---|---|---|---|---|"]
    for k, a in m["artifacts"].items():
        lines.append(
            f"| {k} | `{a['file']}` | {a['input']} | {a.get('precision', '')} | "
            f"{a['size_bytes'] / 1e6:.2f} MB | `{a['sha256'][:12]}…` |"
        )
    if m.get("skipped"):
        lines += ["", "Not exported:", ""] + [f"- {k}: {v}" for k, v in m["skipped"].items()]
    lines += [
        "",
        "## Parity against the eager model",
        "",
        "| artifact | clips | max abs dlogit | mean abs dlogit | top-1 agreement | verified |",
        "|---|---|---|---|---|---|",
    ]
    for k, p in m["parity"].items():
        if "max_abs_logit_diff" in p:
            lines.append(
                f"| {k} | {p['n_clips']} | {p['max_abs_logit_diff']:.2e} | {p['mean_abs_logit_diff']:.2e} | "
                f"{p['top1_agreement']:.3f} | {'yes' if p.get('passed') else 'no'} |"
            )
        elif "partitions" in p:  # the static CoreML execution provider check
            shape = "one piece" if p.get("one_piece") else f"{p['partitions']} partitions"
            lines.append(f"| {k} | - | - | - | - | static check: {shape}, {p['supported_nodes']}/{p['nodes']} nodes |")
        else:
            lines.append(f"| {k} | - | - | - | - | no: {p.get('reason', '')} |")
    q = m["parity"].get("int8") or m.get("int8_measured") or {}
    if "fp32_layers" in q:
        shipped = "shipped" if "int8" in m["parity"] else f"not shipped: {(m.get('skipped') or {}).get('int8', '')}"
        lines += [
            "",
            f"int8 ({shipped}): {q['fp32_layers']} kept in fp32 (accuracy-aware fallback); end to end "
            f"{q['end_to_end_ms_int8']} ms against {q['end_to_end_ms_fp32']} ms fp32 per window on the export host "
            f"(fp32 path: {q['fp32_path']}; int8 path: {q.get('int8_path', 'model.int8.onnx')}).",
        ]
    if m.get("concepts"):
        c = m["concepts"]
        lines += ["", "## Concepts", "", f"Layer `{c['layer']}`: {', '.join(c['names'])}"]
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in m["versions"].items() if v]
    return "\n".join(lines) + "\n"
