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
    for pkg in (
        "torch",
        "onnx",
        "onnxruntime",
        "onnxscript",
        "coremltools",
        "scikit-learn",
        "skl2onnx",
        "numpy",
        "executorch",
    ):
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
    what = f"Music tagger ({len(m['labels'])} tags)" if m.get("multi_label") else "Genre classifier"
    context = (m.get("frontend") or {}).get("context_samples") or 0
    lines = [
        f"# {m['name']} ({m['arch']})",
        "",
        f"{what} exported by AudioConcept {m['versions'].get('audioconcept')} on {m['created']}.",
        "",
        f"- Labels: {', '.join(m['labels'])}",
        f"- Input: {m['window_s']} s mono at {m['sample_rate']} Hz ({m.get('window_samples')} samples"
        + (f", plus {context} samples of the song on each side" if context else "")
        + f"); songs are cut into windows every {m['hop_s']} s and window logits are averaged.",
        f"- Trained on: `{m.get('trained_on', '?')}`",
        f"- Source checkpoint sha256: `{m['source_checkpoint']['sha256']}`",
    ]
    metrics = m.get("metrics") or {}
    test = metrics.get("test") or {}
    if test:
        lines.append(
            f"- Test accuracy at training time: {test.get('accuracy', float('nan')):.3f} "
            + (f"(macro-F1 {test['macro_f1']:.3f}, " if "macro_f1" in test else "(")
            + f"n={test.get('n')})"
        )
    cv = metrics.get("cv") or {}
    if all(isinstance(cv.get(k), int | float) for k in ("accuracy", "std", "n")) and cv.get("estimate"):
        lines.append(
            f"- Accuracy (an estimate): {cv['accuracy']:.3f} ± {cv['std']:.3f} by {cv['estimate']} on "
            f"{cv['n']} tracks of the training data (each scored by a head that did not see it); likely optimistic "
            "for songs of artists it has not heard (GTZAN repeats artists within a genre)"
        )
    elif isinstance(cv.get("accuracy"), int | float):
        lines.append(f"- Cross-validated accuracy at training time: {cv['accuracy']:.3f}")
    if m.get("frontend"):
        f = m["frontend"]
        comp = f"log10(1 + {f['log_c']:g} x)" if f.get("compression") == "log10(1+C*x)" else f"dB (amin {f['amin']})"
        lines.append(
            f"- Front end: mel {f['n_mels']} bands ({f.get('mel_scale', 'htk')} scale), n_fft {f['n_fft']}, "
            f"hop {f['hop_length']}, f_max {f['f_max']}, power {f['power']}, {comp}, fp32 in every artifact"
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
        elif "max_abs_diff" in p:  # the concept outputs
            lines.append(
                f"| {k} | - | {p['max_abs_diff']:.2e} (concepts; frames {p.get('frames_max_abs_diff', 0.0):.2e}) "
                "| - | - | yes |"
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
    lines += genre_heads_card(m.get("genre_heads"))
    if m.get("concepts"):
        c = m["concepts"]
        if c.get("kind") == "tags":
            named = sum(c["genre_named"])
            lines += [
                "",
                "## Concepts",
                "",
                f"{len(c['names'])} named concepts from the {len(c['outputs'])} tags ({named} of them genre-, style- "
                f"or era-named, marked * here and in every explanation): "
                + ", ".join(n + ("*" if g else "") for n, g in zip(c["names"], c["genre_named"], strict=True)),
                "",
                f"Presence: {c['calibration']}.",
            ]
            lines += validation_card(c.get("validation"))
        else:
            lines += ["", "## Concepts", "", f"Layer `{c['layer']}`: {', '.join(c['names'])}"]
    prov = m.get("provenance") or {}
    if prov.get("licence_notice"):
        lines += [
            "",
            "## Weights: provenance and licence",
            "",
            f"- Converted from `{prov.get('package')}` ({prov.get('upstream')}), model {prov.get('model')}"
            + (f", backbone checkpoint `{prov['backbone']}`" if prov.get("backbone") else ""),
            f"- Citation: {prov.get('citation')}",
            f"- Licence ({prov.get('licence')}): {prov['licence_notice']}",
        ]
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in m["versions"].items() if v]
    return "\n".join(lines) + "\n"


def validation_card(v: dict | None) -> list[str]:
    """The model card's table of concept validation (validated and failed concepts; the rest are counted)."""
    if not v:
        return []
    lines = [
        "",
        "### Concept validation",
        "",
        "| concept | status | source | AUC | precision at threshold | real-recording AUC | data |",
        "|---|---|---|---|---|---|---|",
    ]

    def f(x):
        return "-" if x is None else f"{x:.2f}"

    for n, r in sorted(v.items(), key=lambda kv: (kv[1]["status"] != "validated", kv[1]["status"], kv[0])):
        if r["status"] == "not validated":
            continue
        lines.append(
            f"| {n} | {r['status']} | {r.get('source') or '-'} | {f(r.get('auc'))} | {f(r.get('precision'))} | "
            f"{f(r.get('real_auc'))} | {r['data']} |"
        )
    rest = sum(r["status"] == "not validated" for r in v.values())
    lines += ["", f"{rest} more concepts are not validated (no truth here): they are marked `?` wherever shown."]
    return lines


def genre_heads_card(gh: dict | None) -> list[str]:
    """The model card's table of a tag probe's genre heads."""
    if not gh:
        return []

    def acc(a: dict) -> str:
        if "cv" in a:
            return f"{a['cv']['accuracy']:.3f} ± {a['cv']['std']:.3f} (cross-validated estimate)"
        return f"test {a['test']:.3f}, valid {a['valid']:.3f}"

    lines = [
        "",
        "## Genre heads",
        "",
        "Linear heads on the tag probabilities: every genre logit splits exactly into one contribution per named "
        "concept (run with `--head NAME` to use one that the graph does not compute).",
        "",
        "| head | input | accuracy | in the graph |",
        "|---|---|---|---|",
    ]
    for name, h in gh.get("heads", {}).items():
        n = len(h["features"])
        lines.append(
            f"| {name} | {n} tags ({h['description']}) | {acc(h['accuracy'])} | "
            f"{'yes' if gh.get('in_graph') == name else 'no'} |"
        )
    if gh.get("embedding"):
        lines.append(
            f"| embedding (reference) | pooled embedding | {acc(gh['embedding']['accuracy'])} | "
            f"{'yes' if gh.get('in_graph') == 'embedding' else 'no'} |"
        )
    chooses = gh.get("default") or gh.get("in_graph")
    if gh.get("reasons") and gh["reasons"] != chooses:
        lines += [
            "",
            f"The genres come from `{chooses}`; the reasons come from `{gh['reasons']}` (its weights are "
            "non-negative where it says so: every reason is a concept the song has more of than the average training "
            "song), and each song's explanation says whether that head alone would choose the same genre.",
        ]
    return lines
