"""The runtime never imports torch, not even indirectly."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCK_TORCH = textwrap.dedent("""
    import sys
    BLOCKED = {blocked!r}
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked in this test")
            return None
    sys.meta_path.insert(0, _Block())
""")


def _run(
    tmp_path, code: str, *args: str, blocked: tuple[str, ...] = ("torch", "librosa", "sklearn")
) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH.format(blocked=blocked))
    # this checkout's package, not whichever one the environment has installed (an editable install elsewhere)
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).resolve().parents[2]}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_runtime_modules_import_without_torch(tmp_path):
    r = _run(
        tmp_path,
        "import audioconcept.runtime, audioconcept.data.audio, audioconcept.runtime.backends, "
        "audioconcept.runtime.model, audioconcept.runtime.view, audioconcept.cli, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch','librosa','sklearn')))",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _run_cli(tmp_path, *args: str, **kw) -> subprocess.CompletedProcess:
    """`run` goes through the `audioconcept-run` entry point (argparse), the rest through `audioconcept`."""
    if args and args[0] == "run":
        return _run(tmp_path, "import sys; from audioconcept.cli_run import main; main(sys.argv[1:])", *args[1:], **kw)
    return _run(tmp_path, "import sys; from audioconcept.cli import main; main(sys.argv[1:])", *args, **kw)


def test_packaged_svm_on_a_real_song_without_torch_librosa_or_scipy(tmp_path, real_excerpt):
    """svm-gtzan from a base install: numpy features, the ONNX model, exact Shapley groups."""
    out = tmp_path / "explain"
    r = _run_cli(
        tmp_path,
        "run",
        str(real_excerpt),
        "--model",
        "svm-gtzan",
        "--format",
        "json",
        "--explain",
        "--explain-dir",
        str(out),
        blocked=("torch", "librosa", "sklearn", "numba", "scipy", "joblib"),
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["model"] == "svm-gtzan" and doc["arch"] == "svm" and len(doc["genres"]) == 3
    (shap_json,) = out.glob("*.shapley.json")
    shap = json.loads(shap_json.read_text())
    assert set(shap["phi"]) == {"timbre", "harmony", "rhythm", "loudness", "brightness", "noisiness"}
    assert sum(shap["phi"].values()) == pytest.approx(shap["prediction"] - shap["baseline"], abs=1e-9)
    assert shap["label"] == doc["genres"][0]["label"]
    assert shap["prediction"] == pytest.approx(doc["genres"][0]["probability"], abs=1e-6)
    assert "shapley:" in r.stderr and list(out.glob("*.shapley.png"))


def test_cli_classifies_with_torch_blocked(tmp_path, cnn_bundle, wav_file):
    song = wav_file(12.0, sr=44100, channels=2, name="song.wav")
    r = _run_cli(tmp_path, "run", str(song), "--model", str(cnn_bundle), "--backend", "onnx", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["backend"] == "onnx" and len(doc["genres"]) == 3


def test_torch_backend_reports_missing_torch(tmp_path, cnn_bundle, wav_file):
    song = wav_file(2.0, name="s.wav")
    r = _run_cli(tmp_path, "run", str(song), "--model", str(cnn_bundle), "--backend", "torchscript")
    assert r.returncode == 2
    assert "torch" in r.stderr and "Traceback" not in r.stderr and "pip install" in r.stderr


def test_executorch_backend_reports_its_missing_extra(tmp_path, cnn_bundle, wav_file):
    """executorch's Python runtime needs torch: with torch blocked, one line naming the extra."""
    song = wav_file(2.0, name="s.wav")
    r = _run_cli(tmp_path, "run", str(song), "--model", str(cnn_bundle), "--backend", "executorch")
    assert r.returncode == 2
    assert "pip install 'audioconcept[executorch]'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_html_report_with_torch_blocked(tmp_path, cnn_bundle, wav_file):
    # a full-length song: one long Vorbis write of its preview used to kill the process (exit 139)
    song = wav_file(200.0, sr=44100, channels=2, name="song.wav")
    out = tmp_path / "r.html"
    r = _run_cli(
        tmp_path, "run", str(song), "--model", str(cnn_bundle), "--explain-dir", str(tmp_path / "x"), "--html", str(out)
    )
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "renderView" in text and "data:audio/ogg;base64," in text
    import base64
    import io

    import soundfile as sf

    b64 = text.split("data:audio/ogg;base64,", 1)[1].split('"', 1)[0]
    assert abs(sf.info(io.BytesIO(base64.b64decode(b64))).duration - 200.0) < 0.1


def test_explain_and_html_without_matplotlib(tmp_path, real_excerpt):
    """A base install (no matplotlib): `--explain` still writes the values and clips, `--html` the report (SVG,
    drawn by view.js); the missing PNGs are one note each that names the light `plots` extra, never `train`."""
    blocked = ("torch", "librosa", "sklearn", "scipy", "matplotlib")
    svm_out = tmp_path / "svm"
    r = _run_cli(
        tmp_path,
        "run",
        str(real_excerpt),
        "--model",
        "svm-gtzan",
        "--explain",
        "--explain-dir",
        str(svm_out),
        blocked=blocked,
    )
    assert r.returncode == 0, r.stderr
    assert list(svm_out.glob("*.shapley.json")) and not list(svm_out.glob("*.png"))
    assert "audioconcept[plots]" in r.stderr and "[train]" not in r.stderr
    report, out = tmp_path / "r.html", tmp_path / "explain"
    r = _run_cli(tmp_path, "run", str(real_excerpt), "--html", str(report), "--explain-dir", str(out), blocked=blocked)
    assert r.returncode == 0, r.stderr
    assert "audioconcept[plots]" in r.stderr and "[train]" not in r.stderr
    html = report.read_text()
    assert "renderView(" in html and '"spans"' in html and "image/png" not in html
    assert list(out.glob("*.wav")) and not list(out.glob("*.png"))
