"""A base install (no pyarrow, no Ray) never imports them: `audioconcept batch` says which extra it needs."""

import subprocess
import sys
import textwrap

BLOCK = textwrap.dedent("""
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("pyarrow", "ray", "pandas", "torch"):
                raise ImportError(f"{name} is blocked in this test")
            return None
    sys.meta_path.insert(0, _Block())
""")


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(BLOCK)
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
