"""Headless Debian Chromium for the page's tests: a served site and a driver (skip reasons when either is missing)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIPS = SHARED / "gtzan" / "clips"


def browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[dev]')"
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return "no Chromium/ChromeDriver (Debian: apt-get install chromium chromium-driver; .ci/run installs them)"
    return None


def site_missing() -> str | None:
    from audioconcept.runtime.site import SiteError, ort_dist

    try:
        ort_dist()
    except SiteError as e:
        return str(e)
    return None


@contextlib.contextmanager
def served(root: Path, isolated: bool = True) -> Iterator[str]:
    """The site at `root` on a free loopback port; yields its URL."""
    from audioconcept.runtime.site import make_server

    srv = make_server(root, "127.0.0.1", 0, isolated)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(10)


@contextlib.contextmanager
def chromium(profile: Path, *extra: str) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-quic",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1200,1600",
        f"--user-data-dir={profile}",
        *extra,
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(300)
    try:
        yield driver
    finally:
        driver.quit()


def page_analyse(driver, url: str, song_url: str, model: str, **opts) -> dict:
    """`window.audioconcept.analyse(song_url, {model})` in the page at `url`; -> the result or {"error": ...}."""
    from selenium.webdriver.support.ui import WebDriverWait

    if driver.current_url != url:
        driver.get(url)
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return !!(window.audioconcept && window.audioconcept.analyse)")
        )
    return driver.execute_async_script(
        "const [song, opts, done] = arguments;"
        "window.audioconcept.analyse(song, opts).then(done, e => done({error: String(e && e.message || e)}));",
        song_url,
        {"model": model, **opts},
    )
