"""The app against hostile pages and clients: Host and Origin checks, the request token, bodies
capped by the bytes received (chunked too), bounded jobs and uploads, clean 4xx messages."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("multipart")

from starlette.testclient import TestClient  # noqa: E402

from audioconcept.app.guard import allowed_hosts, safe_filename  # noqa: E402
from audioconcept.app.server import AppConfig, create_app  # noqa: E402
from audioconcept.runtime.registry import packaged_bundles  # noqa: E402
from tests.app.live_server import live_server  # noqa: E402
from tests.payloads import pickles  # noqa: E402

SVM = packaged_bundles()["svm-gtzan"]
BASE = "http://127.0.0.1:8765"


def _client(tmp_path, **kw) -> TestClient:
    cfg = AppConfig(models=(SVM,), max_seconds=60, work=tmp_path / "work", **kw)
    return TestClient(create_app(cfg), base_url=BASE)


def _token(c) -> str:
    return c.get("/api/options").json()["token"]


def _post(c, token=None, headers=None, **kw):
    h = {"X-AudioConcept-Token": token or _token(c), **(headers or {})}
    return c.post("/api/jobs", headers=h, **kw)


def _wait(c, jid, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        r = c.get(f"/api/jobs/{jid}")
        if r.status_code != 200 or r.json()["state"] in ("done", "error"):
            return r
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def _uploads(c) -> list[Path]:
    root = c.app.state.analyzer.work / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def song(tmp_path) -> Path:
    p = tmp_path / "song.wav"
    sf.write(p, 0.3 * np.sin(np.linspace(0, 2000, 22050 * 3)).astype(np.float32), 22050)
    return p


def test_only_loopback_hosts_are_answered(tmp_path):
    with _client(tmp_path) as c:
        for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST"):
            assert c.get("/api/options", headers={"Host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "", "[::2]:8765"):
            r = c.get("/api/options", headers={"Host": host})
            assert r.status_code == 400, host
            assert "token" not in r.text
    assert allowed_hosts("0.0.0.0") == sorted(["127.0.0.1", "localhost", "[::1]"])
    assert "192.168.1.5" in allowed_hosts("192.168.1.5") and "[fe80::1]" in allowed_hosts("fe80::1")
    assert "box.lan" in allowed_hosts("0.0.0.0", ("box.lan",))


def test_posts_need_the_token_and_this_origin(tmp_path, song):
    with _client(tmp_path) as c:
        token = _token(c)
        files = {"file": ("song.wav", song.read_bytes(), "audio/wav")}
        assert c.post("/api/jobs", files=files).status_code == 403  # no token: a cross-site form
        assert _post(c, token="x" * len(token), files=files).status_code == 403
        for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", "file://"):
            r = _post(c, token, headers={"Origin": origin}, files=files)
            assert r.status_code == 403 and r.json()["error"] == "cross-origin request refused", origin
        r = _post(c, token, headers={"Referer": "http://evil.example/page"}, files=files)
        assert r.status_code == 403
        r = _post(c, token, headers={"Origin": BASE, "Referer": f"{BASE}/"}, files=files)
        assert r.status_code == 200, r.text
        assert _wait(c, r.json()["id"]).json()["state"] == "done"
        assert not _uploads(c)  # the upload is removed once its job has ended


@pytest.fixture
def live(tmp_path):
    """A real uvicorn server on a free loopback port (1 MB upload cap)."""
    with live_server(
        lambda port: create_app(AppConfig(port=port, models=(SVM,), max_upload_mb=1, work=tmp_path / "work"))
    ) as (port, app):
        yield port, app


def test_chunked_upload_is_capped_by_the_bytes_read(live):
    """No Content-Length, chunked transfer: the server answers 413 after about the cap, long before
    the 64 MB the client means to send, and stores nothing."""
    import json
    import socket

    port, app = live
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/options") as r:
        token = json.load(r)["token"]
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-AudioConcept-Token: {token}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    chunk = b"\0" * 65536
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        s.setblocking(False)
        while sent < 64 * 2**20:
            try:
                reply += s.recv(65536)
                if reply:
                    break
            except BlockingIOError:
                pass
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
        s.setblocking(True)
        while b"\r\n\r\n" not in reply:
            reply += s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 16 * 2**20, sent  # stopped long before the end (socket buffers hold a few MB at most)
    uploads = app.state.analyzer.work / "uploads"
    assert not app.state.analyzer.jobs and not (uploads.exists() and any(uploads.rglob("*")))


def test_declared_too_large_body_is_refused_before_reading(tmp_path):
    with _client(tmp_path, max_upload_mb=1) as c:
        headers = {"X-AudioConcept-Token": _token(c), "Content-Length": str(50_000_000)}
        r = c.post("/api/jobs", content=b"x", headers=headers)
        assert r.status_code == 413 and r.json() == {"error": "upload larger than 1 MB"}


def test_upload_names_are_plain_file_names(tmp_path, song):
    assert safe_filename("..") is None and safe_filename(".") is None and safe_filename("a\0b") is None
    assert safe_filename("../../etc/passwd") == "passwd" and safe_filename("C:\\x\\y.wav") == "y.wav"
    assert safe_filename("a" * 400 + ".wav").endswith(".wav") and len(safe_filename("a" * 400 + ".wav")) <= 120
    with _client(tmp_path) as c:
        token = _token(c)
        for name in ("..", ".", "...", "/"):
            r = _post(c, token, files={"file": (name, b"RIFF", "audio/wav")})
            assert r.status_code == 400 and r.json()["error"].startswith("bad file name"), name
        r = _post(c, token, files={"file": ("../../../escape.wav", song.read_bytes(), "audio/wav")})
        assert r.status_code == 200
        assert _wait(c, r.json()["id"]).json()["state"] == "done"
        assert not (tmp_path / "escape.wav").exists() and not (tmp_path / "work" / "escape.wav").exists()


def test_error_messages_carry_no_exception_text(tmp_path, song, monkeypatch):
    from audioconcept.app import server

    def boom(self, job, source, model, backend):
        raise RuntimeError("secret detail /srv/internal/path")

    with _client(tmp_path) as c:
        token = _token(c)
        r = _post(
            c,
            token,
            content=b"--xyz\r\nnot multipart at all",
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert r.status_code == 400 and r.json() == {"error": "bad upload: the request is not a valid multipart form"}
        assert (
            _post(c, token, data={"model": "svm-gtzan", "backend": "evil"}, files={"file": ("a.wav", b"x")}).status_code
            == 400
        )
        monkeypatch.setattr(server.Analyzer, "_analyze", boom)
        r = _post(c, token, files={"file": ("song.wav", song.read_bytes(), "audio/wav")})
        job = _wait(c, r.json()["id"]).json()
        assert (
            job["state"] == "error"
            and job["message"] == "song.wav: analysis failed (internal error; see the server log)"
        )
        assert c.get("/api/jobs/nope").status_code == 404
        for name in ("%2e%2e", "..%2f..%2fsecret", "%2fetc%2fpasswd"):  # encoded, so no client normalises them
            assert c.get(f"/api/jobs/{job['id']}/files/{name}").status_code == 404, name


def test_finished_jobs_and_uploads_are_freed(tmp_path, song):
    with _client(tmp_path, max_finished=2) as c:
        token = _token(c)
        ids = []
        for i in range(5):
            r = _post(c, token, files={"file": (f"s{i}.wav", song.read_bytes(), "audio/wav")})
            ids.append(r.json()["id"])
            _wait(c, ids[-1])
        a = c.app.state.analyzer
        c.get(f"/api/jobs/{ids[-1]}")  # eviction runs on requests
        assert set(a.jobs) == set(ids[-2:])
        assert sorted(p.name for p in a.work.iterdir() if p.name != "uploads") == sorted(ids[-2:])
        assert not _uploads(c)
        assert c.get(f"/api/jobs/{ids[0]}").status_code == 404
    with _client(tmp_path / "ttl", job_ttl_s=0) as c:
        r = _post(c, files={"file": ("s.wav", song.read_bytes(), "audio/wav")})
        _wait(c, r.json()["id"])
        time.sleep(0.05)
        assert c.get(f"/api/jobs/{r.json()['id']}").status_code == 404
        assert not any(p.name == r.json()["id"] for p in c.app.state.analyzer.work.iterdir())


def test_a_job_is_seen_done_only_once_it_is_freed_and_counted_finished(tmp_path, song, monkeypatch):
    """A poll that sees "done" or "error" must find the upload gone and the job already counted by evict()."""
    from audioconcept.app import server

    seen: list[dict] = []
    real_update = server.Job.update

    def update(self, **kw):
        if kw.get("state") in ("done", "error"):
            seen.append(
                {"finished": "finished_at" in kw, "upload_left": bool(self.upload_dir and self.upload_dir.exists())}
            )
        real_update(self, **kw)

    monkeypatch.setattr(server.Job, "update", update)
    with _client(tmp_path) as c:
        token = _token(c)
        for data in (b"not audio", None):
            r = _post(c, token, files={"file": ("s.wav", data or song.read_bytes(), "audio/wav")})
            _wait(c, r.json()["id"])
    assert seen == [{"finished": True, "upload_left": False}] * 2, seen


def test_too_many_pending_jobs_get_429(tmp_path, song, monkeypatch):
    from audioconcept.app import server

    release = threading.Event()

    def slow(self, job, source, model, backend):
        release.wait(30)
        return dict(state="done", stage="done", progress=1.0)

    monkeypatch.setattr(server.Analyzer, "_analyze", slow)
    with _client(tmp_path, max_pending=2) as c:
        token = _token(c)
        codes = [_post(c, token, files={"file": ("s.wav", song.read_bytes())}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert len(_uploads(c)) == 2  # the refused one stored nothing
        release.set()


def test_a_pickle_uploaded_as_a_song_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    with _client(tmp_path) as c:
        token = _token(c)
        for kind, data in pickles(marker).items():
            r = _post(c, token, files={"file": (f"{kind}.wav", data, "audio/wav")})
            job = _wait(c, r.json()["id"]).json()
            assert job["state"] == "error" and "not decodable" in job["message"], kind
    assert not marker.exists()


def test_error_text_shows_no_server_path(tmp_path, song, monkeypatch):
    """An error from the runtime names files by their full server paths; the page sees only their last parts."""
    from audioconcept.app import server
    from audioconcept.errors import BundleError

    def fails(self, job, source, model, backend):
        raise BundleError(
            f"{SVM}/model.onnx: sha256 does not match the manifest (work folder {self.work}, song {source.resolve()})"
        )

    monkeypatch.setattr(server.Analyzer, "_analyze", fails)
    with _client(tmp_path) as c:
        r = _post(c, files={"file": ("song.wav", song.read_bytes(), "audio/wav")})
        msg = _wait(c, r.json()["id"]).json()["message"]
    assert "model.onnx: sha256 does not match" in msg and "song.wav" in msg
    assert str(tmp_path) not in msg and str(SVM.parent) not in msg and "/" not in msg, msg


def _slow_upload(port: int, token: str):
    """A raw loopback socket that sends the headers and the start of a multipart upload, then waits."""
    import socket

    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="s.wav"\r\n\r\nRIFF'
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-AudioConcept-Token: {token}\r\n"
        f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {len(part) + 50_000}\r\n\r\n"
    ).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(head + part)
    return s


def _status(s) -> int:
    """The HTTP status the server sent on `s` (bounded: the socket has a timeout)."""
    reply = b""
    while b"\r\n" not in reply:
        got = s.recv(4096)
        if not got:
            break
        reply += got
    return int(reply.split()[1]) if reply.startswith(b"HTTP/") else 0


def test_slow_uploads_count_against_the_job_limit_and_time_out(tmp_path, song):
    """20 sockets that send headers and wait used to be all accepted and queued: a job now counts from the start of
    its upload (4 at most, the rest get 429 at once), and an upload that stalls gets 408 and queues nothing."""
    import json
    import urllib.request

    cfg = lambda port: AppConfig(  # noqa: E731
        port=port, models=(SVM,), max_upload_mb=1, work=tmp_path / "work", max_pending=4, upload_timeout_s=2.0
    )
    with live_server(lambda port: create_app(cfg(port))) as (port, app):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/options") as r:
            token = json.load(r)["token"]
        socks = [_slow_upload(port, token) for _ in range(4)]
        t0 = time.monotonic()
        while app.state.slots.uploading < 4 and time.monotonic() - t0 < 20:  # the four are being read
            time.sleep(0.02)
        assert app.state.slots.uploading == 4
        extra = [_slow_upload(port, token) for _ in range(16)]
        try:
            assert [_status(s) for s in extra] == [429] * 16  # at once, while the first four still upload
            t0 = time.monotonic()
            assert [_status(s) for s in socks] == [408] * 4
            assert time.monotonic() - t0 < 10
        finally:
            for s in socks + extra:
                s.close()
        assert not app.state.analyzer.jobs  # nothing was queued
        body = (  # the slots are free again: a real upload gets in
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="song.wav"\r\n\r\n'
            + song.read_bytes()
            + b"\r\n--xyz--\r\n"
        )
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/jobs",
            data=body,
            headers={"X-AudioConcept-Token": token, "Content-Type": "multipart/form-data; boundary=xyz"},
        )
        with urllib.request.urlopen(req, timeout=15) as r:
            assert r.status == 200
