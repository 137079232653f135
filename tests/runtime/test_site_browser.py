"""The site in real headless Chromium (Debian's chromium + chromedriver): the page's JSON against
audioconcept-run's on real shared clips, a corrupt file, no COOP/COEP, a 10-minute song, and live mode
from Chromium's fake microphone fed from a real song.

The clips are written at each model's sample rate first (soxr, as the runtime resamples), so the page's
WebAudio decoder does not resample: WebAudio's resampler differs from soxr."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from audioconcept.data.audio import load_audio, window_starts, write_audio
from tests.runtime.browser import CLIPS, browser_missing, chromium, page_analyse, served, site_missing

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
    pytest.mark.skipif(site_missing() is not None, reason=str(site_missing())),
]
PARITY = [
    ("musicnn-gtzan", "jazz/jazz.00005.flac"),
    ("musicnn-gtzan", "metal/metal.00006.flac"),
    ("musicnn-gtzan", "classical/classical.00007.flac"),
    ("cnn-synth", "disco/disco.00005.flac"),
    ("cnn-synth", "rock/rock.00008.flac"),
]
RATES = {"musicnn-gtzan": 16000, "cnn-synth": 22050}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from audioconcept.runtime.site import build_site

    root = tmp_path_factory.mktemp("web") / "site"
    build_site([], root)
    (root / "songs").mkdir()
    return root


def song_at(site: Path, clip: str, sr: int) -> str:
    """The shared clip at `sr` (float WAV) inside the site; -> its path relative to the site."""
    if not (CLIPS / clip).exists():
        pytest.skip(f"{CLIPS / clip} is missing (the shared real clips)")
    rel = f"songs/{Path(clip).stem}-{sr}.wav"
    if not (site / rel).exists():
        write_audio(site / rel, load_audio(CLIPS / clip, sr=sr), sr, subtype="FLOAT")
    return rel


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("profile")) as d:
        yield d


@pytest.fixture(scope="module")
def url(site):
    with served(site) as u:
        yield u


def schema_check(res: dict) -> None:
    import jsonschema

    schema = json.loads(resources.files("audioconcept.runtime").joinpath("result.schema.json").read_text())
    jsonschema.validate(res, schema)


def assert_same_song(page: dict, py: dict) -> None:
    assert "error" not in page, page.get("error")
    assert page["genres"][0]["label"] == py["genres"][0]["label"]
    got = {g["label"]: g["probability"] for g in page["genres"]}
    want = {g["label"]: g["probability"] for g in py["genres"]}
    assert got.keys() == want.keys()
    assert max(abs(got[k] - want[k]) for k in want) < 1e-3
    assert page["concepts_present"] == py["concepts_present"]
    assert set(page["similar_to"]) == set(py["similar_to"])
    assert page["concept_validation"] == py["concept_validation"]
    assert page["concepts_borderline"] == py["concepts_borderline"]
    assert page["ood"].keys() == py["ood"].keys()
    if py["ood"]:
        assert page["ood"]["outside"] == py["ood"]["outside"]
        assert abs(page["ood"]["distance"] - py["ood"]["distance"]) < 1e-2
    assert len(page["windows"]) == len(py["windows"])


@pytest.mark.parametrize(("model", "clip"), PARITY)
def test_page_equals_audioconcept_run(site, url, browser, model, clip):
    from audioconcept.runtime.model import load

    rel = song_at(site, clip, RATES[model])
    page = page_analyse(browser, url, url + rel, model)
    assert "error" not in page, page.get("error")
    schema_check(page)
    py = load(model).predict(site / rel).to_dict()
    schema_check(py)
    assert_same_song(page, py)
    assert page["backend"] == "onnxruntime-web" and page["timing_ms"]["per_window"] > 0


def test_svm_is_refused_in_one_line(site, url, browser):
    page = page_analyse(browser, url, url + "nothing.wav", "svm-gtzan")
    assert "svm-gtzan" in page["error"] and "not ported" in page["error"] and "\n" not in page["error"]


def test_corrupt_file_one_message_then_a_song_works(site, url, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "corrupt.mp3"
    bad.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40)
    browser.get(url)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.execute_script("return document.body.dataset.state") == "idle")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    wait.until(lambda d: d.execute_script("return document.body.dataset.state") == "error")
    msg = browser.find_element(By.ID, "error").text
    assert msg.startswith("corrupt.mp3: cannot decode this file as audio") and "\n" not in msg
    assert not browser.find_elements(By.CSS_SELECTOR, "#view[data-ready='1']")
    good = site / song_at(site, "jazz/jazz.00005.flac", 16000)
    browser.find_element(By.ID, "file").send_keys(str(good))
    wait.until(lambda d: d.execute_script("return document.body.dataset.state") in ("done", "error"))
    assert browser.find_element(By.ID, "error").text == ""
    assert browser.find_element(By.ID, "song-genre").text.split()[0] == "jazz"
    # the timeline's playback cursor follows the player, and a click on a concept span plays it
    browser.execute_script("const p = document.getElementById('player'); p.muted = true; p.currentTime = 8;")
    wait.until(lambda d: float(d.find_element(By.CSS_SELECTOR, ".timeline .cursor").get_attribute("x1")) > 150)
    # a concept present (genre-named tags such as "jazz" are "similar to", not timeline rows)
    concept_rows = ".timeline .segment:not([data-row='genre (per window)'])"
    spans = browser.find_elements(By.CSS_SELECTOR, concept_rows)
    assert spans, "no concept span on the timeline"
    assert not browser.find_elements(By.CSS_SELECTOR, ".timeline .segment[data-row='jazz']")
    assert "jazz" in browser.find_element(By.ID, "similar-to").text
    # the genres come from the all-tags head, the reasons from the validated head, which reads no concept that failed
    # validation (sitar): it is never among the reasons
    head = browser.find_element(By.CSS_SELECTOR, ".explanation .reasons-head").text
    assert 'Genres from head "all-tags"; reasons from head "validated"' in head
    reasons = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".explanation .contrib")]
    assert reasons and not any("sitar" in r for r in reasons)
    span = spans[0]
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", span)
    start = float(span.get_attribute("data-start"))
    wait.until(lambda d: abs(d.execute_script("return document.getElementById('player').currentTime") - start) < 1.0)


def test_without_coop_coep_one_thread_same_result(site, browser, url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rel = song_at(site, "jazz/jazz.00005.flac", 16000)
    threaded = page_analyse(browser, url + "?threads=2", url + rel, "musicnn-gtzan")  # 2 even on one core
    with served(site, isolated=False) as plain:
        single = page_analyse(browser, plain, plain + rel, "musicnn-gtzan")
        WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "mode").text)
        mode = browser.find_element(By.ID, "mode")
        assert mode.get_attribute("data-threads") == "1" and "no COOP/COEP" in mode.text
    assert single["device"] == "wasm (1 thread)" and threaded["device"] == "wasm (2 threads)"
    a = np.array([g["probability"] for g in single["genres"]])
    b = np.array([g["probability"] for g in threaded["genres"]])
    assert np.abs(a - b).max() < 1e-5


def test_ten_minute_song_bounded_memory(site, url, browser):
    """cnn-synth (22.6 s hop) on 10 minutes of a real clip looped: every window, the heap stays bounded."""
    from audioconcept.runtime.model import load

    if not (CLIPS / "rock/rock.00008.flac").exists():
        pytest.skip("the shared real clips are missing")
    sr = 22050
    x = load_audio(CLIPS / "rock/rock.00008.flac", sr=sr)
    song = np.resize(x, 600 * sr)
    write_audio(site / "songs/ten-minutes.wav", song, sr, subtype="PCM_16")
    browser.get(url)
    res = browser.execute_async_script(
        """const [song, done] = arguments; let peak = 0;
        window.audioconcept.analyse(song, {model: 'cnn-synth', onWindow: () => {
          peak = Math.max(peak, performance.memory.usedJSHeapSize); }})
          .then(r => done({n: r.windows.length, top: r.genres[0].label, peak}), e => done({error: String(e)}));""",
        url + "songs/ten-minutes.wav",
    )
    assert "error" not in res, res
    window = int(round(29.1 * sr))
    assert res["n"] == len(window_starts(song.size, window, int(round(22.6 * sr))))
    decoded_mb = song.size * 4 / 2**20  # the decoded song (float32) is held whole, as load_audio holds it
    assert res["peak"] / 2**20 < decoded_mb + 150, (res["peak"] / 2**20, decoded_mb)
    py = load("cnn-synth").predict(site / "songs/ten-minutes.wav").to_dict()
    assert res["top"] == py["genres"][0]["label"]


def test_live_mode_from_the_fake_microphone(site, tmp_path):
    """Chromium's fake capture device plays a real song; the page shows rows with their measured latency."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not (CLIPS / "jazz/jazz.00005.flac").exists():
        pytest.skip("the shared real clips are missing")
    wav = tmp_path / "mic.wav"
    write_audio(wav, load_audio(CLIPS / "jazz/jazz.00005.flac", sr=16000), 16000, subtype="PCM_16")
    flags = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    )
    with served(site) as u, chromium(tmp_path / "profile", *flags) as d:
        d.get(u + "?model=musicnn-gtzan")
        wait = WebDriverWait(d, 120)
        wait.until(lambda x: x.execute_script("return document.body.dataset.state") == "idle")
        d.find_element(By.ID, "listen").click()
        wait.until(lambda x: len(x.find_elements(By.CSS_SELECTOR, "#live-rows td.latency[data-ms]")) >= 3)
        cells = d.find_elements(By.CSS_SELECTOR, "#live-rows td.latency[data-ms]")
        latencies = [float(c.get_attribute("data-ms")) for c in cells]
        rows = d.find_elements(By.CSS_SELECTOR, "#live-rows tr")
        genres = {r.find_elements(By.TAG_NAME, "td")[1].text for r in rows}
        assert all(0 < ms < 10_000 and math.isfinite(ms) for ms in latencies), latencies
        assert genres <= {"blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"}
        assert "latency median" in d.find_element(By.ID, "status").text
        assert d.find_elements(By.CSS_SELECTOR, "#view[data-ready='1'] .timeline")
        d.find_element(By.ID, "listen").click()
        wait.until(lambda x: "stopped" in x.find_element(By.ID, "status").text)
        assert d.find_element(By.ID, "error").text == ""


def test_api_module_imports_without_the_page(site, url, browser):
    """Another page embeds the module alone (no page.js, no view.js) and gets the same JSON."""
    (site / "embed.html").write_text(
        '<!DOCTYPE html><meta charset="utf-8"><title>embed</title><script type="module">'
        'import { analyse } from "./audioconcept.js"; window.embedded = analyse;</script>'
    )
    rel = song_at(site, "jazz/jazz.00005.flac", 16000)
    browser.get(url + "embed.html")
    res = browser.execute_async_script(
        "const [song, done] = arguments; const go = () => window.embedded ? "
        "window.embedded(song).then(done, e => done({error: String(e)})) : setTimeout(go, 50); go();",
        url + rel,
    )
    assert "error" not in res, res
    schema_check(res)
    assert res["model"] == "musicnn-gtzan" and res["genres"][0]["label"] == "jazz"
    assert browser.execute_script("return typeof renderView") == "undefined"
