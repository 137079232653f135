"""The web app: API behaviour through Starlette's test client, then a real headless Chromium."""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioconcept.benchmarks.chromium import CHROMEDRIVER, CHROMIUM, browser_missing

pytest.importorskip("starlette")
pytest.importorskip("multipart")

from starlette.testclient import TestClient  # noqa: E402

from audioconcept.app.server import AppConfig, create_app  # noqa: E402
from audioconcept.runtime.registry import packaged_bundles  # noqa: E402
from tests.app.live_server import live_server  # noqa: E402

BUNDLE = packaged_bundles()["cnn-synth"]  # a trained CNN with a concept output, shipped in the package


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    from audioconcept.data.synth.demo_song import make_demo_song

    return make_demo_song(tmp_path_factory.mktemp("song") / "demo.wav", seconds_per_section=8.0)


def _wait(client, jid, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = client.get(f"/api/jobs/{jid}").json()
        if job["state"] in ("done", "error"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


@pytest.fixture(scope="module")
def client(tmp_path_factory, song):
    folder = song.parent
    cfg = AppConfig(models=(BUNDLE,), folder=folder, max_seconds=120, work=tmp_path_factory.mktemp("work"))
    # the app answers loopback Host names only, and posts that carry the page's token
    with TestClient(create_app(cfg), base_url="http://127.0.0.1:8765") as c:
        c.headers["X-AudioConcept-Token"] = c.get("/api/options").json()["token"]
        yield c


def test_options_list_models_and_folder(client):
    o = client.get("/api/options").json()
    assert o["models"][0]["name"] == "cnn-synth" and o["models"][0]["concepts"]
    assert "demo.wav" in o["files"]


def test_upload_runs_and_serves_the_view(client, song):
    with open(song, "rb") as f:
        r = client.post("/api/jobs", files={"file": ("demo.wav", f, "audio/wav")}, data={"model": "cnn-synth"})
    job = _wait(client, r.json()["id"])
    assert job["state"] == "done", job
    v = job["view"]
    assert v["title"] == "demo.wav" and v["song_top"] in v["labels"]
    assert v["windows"][0]["start"] == 0.0 and v["windows"][-1]["end"] == pytest.approx(v["duration_s"], abs=0.1)
    assert v["spans"] and v["tcav"] and v["clips"]
    for url in [v["audio"], v["images"]["timeline"], *(c["url"] for c in v["clips"])]:
        got = client.get(url)
        assert got.status_code == 200 and len(got.content) > 1000, url


def test_pick_from_folder_and_no_escape(client):
    r = client.post("/api/jobs", data={"model": "cnn-synth", "pick": "demo.wav"})
    assert _wait(client, r.json()["id"])["state"] == "done"
    r = client.post("/api/jobs", data={"model": "cnn-synth", "pick": "../../etc/passwd"})
    assert r.status_code == 400 and "not a file" in r.json()["error"]


def _wav(x: np.ndarray, sr: int = 22050) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV")
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.wav", b"", "empty"),
        ("notes.wav", b"this is not audio at all" * 50, "not decodable"),
        ("hush.wav", _wav(np.zeros(22050 * 5, np.float32)), "silence: every window is under -60 dBFS"),
    ],
)
def test_bad_uploads_fail_their_job_with_a_message(client, name, content, message):
    r = client.post("/api/jobs", files={"file": (name, content, "audio/wav")}, data={"model": "cnn-synth"})
    job = _wait(client, r.json()["id"])
    assert job["state"] == "error" and message in job["message"] and name in job["message"]
    assert "/" not in job["message"].split(":")[0]  # the server's temp path is not shown
    assert client.get("/api/options").status_code == 200  # still serving


def test_too_long_upload_is_refused(client, tmp_path):
    p = tmp_path / "long.flac"
    sf.write(p, np.zeros(22050 * 121, np.float32), 22050)
    with open(p, "rb") as f:
        r = client.post("/api/jobs", files={"file": ("long.flac", f, "audio/flac")}, data={"model": "cnn-synth"})
    job = _wait(client, r.json()["id"])
    assert job["state"] == "error" and "longer than" in job["message"] and "120 s" in job["message"]


def test_missing_file_and_unknown_model(client):
    assert client.post("/api/jobs", data={"model": "cnn-synth"}).status_code == 400
    r = client.post("/api/jobs", files={"file": ("a.wav", b"x", "audio/wav")}, data={"model": "nope"})
    assert r.status_code == 400 and "unknown model" in r.json()["error"]


# ---------------------------------------------------------------- real browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("srv")

    def make(port: int):
        return create_app(AppConfig(port=port, models=(BUNDLE,), max_seconds=120, work=work))

    with live_server(make) as (port, _):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_browser_upload_timeline_click_plays_segment(server, song, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1100,2200",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        # the idle page: a drop zone, and the packaged example one click away
        assert driver.find_element(By.ID, "drop").is_displayed()
        assert driver.find_elements(By.CSS_SELECTOR, "#examples button.example")[0].is_displayed()
        driver.find_element(By.ID, "file").send_keys(str(song))
        driver.find_element(By.ID, "analyze").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#view[data-ready='1']")))
        genre = driver.find_element(By.ID, "song-genre").text
        assert genre.split()[0] in (
            "blues",
            "classical",
            "country",
            "disco",
            "hiphop",
            "jazz",
            "metal",
            "pop",
            "reggae",
            "rock",
        )
        segments = driver.find_elements(By.CSS_SELECTOR, "svg.timeline rect.segment")
        concept_segs = [s for s in segments if s.get_attribute("data-row") != "genre (per window)"]
        assert concept_segs, "the timeline shows no concept segment"
        # a segment that does not start at 0, so a correct seek is visible
        seg = max(concept_segs, key=lambda s: float(s.get_attribute("data-start")))
        start = float(seg.get_attribute("data-start"))
        wait.until(lambda d: d.execute_script("return document.getElementById('player').readyState") >= 1)
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", seg)
        t = driver.execute_script("return document.getElementById('player').currentTime")
        assert start > 0 and abs(t - start) < 0.5, (t, start)
        shot = Path(os.environ.get("AUDIOCONCEPT_SCREENSHOT", tmp_path / "app.png"))
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_the_app_preselects_the_real_music_default(tmp_path, monkeypatch):
    """Without --models, the packaged real-music default is listed first (the page preselects it)."""
    from audioconcept.app.server import discover_models
    from audioconcept.runtime.registry import DEFAULT_PACKAGED

    monkeypatch.chdir(tmp_path)  # no ./models here
    found = discover_models(AppConfig())
    assert next(iter(found)) == DEFAULT_PACKAGED and "cnn-synth" in found


@pytest.mark.parametrize("model", ["cnn-synth", "musicnn-gtzan"])
def test_the_app_gives_the_runtimes_json_for_the_same_song(tmp_path, song, model, capsys):
    """One song pipeline: the app's result is `audioconcept-run --format json` of the same file, number for number
    (the app used to cut windows at min(window, 5 s) instead of the bundle's hop)."""
    import json

    from audioconcept.cli_run import RunOptions, run

    path = packaged_bundles()[model]
    cfg = AppConfig(models=(path,), folder=song.parent, max_seconds=120, work=tmp_path / "work")
    with TestClient(create_app(cfg), base_url="http://127.0.0.1:8765") as c:
        c.headers["X-AudioConcept-Token"] = c.get("/api/options").json()["token"]
        r = c.post("/api/jobs", data={"model": path.name, "pick": song.name})
        job = _wait(c, r.json()["id"])
    assert job["state"] == "done", job
    capsys.readouterr()
    assert run(RunOptions(songs=(str(song),), model=str(path), fmt="json", device="cpu")) == 0
    cli = json.loads(capsys.readouterr().out)
    app = job["result"]
    for d in (app, cli):
        d.pop("timing_ms")
    assert app == cli


def test_examples_are_offered_without_any_folder_and_analysed(tmp_path):
    """The idle page's one-click songs: the packaged example needs no --folder (a wheel install has no data/)."""
    cfg = AppConfig(models=(BUNDLE,), max_seconds=120, work=tmp_path / "work")
    with TestClient(create_app(cfg), base_url="http://127.0.0.1:8765") as c:
        o = c.get("/api/options").json()
        c.headers["X-AudioConcept-Token"] = o["token"]
        assert o["files"] == [] and o["examples"], o
        r = c.post("/api/jobs", data={"model": "cnn-synth", "pick": o["examples"][0]["pick"]})
        job = _wait(c, r.json()["id"])
        assert job["state"] == "done" and job["view"]["spans"], job.get("message")
        r = c.post("/api/jobs", data={"model": "cnn-synth", "pick": "example:../server.py"})
        assert r.status_code == 400


def test_several_folders_are_listed_by_name_and_stay_closed(tmp_path, song):
    a, b = tmp_path / "clips", tmp_path / "more"
    (a / "jazz").mkdir(parents=True)
    b.mkdir()
    shutil.copy(song, a / "jazz" / "j.wav")
    shutil.copy(song, b / "m.wav")
    (b / ".cache").mkdir()
    shutil.copy(song, b / ".cache" / "hidden.wav")
    cfg = AppConfig(models=(BUNDLE,), folders=(a, b), max_seconds=120, work=tmp_path / "work")
    with TestClient(create_app(cfg), base_url="http://127.0.0.1:8765") as c:
        o = c.get("/api/options").json()
        c.headers["X-AudioConcept-Token"] = o["token"]
        assert o["files"] == ["clips/jazz/j.wav", "more/m.wav"]
        assert (
            _wait(c, c.post("/api/jobs", data={"model": "cnn-synth", "pick": "more/m.wav"}).json()["id"])["state"]
            == "done"
        )
        for bad in ("more/../clips/jazz/j.wav/..", "clips/../../etc/passwd", "nope/m.wav", "m.wav"):
            assert c.post("/api/jobs", data={"model": "cnn-synth", "pick": bad}).status_code == 400, bad


def test_make_app_names_only_folders_that_exist():
    """`make app` right after `make demo` (no data/synth): every --folder it passes exists, so the app starts."""
    import re
    import subprocess

    root = Path(__file__).resolve().parents[2]
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make")
    r = subprocess.run([make, "-n", "-C", str(root), "app", "DATA=data/no-such-set"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if " app --port" in x)
    folders = re.findall(r"--folder (\S+)", line)
    assert "data/no-such-set/genres" not in folders
    assert all((root / f).is_dir() for f in folders), folders
