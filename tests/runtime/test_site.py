"""`audioconcept web`: what the static site holds, one-line errors, and the COOP/COEP server (no browser)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from audioconcept.models.melscale import mel_filterbank
from audioconcept.runtime.site import MARKER, ORT_FILES, SiteError, build_site, ort_dist, runtime_settings
from tests.runtime.browser import served, site_missing

needs_ort = pytest.mark.skipif(site_missing() is not None, reason=str(site_missing()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if site_missing():
        pytest.skip(site_missing())
    root = tmp_path_factory.mktemp("web") / "site"
    build_site([], root)
    return root


def test_site_holds_models_scripts_and_ort(site):
    meta = json.loads((site / MARKER).read_text())
    assert [m["name"] for m in meta["models"]] == ["cnn-synth", "musicnn-gtzan"]
    assert meta["default"] == "musicnn-gtzan" and "not ported" in meta["skipped"]["svm-gtzan"]
    assert meta["runtime"] == runtime_settings() and meta["runtime"]["smooth_s"] == 4.0
    for f in (
        "index.html",
        "audioconcept.js",
        "page.js",
        "frontend.js",
        "windows.js",
        "aggregate.js",
        "view.js",
        "_headers",
    ):
        assert (site / f).is_file(), f
    assert all((site / "ort" / f).stat().st_size > 0 for f in ORT_FILES)
    for name in ("cnn-synth", "musicnn-gtzan"):
        m = json.loads((site / "models" / name / "manifest.json").read_text())
        fe = m["frontend"]
        fb = np.fromfile(site / "models" / name / "melfb.f32", dtype="<f4").reshape(fe["n_mels"], -1)
        want = mel_filterbank(
            fe["sample_rate"], fe["n_fft"], fe["n_mels"], fe["f_min"], fe["f_max"], fe["mel_scale"], fe["norm"]
        )
        assert np.array_equal(fb, want.T)
        assert (site / "models" / name / "model.body.onnx").is_file()
    # the page reads no URL outside the site
    allowed = {"http://www.w3.org/2000/svg", "https://host/site/audioconcept.js"}  # a namespace; a doc example
    for f in [*site.glob("*.js"), site / "index.html"]:
        assert set(re.findall(r"https?://[^\s\"'`)]+", f.read_text())) <= allowed, f


def test_server_sends_coop_coep_and_wasm_type(site):
    with served(site) as url:
        r = urllib.request.urlopen(url + "ort/ort-wasm-simd-threaded.wasm")
        assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert r.headers["Content-Type"] == "application/wasm"
    with served(site, isolated=False) as url:
        assert "Cross-Origin-Opener-Policy" not in urllib.request.urlopen(url).headers


def test_svm_bundle_is_refused_in_one_line(tmp_path):
    if site_missing():
        pytest.skip(site_missing())
    with pytest.raises(SiteError, match=r"svm-gtzan: the page cannot run this bundle: its 57 GTZAN features"):
        build_site(["svm-gtzan"], tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_missing_ort_files_one_line(tmp_path, monkeypatch):
    import audioconcept.runtime.site as site_mod

    monkeypatch.delenv("AUDIOCONCEPT_ORT_DIR", raising=False)
    monkeypatch.setattr(site_mod, "REPO_WEB", tmp_path / "web")
    with pytest.raises(SiteError, match="onnxruntime-web's WASM files are missing .*make web-deps"):
        ort_dist()
    r = subprocess.run(
        [sys.executable, "-c", "from audioconcept.cli import main; main()", "web", "--out", str(tmp_path / "s"),
         "--ort", str(tmp_path / "nowhere")],
        capture_output=True, text=True, env={"AUDIOCONCEPT_ORT_DIR": str(tmp_path / "none"), "PATH": "/usr/bin:/bin",
                                             "PYTHONPATH": ":".join(sys.path)},
    )  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: onnxruntime-web's WASM files are missing"), r.stderr


@needs_ort
def test_cli_writes_a_site(tmp_path):
    cli = [sys.executable, "-c", "from audioconcept.cli import main; main()"]
    r = subprocess.run([*cli, "web", "cnn-synth", "--out", str(tmp_path / "s")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and (tmp_path / "s" / "models" / "cnn-synth" / "model.body.onnx").is_file()
    assert not (tmp_path / "s" / "models" / "musicnn-gtzan").exists()


@needs_ort
def test_cli_serve_sends_isolation_headers(tmp_path):
    cli = [sys.executable, "-c", "from audioconcept.cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "web", "cnn-synth", "--out", str(tmp_path / "s"), "--serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        for _ in range(3):
            line = proc.stdout.readline()
            if line.startswith("serving"):
                break
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        r = urllib.request.urlopen(url)
        assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp" and b"AudioConcept" in r.read()
    finally:
        proc.terminate()
        proc.wait(10)
