"""Imports point one way: data <- models <- (runtime, train) <- (export, benchmarks) <- concepts <- app <- cli.

Read from the source (every `import`, module level or inside a function), so a lazy import up the stack counts
too. Also: no private names across subpackages, and the torch-free part of the runtime never reaches torch,
librosa, scikit-learn, scipy or numba, not even through another audioconcept module.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "audioconcept"
# audioconcept.<top> -> layer; modules directly under audioconcept (errors, utils) are the base
LAYERS = {
    "data": 1,
    "models": 2,
    "runtime": 3,
    "train": 3,
    "export": 4,
    "benchmarks": 4,
    "concepts": 5,
    "app": 6,
    "cli_run": 7,  # audioconcept-run: the runtime entry point that `audioconcept run` calls
    "cli": 8,
}
BASE = {"errors", "utils", "__init__"}
HEAVY = (
    "torch",
    "librosa",
    "sklearn",
    "scipy",
    "numba",
    "captum",
    "coremltools",
    "matplotlib",
    "ray",
    "pyarrow",
    "executorch",
)
# runtime modules that may need an extra, and say so with a one-line MissingExtra error
RUNTIME_EXTRAS = {
    "audioconcept.runtime.torch_backend",
    "audioconcept.runtime.coreml_backend",
    "audioconcept.runtime.executorch_backend",  # the `executorch` extra, whose Python runtime imports torch
    "audioconcept.runtime.batch.arrow",  # the `ray` extra (pyarrow), behind a one-line MissingExtra
    "audioconcept.runtime.batch.ray_engine",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module imported, names imported from it) for every import statement in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Import):
            out += [(a.name, ()) for a in node.names]
    return out


@functools.cache  # parsed once per session: every parametrized case reads the same sources
def graph() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    return {module_name(p): imports(p) for p in ROOT.rglob("*.py")}


def top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert subpackages | modules <= set(LAYERS) | BASE


def test_imports_point_one_way():
    bad = []
    for mod, deps in graph().items():
        src = top(mod)
        for dep, _ in deps:
            if not dep.startswith("audioconcept.") or top(dep) in BASE or src in BASE:
                continue
            dst = top(dep)
            if dst != src and LAYERS[dst] >= LAYERS[src]:
                bad.append(f"{mod} -> {dep}")
    assert not bad, "imports up (or sideways across) the stack:\n" + "\n".join(sorted(bad))


def test_no_private_names_across_subpackages():
    bad = [
        f"{mod} imports {name} from {dep}"
        for mod, deps in graph().items()
        for dep, names in deps
        for name in names
        if dep.startswith("audioconcept.")
        and top(dep) != top(mod)
        and name.startswith("_")
        and not name.startswith("__")
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_modules():
    full = graph()
    g = {m: {d for d, _ in deps if d in full} for m, deps in full.items()}
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the stack, 2 done
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in g.get(m, ()):
            if state[d] == 1:
                cycles.append(" -> ".join(stack[stack.index(d) :] + [d]))
            elif state[d] == 0:
                visit(d, [*stack, d])
        state[m] = 2

    for m in g:
        if state[m] == 0:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def closure(start: str, g, stop: set[str]) -> set[str]:
    """Every module `start` imports, directly or through audioconcept modules (not entering `stop`)."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen or m in stop:
            continue
        seen.add(m)
        for dep, names in g.get(m, ()):
            if dep.startswith("audioconcept"):
                # `from audioconcept.x import y` may name a submodule
                todo += [dep] + [f"{dep}.{n}" for n in names if f"{dep}.{n}" in g]
            else:
                seen.add(dep)
    return seen


@pytest.mark.parametrize(
    "module",
    sorted(
        m
        for m in graph()
        if (m.startswith("audioconcept.runtime") and m not in RUNTIME_EXTRAS) or m == "audioconcept.data.audio"
    ),
)
def test_runtime_never_reaches_heavy_libraries(module):
    """The torch backends are entered only through make_backend's lazy import, for the torch rows."""
    heavy = sorted(d for d in closure(module, graph(), RUNTIME_EXTRAS) if d.split(".")[0] in HEAVY)
    assert not heavy, f"{module} reaches {heavy}"
