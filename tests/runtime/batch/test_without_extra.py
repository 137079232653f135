"""A base install (no pyarrow, no Ray) never imports them: `audioconcept batch` says which extra it needs;
and batch analysis is runtime code: it runs with torch blocked."""

import subprocess
import sys

from tests.runtime.test_torch_free import BLOCK_TORCH


def _run(tmp_path, *args: str, blocked=("pyarrow", "ray", "pandas", "torch")) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH.format(blocked=tuple(blocked)))
    code = (
        "import sys; from audioconcept.cli import main\n"
        "try:\n    main(sys.argv[1:])\nfinally:\n"
        "    print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'ray', 'torch'}))"
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_batch_without_the_ray_extra_is_a_one_line_error(tmp_path, wav_file):
    song = wav_file(2.0)
    r = _run(tmp_path, "batch", str(song), "--model", "cnn-synth", "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert "pip install 'audioconcept[ray]'" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout.strip().endswith("[]")  # nothing of pyarrow, ray or torch was imported
    r = _run(tmp_path, "--help")
    assert r.returncode == 0 and "batch" in r.stdout


def test_local_batch_runs_with_torch_blocked(tmp_path, wav_file):
    import pytest

    pytest.importorskip("pyarrow")
    song = wav_file(8.0)
    out = tmp_path / "out"
    r = _run(tmp_path, "batch", str(song), "--model", "cnn-synth", "--out", str(out), "--workers", "1",
             "--no-progress", blocked=("torch", "librosa", "sklearn", "ray"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("['pyarrow']")  # pyarrow for the tables; no torch, no Ray
    assert list((out / "songs").glob("part-*.parquet")) and list((out / "windows").glob("part-*.parquet"))
