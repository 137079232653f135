"""Hostile files for the adversarial tests: pickles that create a marker file if anything runs them.

Every builder takes the marker path; a test passes when the loader refuses the file with a
one-line error and the marker does not exist afterwards.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from pathlib import Path


class SystemPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ExecPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


class PopenPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


def pickles(marker: Path) -> dict[str, bytes]:
    """Several ways to run code from a pickle, including one hidden inside an allowlisted Pipeline."""
    from sklearn.pipeline import Pipeline

    out = {
        "os.system": pickle.dumps(SystemPayload(marker), protocol=2),
        "exec": pickle.dumps(ExecPayload(marker), protocol=4),
        "subprocess.Popen": pickle.dumps(PopenPayload(marker), protocol=5),
        "inside a Pipeline": pickle.dumps(Pipeline([("svc", SystemPayload(marker))]), protocol=5),
        "in a dict": pickle.dumps({"model": SystemPayload(marker), "scaler": None}, protocol=5),
    }
    # hand-written protocol-0 opcodes: GLOBAL builtins.eval, MARK, UNICODE source, TUPLE, REDUCE, STOP
    src = f"__import__('os').system('touch {marker}')"
    out["raw GLOBAL eval"] = b"cbuiltins\neval\n(V" + src.encode("raw_unicode_escape") + b"\ntR."
    return out


def joblib_payload(marker: Path) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(SystemPayload(marker), buf)
    return buf.getvalue()


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None):
    """`audioconcept ARGS` in a fresh interpreter -> CompletedProcess (text)."""
    e = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from audioconcept.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=e,
    )


def assert_one_line_error(proc, rc: int = 2, contains: str | None = None) -> str:
    """The CLI failed with exit code `rc` and one 'error: ...' line, no traceback."""
    err = proc.stderr
    assert proc.returncode == rc, (proc.returncode, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    if contains:
        assert contains in lines[0], lines[0]
    return lines[0]
