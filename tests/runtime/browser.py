"""The page's tests: the package's Chromium helpers, the shared clips, and why a site cannot be written."""

from __future__ import annotations

from pathlib import Path

from audioconcept.benchmarks.chromium import browser_missing, chromium, page_analyse, served

__all__ = ["CLIPS", "browser_missing", "chromium", "page_analyse", "served", "site_missing"]
CLIPS = Path(__file__).resolve().parents[2].parent / "shared" / "gtzan" / "clips"


def site_missing() -> str | None:
    from audioconcept.runtime.site import SiteError, ort_dist

    try:
        ort_dist()
    except SiteError as e:
        return str(e)
    return None
