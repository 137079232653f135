"""Headless Debian Chromium driving the in-browser site (`audioconcept web`): the browser bench and the tests
share it. Needs selenium (the dev extra) and Debian's chromium + chromium-driver; never a downloaded browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from audioconcept.errors import AudioConceptError, MissingExtra

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
)


def browser_missing() -> str | None:
    """Why no browser test or bench can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[dev]')"
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return "no Chromium/ChromeDriver (Debian: apt-get install chromium chromium-driver; .ci/run installs them)"
    return None


@contextlib.contextmanager
def served(root: Path, isolated: bool = True) -> Iterator[str]:
    """The site at `root` on a free loopback port (with COOP/COEP when `isolated`); yields its URL."""
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
def chromium(profile: Path, *extra: str, size: str = "1200,1600") -> Iterator[object]:
    """A headless Chromium with a fresh profile folder."""
    why = browser_missing()
    if why:
        if why.startswith("selenium"):
            raise MissingExtra("selenium", "dev", "driving Chromium")
        raise AudioConceptError(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={size}", f"--user-data-dir={profile}", *extra):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(600)
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
