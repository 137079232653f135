"""The docs site: the API reference covers every public runtime name with a docstring and an example, every
include resolves, and no page types a measured figure by hand (figures come from generated files)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import audioconcept.runtime as runtime

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API_PAGE = DOCS / "api" / "runtime.md"
SNIPPET = re.compile(r'^--8<-- "([^"]+)"\s*$', re.M)
# a measured figure: a number with a unit of time, memory, share, throughput or speed-up, a fraction (accuracy,
# probability, AUC), or a spread
FIGURE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s?(?:%|ms\b|MB\b|GB\b|GFLOP|songs/s|clips/s|×(?!\d))|(?<![\d.])0\.\d+\b(?!\.\d)|±"
)


def pages() -> list[Path]:
    return [p for p in DOCS.rglob("*.md") if "generated" not in p.relative_to(DOCS).parts]


def prose(text: str) -> str:
    """The text outside fenced code blocks, inline code and snippet lines."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith("--8<--"):
            out.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(out)


def _has_example(obj) -> bool:
    doc = inspect.getdoc(obj) or ""
    return "Example" in doc and "```" in doc


@pytest.mark.parametrize("name", runtime.__all__)
def test_every_public_runtime_name_has_a_docstring_with_an_example(name):
    assert _has_example(getattr(runtime, name)), f"audioconcept.runtime.{name} needs a docstring with an example"


@pytest.mark.parametrize("name", runtime.__all__)
def test_the_api_reference_shows_every_public_runtime_name(name):
    assert f"::: audioconcept.runtime.{name}\n" in API_PAGE.read_text()


def test_documented_members_have_examples():
    text = API_PAGE.read_text()
    members = re.findall(
        r"::: audioconcept\.runtime\.Model\n    options:\n      members:\n((?:        - \w+\n)+)", text
    )
    names = re.findall(r"- (\w+)", members[0])
    assert {"predict", "predict_array"} <= set(names)
    for n in names:
        assert _has_example(getattr(runtime.Model, n)), f"Model.{n} needs a docstring with an example"
    for n in ("genre", "to_dict", "to_json"):
        assert _has_example(getattr(runtime.SongResult, n)), f"SongResult.{n}"


def test_every_include_resolves():
    for p in pages():
        for inc in SNIPPET.findall(p.read_text()):
            path, *span = inc.split(":")
            assert (ROOT / path).is_file(), f"{p.relative_to(ROOT)} includes {inc}, which does not exist"
            if span:  # a line range must still cover whole paragraphs and tables: blank lines or the file's ends
                lines = (ROOT / path).read_text().splitlines()
                start, end = int(span[0]), int(span[1])
                assert start == 1 or not lines[start - 2].strip(), f"{inc}: line {start - 1} is not blank"
                assert end >= len(lines) or not lines[end].strip(), f"{inc}: line {end + 1} is not blank"


def test_no_page_types_a_measured_figure():
    hits = []
    for p in pages():
        for line in prose(p.read_text()).splitlines():
            hits += [f"{p.relative_to(ROOT)}: {m.group(0)!r} in {line.strip()[:100]!r}" for m in FIGURE.finditer(line)]
    assert not hits, "measured figures typed by hand (include a generated file instead):\n" + "\n".join(hits)


def test_the_figure_check_catches_a_typed_figure():
    assert FIGURE.search("the CNN takes 7.2 ms per window") and FIGURE.search("it is 3.6× faster")
    assert FIGURE.search("peak RSS 96 MB") and FIGURE.search("0.92 ± 0.02, 12 %")
    assert FIGURE.search("accuracy 0.755 on the test split")
    assert not FIGURE.search("five 3×3 conv blocks, a 29.1 s window")


def test_site_fetches_nothing_at_build_or_view_time():
    cfg = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^theme:\n(?:  .*\n)*  font: false$", cfg, re.M), "theme.font must be false (no Google Fonts)"
    assert "base_path" in cfg and "check_paths: true" in cfg
