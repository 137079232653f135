"""The song view shared by the HTML report and the app: where the timeline draws each window, the present
concepts and their lanes, one colour per genre, and the report rendered in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from audioconcept.runtime.result import BORDERLINE_NOTE, ConceptSpan, SongResult, WindowResult
from audioconcept.runtime.view import build_view, genre_colours, render_report, window_cells

LABELS = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
CONCEPTS = ["drums", "piano", "strings", "flute"]


def _manifest(window: float, hop: float, used: float | None = None) -> dict:
    m = {
        "labels": LABELS,
        "window_s": window,
        "hop_s": hop,
        "concepts": {"names": CONCEPTS, "thresholds": [0.5, 0.5, 0.5, 0.5]},
    }
    if used is not None:
        m["receptive_field"] = {"used_s": used}
    return m


def _result(duration: float, window: float, hop: float, genre_at) -> SongResult:
    """Windows [k*hop, k*hop + window) over the song, their genre from genre_at(start); drums and piano have
    spans, flute is present through one window only (no span), strings is absent."""
    windows, k = [], 0
    while True:
        start = round(k * hop, 3)
        end = round(min(start + window, duration), 3)
        g = genre_at(start)
        p = {lab: (0.82 if lab == g else 0.02) for lab in LABELS}
        flute = 0.7 if k == 3 else 0.1
        windows.append(
            WindowResult(k, start, end, g, 0.82, p, {"drums": 0.9, "piano": 0.6, "strings": 0.1, "flute": flute})
        )
        if start + window >= duration:
            break
        k += 1
    return SongResult(
        "song.flac",
        "m",
        "cnn",
        "synth",
        "onnx",
        "cpu",
        duration,
        [(LABELS[6], 0.5)],
        windows,
        concepts={"drums": 0.9, "piano": 0.6, "strings": 0.1, "flute": 0.7},
        concepts_present=["drums", "piano", "flute"],  # not by strength: the view sorts them
        concept_spans=[  # the song's aggregation places every present concept: flute in its one window
            ConceptSpan("drums", 0.0, duration, 0.9),
            ConceptSpan("piano", 30.0, 60.0, 0.6),
        ]
        + [ConceptSpan("flute", w.start, w.end, 0.7) for w in windows[3:4]],
    )


def test_the_genre_row_puts_each_window_at_what_the_model_hears():
    """cnn-synth: 29.1 s windows whose logits depend on their first 22.64 s, at hop 5 s over a song whose metal
    section is 30-60 s. Drawn from their starts, the metal windows (those hearing mostly 30-60 s) sat ~10 s early."""
    m = _manifest(29.1, 5.0, used=22.64)
    r = _result(120.0, 29.1, 5.0, lambda s: "metal" if 30 <= s + 11.32 < 60 else "jazz")
    cells = window_cells(r, m)
    assert cells[0]["cell"][0] == 0.0 and cells[-1]["cell"][1] == 120.0
    for a, b in zip(cells, cells[1:], strict=False):  # they tile the song, in order
        assert a["cell"][1] == pytest.approx(b["cell"][0], abs=1e-3)
    for w, c in zip(r.windows, cells, strict=True):
        assert c["heard"] == [w.start, pytest.approx(min(w.end, w.start + 22.64), abs=1e-3)]
        centre = (c["heard"][0] + c["heard"][1]) / 2
        assert c["cell"][0] - 1e-6 <= centre <= c["cell"][1] + 1e-6
    metal = [c["cell"] for w, c in zip(r.windows, cells, strict=True) if w.genre == "metal"]
    assert metal[0][0] == pytest.approx(30.0, abs=2.6) and metal[-1][1] == pytest.approx(60.0, abs=2.6)


def test_a_window_without_a_receptive_field_is_centred_on_itself():
    m = _manifest(30.0, 30.0)  # svm-gtzan: no receptive_field
    r = _result(90.0, 30.0, 30.0, lambda s: "rock")
    assert [c["heard"] for c in window_cells(r, m)] == [[0.0, 30.0], [30.0, 60.0], [60.0, 90.0]]


def test_present_concepts_have_a_lane_and_come_strongest_first():
    m = _manifest(3.0, 3.0)
    r = _result(30.0, 3.0, 3.0, lambda s: "jazz")
    v = build_view(r, m, str)
    assert v["concepts_present"] == ["drums", "flute", "piano"]
    assert v["colours"] == genre_colours(LABELS) and len(set(v["colours"].values())) == len(LABELS)


def test_the_png_uses_the_reports_genre_colours(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    from audioconcept.concepts.explain import plot_timeline

    m = _manifest(29.1, 22.6, used=22.64)
    r = _result(120.0, 29.1, 22.6, lambda s: "metal" if s < 50 else "jazz")
    drawn: dict[str, str] = {}
    plot = Axes.plot

    def spy(self, *args, **kw):
        if "label" in kw:
            drawn[kw["label"]] = kw.get("color")
        return plot(self, *args, **kw)

    monkeypatch.setattr(Axes, "plot", spy)
    plot_timeline(r, tmp_path / "t.png", m)
    colours = genre_colours(LABELS)
    assert drawn and drawn == {g: colours[g] for g in drawn} and {"metal", "jazz"} <= set(drawn)
    assert (tmp_path / "t.png").stat().st_size > 5000


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# run in the report's page after renderView: what a reader sees, measured by the browser
PROBE = """
<script>
const v = JSON.parse(document.getElementById('view-data').textContent);
const svg = document.querySelector('svg.timeline');
const width = svg.viewBox.baseVal.width;
const ticks = [...svg.querySelectorAll('text.tick')].map(t => { const b = t.getBBox(); return [b.x, b.x + b.width]; });
const rows = {};
for (const r of svg.querySelectorAll('rect.segment')) (rows[r.dataset.row] = rows[r.dataset.row] || []).push(r);
const genreFills = (rows['genre (per window)'] || []).map(r => [r.querySelector('title').textContent.split(' ')[0],
                                                                 r.getAttribute('fill')]);
document.body.dataset.probe = JSON.stringify({
  width, ticks, genreFills, colours: v.colours,
  lanes: Object.fromEntries(Object.entries(rows).map(([k, rs]) => [k, rs.length])),
  legend: [...document.querySelectorAll('.legend .legend-item')].map(e => e.textContent),
  present: (document.querySelector('p.present') || {}).textContent || '',
  runRows: document.querySelectorAll('table.runs tbody tr').length,
  visibleWindowRows: [...document.querySelectorAll('tr.window-row')]
    .filter(r => { const d = r.closest('details'); return !d || d.open; }).length,
  windowRows: document.querySelectorAll('tr.window-row').length,
  reasonsHead: (document.querySelector('p.reasons-head') || {}).textContent || '',
  reasonLabels: [...document.querySelectorAll('.explanation .contrib .bar-label')].map(e => e.textContent),
  confidence: Object.fromEntries([...document.querySelectorAll('#confidence tbody tr')]
    .map(r => [r.cells[0].textContent, r.cells[2].textContent])),
  confidenceCaption: (document.querySelector('#confidence caption') || {}).textContent || '',
});
</script>
"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get install chromium; .ci/run installs it)")
def test_the_report_of_a_long_song_in_chromium(tmp_path):
    """A 290 s song at musicnn's 2.992 s hop (97 windows): legend, genre colours, every tick label inside the
    figure, a lane for every present concept, the present list by strength, and a few runs instead of 97 rows."""
    m = _manifest(2.976, 2.992, used=2.976)
    sections = ["metal", "classical", "jazz", "hiphop", "disco"]
    r = _result(290.0, 2.976, 2.992, lambda s: sections[min(int(s // 60), 4)])
    for w in r.windows:  # the song ends in silence (runtime.silence): a grey "silence" run, in the legend too
        w.silent = w.start >= 284.0
    r.concept_validation = {  # piano sits within its lossy margin: "borderline" beside its confidence
        n: {"status": "validated", "precision": 0.9, "auc": 0.95, "text": "", "lossy_margin": 1.0} for n in r.concepts
    }
    r.concepts_borderline = ["piano"]
    row = {"genre_named": False, "direction": "more"}
    r.explanation = {  # genres from one head, reasons from another that would choose the same genre
        "head": "validated",
        "genres_from": "all-tags",
        "reasons_genre": "metal",
        "agrees": True,
        "reasons_accuracy": 0.78,
        "genres": [
            {
                "genre": "metal",
                "logit": 2.0,
                "intercept": 0.5,
                "contributions": [
                    {"concept": "drums", "value": 1.0, **row},
                    {"concept": "piano", "value": 0.5, **row},
                    {"concept": "cello", "value": 0.004, **row},  # prints as 0.00: no bar
                ],
            }
        ],
    }
    page = tmp_path / "r.html"
    page.write_text(render_report(build_view(r, m, str)).replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    probe = json.loads(dom.split('data-probe="', 1)[1].split('"', 1)[0].replace("&quot;", '"').replace("&amp;", "&"))
    assert len(r.windows) == 97
    assert all(a >= 0 and b <= probe["width"] for a, b in probe["ticks"]), probe["ticks"]
    assert {g: f for g, f in probe["genreFills"]} == {g: probe["colours"][g] for g in sections} | {"silence": "#d9d9d9"}
    assert all(any(g in item for item in probe["legend"]) for g in [*sections, "silence"])
    assert all(probe["lanes"].get(c, 0) > 0 for c in r.concepts_present), probe["lanes"]
    assert probe["present"].index("drums") < probe["present"].index("flute") < probe["present"].index("piano")
    assert probe["runRows"] == len(sections) + 1 and probe["windowRows"] == 97 and probe["visibleWindowRows"] == 0
    np.testing.assert_equal(probe["lanes"]["genre (per window)"], 97)
    assert 'Genres from head "all-tags"; reasons from head "validated"' in probe["reasonsHead"]
    assert "0.78 cross-validated" in probe["reasonsHead"] and "chooses the same genre" in probe["reasonsHead"]
    assert probe["reasonLabels"] == ["drums", "piano"]  # not cello, whose +0.004 would read "0.00"
    assert probe["confidence"]["piano"] == "precision 0.90, AUC 0.95 · borderline"
    assert probe["confidence"]["drums"] == "precision 0.90, AUC 0.95"
    assert probe["confidenceCaption"] == f"· borderline: {BORDERLINE_NOTE}"
