"""Spectrogram attribution (Captum) and the HTML report."""

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile as sf
import torch

from audioconcept import GTZAN_GENRES, SAMPLE_RATE
from audioconcept.concepts.attribution import AttributionConfig, attribute_song, load_torch_model
from audioconcept.models.frontend import MelFrontEnd

pytest.importorskip("captum")


class BandEnergy(torch.nn.Module):
    """Toy body: logit k = mean dB in mel bands 60-80 (k = 'metal'), the rest constant."""

    def forward(self, mel):
        band = mel[:, 60:80, :].mean(dim=(1, 2))
        out = torch.zeros(mel.shape[0], len(GTZAN_GENRES))
        out = out + 0.0 * band[:, None]
        out[:, GTZAN_GENRES.index("metal")] = band
        return out


def _song(path, seconds=30.0, loud=(10.0, 20.0)):
    rng = np.random.default_rng(0)
    x = np.zeros(int(seconds * SAMPLE_RATE))  # digital silence: the mel sits at the dB floor (IG's baseline)
    a, b = (int(t * SAMPLE_RATE) for t in loud)
    x[a:b] += 0.5 * rng.standard_normal(b - a)
    sf.write(path, x.astype(np.float32), SAMPLE_RATE)
    return path


@pytest.mark.parametrize("method", ["ig", "gxi"])
def test_attribution_finds_where_the_evidence_is(tmp_path, method):
    """Ground truth by construction: the genre rests on energy that exists only in 10-20 s."""
    song = _song(tmp_path / "s.wav")
    a = attribute_song(
        song, MelFrontEnd(), BandEnergy(), list(GTZAN_GENRES), 3.96, AttributionConfig(method, 8, "metal")
    )
    frames = int(30.0 * SAMPLE_RATE / 512) + 1
    assert a.attribution.shape == a.mel.shape and a.mel.shape[0] == 128
    assert abs(a.mel.shape[1] - frames) <= 2
    assert a.mass_between(10.0, 20.0) > 0.9
    per_s = a.per_second()
    assert len(per_s) == 30 and sum(r["mass"] for r in per_s) == pytest.approx(1.0)
    bands = a.per_band(16)
    assert len(bands) == 16 and sum(b["mass"] for b in bands) == pytest.approx(1.0)
    assert max(bands, key=lambda b: b["mass"])["bands"][0] in (56, 64, 72)  # bands 60-80
    assert bands[0]["f_lo_hz"] == 0.0 and bands[-1]["f_hi_hz"] == pytest.approx(SAMPLE_RATE / 2, rel=1e-3)


def test_integrated_gradients_completeness_on_a_real_cnn(tmp_path, cnn_checkpoint):
    """IG's completeness axiom: attributions sum to f(x) - f(baseline), window by window."""
    front, body, labels, window_s = load_torch_model(cnn_checkpoint)
    song = _song(tmp_path / "s.wav", seconds=window_s)
    a = attribute_song(song, front, body, labels, window_s, AttributionConfig("ig", 128, "jazz"))
    mel = front(torch.from_numpy(sf.read(song, dtype="float32")[0][None]))
    with torch.no_grad():
        k = labels.index("jazz")
        delta = (body(mel)[0, k] - body(torch.full_like(mel, -100.0))[0, k]).item()
    assert a.attribution.sum() == pytest.approx(delta, rel=0.05, abs=1e-3)


def test_explain_cli_writes_png_and_json(tmp_path, cnn_checkpoint, capsys):
    from audioconcept.cli import main

    song = _song(tmp_path / "s.wav", seconds=40.0)
    main(["explain", str(song), "--model", str(cnn_checkpoint), "--method", "gxi", "--out", str(tmp_path / "o")])
    doc = json.loads((tmp_path / "o" / "s.gxi.json").read_text())
    assert doc["method"] == "gxi" and len(doc["per_second"]) == 40 and (tmp_path / "o" / "s.gxi.png").stat().st_size
    assert "heat map:" in capsys.readouterr().out


def test_explain_cli_refuses_bad_input(tmp_path, cnn_checkpoint, capsys):
    from audioconcept.cli import main

    song = _song(tmp_path / "s.wav", seconds=5.0, loud=(1.0, 4.0))
    with pytest.raises(SystemExit) as e:
        main(["explain", str(song), "--model", str(cnn_checkpoint), "--target", "polka"])
    assert e.value.code == 2 and "not one of the model's labels" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["explain", str(tmp_path / "missing.wav"), "--model", str(cnn_checkpoint)])
    assert e.value.code == 2


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.refs, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "link", "img", "br", "input"):
            self.stack.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_report_is_valid_and_self_contained(tmp_path, capsys):
    """`audioconcept-run --explain --html` with the packaged CNN: one file, nothing external."""
    from audioconcept.cli import main
    from audioconcept.data.synth.demo_song import make_demo_song

    song = make_demo_song(tmp_path / "demo.wav", seconds_per_section=6.0)
    out = tmp_path / "report.html"
    main(
        [
            "run",
            str(song),
            "--model",
            "cnn-synth",
            "--hop",
            "5",
            "--explain-dir",
            str(tmp_path / "x"),
            "--html",
            str(out),
        ]
    )
    text = out.read_text()
    p = _Collect()
    p.feed(text)
    assert text.startswith("<!DOCTYPE html>") and not p.errors and not p.stack
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", text) and "url(http" not in text
    assert all(r.startswith("data:") for r in p.refs)
    view = json.loads(re.search(r'<script id="view-data" type="application/json">(.*?)</script>', text, re.S)[1])
    assert view["audio"].startswith("data:audio/ogg;base64,")
    assert view["images"]["timeline"].startswith("data:image/png;base64,")
    assert view["clips"] and all(c["url"].startswith("data:audio/") for c in view["clips"])
    assert view["tcav"] and view["windows"] and view["spans"]
    assert "report:" in capsys.readouterr().err
