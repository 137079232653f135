"""Markdown report and figures for `concepts learn`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioconcept.train.plots import save_figure
from audioconcept.utils import atomic_write_text


def _heatmap(result: dict, layer: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(result["clips_per_class"])
    concepts = result["concepts"]
    M = np.full((len(classes), len(concepts)), np.nan)
    sig = np.zeros_like(M, dtype=bool)
    for r in result["tcav"]:
        if r["layer"] == layer:
            i, j = classes.index(r["class"]), concepts.index(r["concept"])
            M[i, j] = r["tcav_sign"]
            sig[i, j] = r["significant"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(concepts), 1.0 + 0.42 * len(classes)))
    im = ax.imshow(M, cmap="RdBu_r", vmin=0, vmax=1)
    ax.set_xticks(range(len(concepts)), concepts, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(concepts)):
            if sig[i, j]:
                ax.text(j, i, "*", ha="center", va="center", color="black", fontsize=12)
    ax.set_title(f"TCAV sign score, layer {layer} (* significant after Bonferroni)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    save_figure(fig, path)


def _cav_accuracy(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = result["layers"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for c in result["concepts"]:
        ax.plot(layers, [result["cav_accuracy"][lay][c] for lay in layers], marker="o", label=c, alpha=0.8)
    ax.set_ylim(0.4, 1.02)
    ax.set_ylabel("held-out CAV accuracy")
    ax.set_title("Where concepts live: CAV accuracy by layer")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    save_figure(fig, path)


def write_report(result: dict, out: Path) -> None:
    for layer in result["layers"]:
        _heatmap(result, layer, out / f"tcav_{layer}.png")
    _cav_accuracy(result, out / "cav_accuracy.png")
    lines = [
        f"# Concepts in {result['arch']} ({result['model']})",
        "",
        f"{len(result['concepts'])} concepts, {len(result['random_sets'])} random sets, layers "
        f"{', '.join(result['layers'])}. TCAV significance: two-sided Welch t-test of concept-vs-random scores "
        f"against random-vs-random scores, Bonferroni over {result['bonferroni_tests']} tests "
        f"(p < {result['p_threshold']:.2e}); null: {result['null_distribution']}. A finding also needs a held-out CAV "
        f"accuracy of at least {result['min_cav_accuracy']} at that layer.",
        "",
        f"Random-concept sanity check: {result['random_sanity']['significant']} of "
        f"{result['random_sanity']['tests']} tests significant ({100 * result['random_sanity']['rate']:.1f}%).",
        "",
        "## CAV accuracy (held-out) by layer",
        "",
        "![](cav_accuracy.png)",
        "",
        "| concept | " + " | ".join(result["layers"]) + " |",
        "|---|" + "---|" * len(result["layers"]),
    ]
    for c in [*result["concepts"], result["random_sanity"]["pseudo_concept"]]:
        lines.append(
            f"| {c} | " + " | ".join(f"{result['cav_accuracy'][lay][c]:.2f}" for lay in result["layers"]) + " |"
        )
    lines += [
        "",
        "## Significant findings (concept pushes the class up)",
        "",
        "| class | concept | layer | TCAV sign | random | magnitude | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(result["significant_findings"], key=lambda r: (r["class"], r["p_value"])):
        lines.append(
            f"| {r['class']} | {r['concept']} | {r['layer']} | {r['tcav_sign']:.2f} | {r['random_sign']:.2f} "
            f"| {r['tcav_magnitude']:.2f} | {r['p_value']:.1e} |"
        )
    h = result["head"]
    lines += [
        "",
        f"## Concept head for export: layer `{h['layer']}` (frame hop {h['frame_hop_s']:.2f} s)",
        "",
        h["calibration"] + f"; negatives: {h['negatives']}.",
        "",
    ]
    lines += [f"![](tcav_{lay}.png)" for lay in result["layers"]]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
