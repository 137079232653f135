"""`export --out DIR` never deletes what is not a bundle, cleans up after killed exports, and
refuses to race another export into the same folder."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from audioconcept.errors import OutputDirError
from audioconcept.utils import atomic_dir, check_replaceable, clean_stale_temps, dir_lock
from tests.payloads import assert_one_line_error, run_cli

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def svm_ck(tmp_path_factory, svm_features_csv):
    from audioconcept.train.svm_train import train_svm

    ck, _ = train_svm(f"features-csv:{svm_features_csv}", tmp_path_factory.mktemp("svmck") / "ck", grid=False)
    return ck


def _export(ck, out, *extra):
    """The CLI in a fresh process (refusals come before any heavy import, so these are quick)."""
    return run_cli("export", str(ck), "--out", str(out), "--formats", "onnx", *extra)


def _export_ok(ck, out, force=False):
    """A successful export, in-process (the quick way)."""
    from audioconcept.export.exporter import ExportConfig, export_checkpoint

    return export_checkpoint(ExportConfig(ck, out, ("onnx",), force=force))


def _user_folder(path):
    path.mkdir()
    (path / "precious.txt").write_text("years of work")
    (path / "sub").mkdir()
    (path / "sub" / "notes.md").write_text("more")
    return path


def test_export_refuses_a_user_folder_and_keeps_it(tmp_path, svm_ck):
    out = _user_folder(tmp_path / "mine")
    p = _export(svm_ck, out)
    assert_one_line_error(p, contains="not empty and not a bundle")
    assert (out / "precious.txt").read_text() == "years of work" and (out / "sub" / "notes.md").exists()
    assert not (out / "manifest.json").exists()


def test_force_replaces_and_a_bundle_is_replaced_without_it(tmp_path, svm_ck):
    out = _user_folder(tmp_path / "mine")
    _export_ok(svm_ck, out, force=True)
    assert (out / "manifest.json").exists() and not (out / "precious.txt").exists()
    first = (out / "manifest.json").stat().st_mtime_ns
    _export_ok(svm_ck, out)  # now a bundle: replaced without --force
    assert (out / "manifest.json").stat().st_mtime_ns != first


def test_empty_or_missing_folder_is_fine_a_file_is_not(tmp_path, svm_ck):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        _export_ok(svm_ck, out)
        assert (out / "manifest.json").exists()
    f = tmp_path / "file"
    f.write_text("keep me")
    assert_one_line_error(_export(svm_ck, f), contains="is a file")
    assert_one_line_error(_export(svm_ck, f, "--force"), contains="is a file")
    assert f.read_text() == "keep me"


def test_a_symlink_target_is_never_followed_into(tmp_path, svm_ck):
    real = _user_folder(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert_one_line_error(_export(svm_ck, link), contains="symbolic link")
    _export_ok(svm_ck, link, force=True)  # replaces the link itself, not what it points to
    assert not link.is_symlink() and (link / "manifest.json").exists()
    assert (real / "precious.txt").read_text() == "years of work"


def test_stale_temporaries_of_a_killed_export_are_removed_next_time(tmp_path, svm_ck):
    out = tmp_path / "bundle"
    stale = [tmp_path / ".bundle.ab12cd_9.tmp", tmp_path / f".bundle.old-{os.getpid() + 1}"]
    for s in stale:
        s.mkdir()
        (s / "model.onnx").write_bytes(b"half written")
    # look-alikes that are not ours stay
    keep = [tmp_path / ".bundle.notes.tmp", tmp_path / ".bundlex.ab12cd_9.tmp", tmp_path / "bundle.ab12cd_9.tmp"]
    for k in keep:
        k.mkdir()
    _export_ok(svm_ck, out)
    assert not any(s.exists() for s in stale)
    assert all(k.exists() for k in keep)


def test_a_killed_export_leaves_no_bundle_and_the_next_one_cleans_up(tmp_path, svm_ck):
    """Kill an export in the middle of writing (SIGKILL, no cleanup runs), then export again."""
    out = tmp_path / "bundle"
    code = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from audioconcept.utils import atomic_dir
        with atomic_dir(Path({str(out)!r}), marker="manifest.json") as tmp:
            (tmp / "model.onnx").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert p.returncode == -9
    leftovers = [q for q in tmp_path.iterdir() if q.name.startswith(".bundle.") and q.name.endswith(".tmp")]
    assert len(leftovers) == 1 and not out.exists()
    _export_ok(svm_ck, out)
    assert not leftovers[0].exists() and (out / "manifest.json").exists()


def test_concurrent_export_into_one_folder_refuses(tmp_path, svm_ck):
    """While another process holds the folder, a second export refuses at once with one line."""
    out = tmp_path / "bundle"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time; from audioconcept.utils import dir_lock\n"
            f"with dir_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(60)",
        ],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        assert_one_line_error(_export(svm_ck, out), contains="another process is writing")
        assert time.monotonic() - t0 < 55  # refused, not queued behind the holder
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    _export_ok(svm_ck, out)  # the lock dies with its holder
    assert not list(tmp_path.glob(".bundle*"))  # and no lock file or temporary folder is left behind


@pytest.mark.slow
def test_two_exports_started_together_never_both_win_silently(tmp_path, svm_ck):
    out = tmp_path / "bundle"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    args = ["-c", "from audioconcept.cli import main; main()", "export", str(svm_ck), "--out", str(out)]
    procs = [
        subprocess.Popen(
            [sys.executable, *args, "--formats", "onnx", "--name", f"n{i}"], env=env, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    for rc, err in results:
        assert "Traceback" not in err
        assert rc == 0 or (rc == 2 and "another process is writing" in err), err
    assert any(rc == 0 for rc, _ in results) and (out / "manifest.json").exists()


def test_atomic_dir_guard_and_lock_in_process(tmp_path):
    user = _user_folder(tmp_path / "concepts")
    with pytest.raises(OutputDirError, match="not empty"), atomic_dir(user, marker="concepts.json"):
        pass
    assert (user / "precious.txt").exists()
    ours = tmp_path / "ours"
    with atomic_dir(ours, marker="concepts.json") as tmp:
        (tmp / "concepts.json").write_text("{}")
    with dir_lock(ours), dir_lock(ours):  # re-entrant in one process
        check_replaceable(ours, "concepts.json")
    assert clean_stale_temps(tmp_path / "absent" / "x") == []


# ---------------------------------------------------------------- issue 27: only our own bundles are replaced


def _web_project(path):
    """A folder with a manifest.json that is not ours: a PWA or a browser extension."""
    (path / "src").mkdir(parents=True)
    (path / "manifest.json").write_text('{"name": "My PWA"}')
    (path / "src" / "app.js").write_text("x")
    return path


@pytest.mark.parametrize(
    "manifest",
    [
        "{}",
        '{"name": "My PWA"}',
        '{"schema_version": 1, "name": "x"}',  # no artifacts
        '{"schema_version": 1, "name": "x", "artifacts": {"onnx": {"file": "model.onnx"}}}',  # listed, missing
        '{"schema_version": 1, "name": "x", "artifacts": {"onnx": {"file": "../../etc/passwd"}}}',
        "[1, 2]",
        "not json",
    ],
)
def test_a_folder_with_a_manifest_that_is_not_ours_is_refused(tmp_path, manifest):
    from audioconcept.runtime.bundle import is_our_bundle

    out = _web_project(tmp_path / "w")
    (out / "manifest.json").write_text(manifest)
    assert not is_our_bundle(out)
    with pytest.raises(OutputDirError, match="not empty and not a bundle"):
        check_replaceable(out, "manifest.json", ours=is_our_bundle)
    assert (out / "src" / "app.js").exists()


def test_export_over_a_web_project_needs_force(tmp_path, svm_ck):
    out = _web_project(tmp_path / "w")
    assert_one_line_error(_export(svm_ck, out), contains="not empty and not a bundle")
    assert (out / "src" / "app.js").read_text() == "x"
    bundle = _export_ok(svm_ck, tmp_path / "b")
    from audioconcept.runtime.bundle import is_our_bundle

    assert is_our_bundle(bundle)  # what we write is ours, and is replaced without --force
    _export_ok(svm_ck, bundle)


@pytest.mark.parametrize("out", [".", "..", "./", "sub/.."])
def test_export_out_dot_is_one_line(tmp_path, svm_ck, out):
    (tmp_path / "sub").mkdir()
    (tmp_path / "keep.txt").write_text("x")
    p = run_cli("export", str(svm_ck), "--out", out, "--formats", "onnx", cwd=tmp_path)
    assert_one_line_error(p, contains="current folder")
    assert (tmp_path / "keep.txt").exists() and not list(tmp_path.glob(".*lock"))
