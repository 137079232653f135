"""`audioconcept web`: a static site that analyses songs in the browser (onnxruntime-web), and a server for it.

The site holds, per bundle, its manifest, its mel body graph (`model.body.onnx`) and the mel filterbank the
numpy front end uses (computed here by the same function, so the page never re-derives it); our page and
scripts (`runtime/web/site/`, plus the shared renderer `runtime/web/view.js`); and onnxruntime-web's WASM
build from the pinned npm package in `web/` (`make web-deps` runs `npm ci` there). Nothing is fetched at run
time: the folder works from any static file server, and offline. Torch-free.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from audioconcept.data.audio import MIN_SECONDS
from audioconcept.errors import AudioConceptError
from audioconcept.models.melscale import mel_filterbank
from audioconcept.runtime.aggregate import SongSettings
from audioconcept.runtime.bundle import open_bundle, read_manifest
from audioconcept.runtime.opposites import groups_as_names, groups_from_manifest
from audioconcept.runtime.registry import DEFAULT_PACKAGED, resolve_bundle
from audioconcept.utils import atomic_dir

log = logging.getLogger(__name__)

MARKER = "site.json"  # what makes a folder one of our sites (it may be replaced)
# onnxruntime-web's CPU build: the ES module API and its WASM runtime (threads when the page is cross-origin isolated)
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
REPO_WEB = Path(__file__).resolve().parents[2] / "web"  # package.json + package-lock.json (a source checkout)
# headers that make a page cross-origin isolated, so that onnxruntime-web may use threads (SharedArrayBuffer)
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class SiteError(AudioConceptError):
    """The site cannot be written (no onnxruntime-web files, a bundle the page cannot run)."""


@dataclass(frozen=True)
class SiteModel:
    name: str
    arch: str
    description: str
    sample_rate: int
    window_s: float


def ort_dist(explicit: Path | None = None) -> Path:
    """The folder holding onnxruntime-web's files: `explicit`, else $AUDIOCONCEPT_ORT_DIR, else web/node_modules of
    this checkout at the version web/package.json pins."""
    checkout = REPO_WEB / "node_modules" / "onnxruntime-web" / "dist"
    if explicit:
        candidates = [Path(explicit)]
    elif os.environ.get("AUDIOCONCEPT_ORT_DIR"):
        candidates = [Path(os.environ["AUDIOCONCEPT_ORT_DIR"])]
    else:
        candidates = [checkout]
    for d in candidates:
        if all((d / f).is_file() for f in ORT_FILES):
            if d == checkout and (REPO_WEB / "package.json").is_file():
                check_pinned(d.parent)
            return d
    raise SiteError(
        f"onnxruntime-web's WASM files are missing (looked in {', '.join(str(c) for c in candidates)}): "
        "run `make web-deps` (npm ci in web/) or pass --ort DIR"
    )


def check_pinned(package_dir: Path) -> None:
    want = json.loads((REPO_WEB / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    have = json.loads((package_dir / "package.json").read_text()).get("version")
    if have != want:
        raise SiteError(
            f"web/node_modules holds onnxruntime-web {have}, web/package.json pins {want}: run `make web-deps`"
        )


def ort_version(dist: Path) -> str:
    p = dist.parent / "package.json"
    return json.loads(p.read_text()).get("version", "?") if p.is_file() else "?"


def unsupported_reason(m: dict) -> str | None:
    """Why the page cannot run this bundle, or None."""
    if m.get("arch") == "svm":
        return (
            "its 57 GTZAN features (HPSS by median filtering, tempo from an onset autocorrelation, tuned chroma, "
            "20 MFCCs) are not ported to JavaScript"
        )
    if "onnx_body" not in (m.get("artifacts") or {}) or not m.get("frontend"):
        return "it ships no mel body graph (model.body.onnx) and front end; export it with the ONNX body"
    fe = m["frontend"]
    if fe.get("window", "hann") != "hann" or float(fe.get("power", 2.0)) != 2.0:
        return f"its front end (window {fe.get('window')}, power {fe.get('power')}) is not the page's"
    return None


def runtime_settings() -> dict:
    """The runtime's constants that are not in a manifest, from their one definition in Python."""
    from audioconcept.runtime.aggregate import EXPLANATION_NOTE
    from audioconcept.runtime.model import Model
    from audioconcept.runtime.silence import SILENCE_DBFS

    defaults = {f.name: f.default for f in fields(SongSettings) if isinstance(f.default, (int, float))}
    defaults.pop("multi_label", None)
    return {
        **defaults,
        "min_seconds": MIN_SECONDS,
        "top_k": inspect.signature(Model.predict).parameters["top_k"].default,
        "explanation_note": EXPLANATION_NOTE,
        "silence_dbfs": SILENCE_DBFS,
    }


def write_model(root: Path, out: Path) -> SiteModel:
    m = read_manifest(root)
    why = unsupported_reason(m)
    if why:
        raise SiteError(f"{m.get('name', root.name)}: the page cannot run this bundle: {why}")
    b = open_bundle(root, verify=("onnx_body",), manifest=m)
    out.mkdir(parents=True)
    shutil.copyfile(b.artifact("onnx_body"), out / "model.body.onnx")
    # the opposite concepts resolved from their one definition (runtime.opposites), for the page to read
    names = list((m.get("concepts") or {}).get("names") or ())
    if names:
        m["concepts"]["exclusive"] = groups_as_names(names, groups_from_manifest(m))
    (out / "manifest.json").write_text(json.dumps(m))
    fe = m["frontend"]
    fb = mel_filterbank(
        int(fe["sample_rate"]),
        int(fe["n_fft"]),
        int(fe["n_mels"]),
        float(fe["f_min"]),
        float(fe["f_max"]),
        str(fe.get("mel_scale", "htk")),
        fe.get("norm"),
    )
    # (n_mels, n_freqs) float32 little-endian, as the numpy front end multiplies it
    np.ascontiguousarray(fb.T, dtype="<f4").tofile(out / "melfb.f32")
    return SiteModel(b.name, b.arch, str(m.get("description", "")), int(m["sample_rate"]), float(m["window_s"]))


def build_site(bundles: list[str], out: Path, ort_dir: Path | None = None, force: bool = False) -> dict:
    """Write the site to `out` (replaced in one rename); -> its site.json. `bundles`: names or folders
    (default: every packaged bundle the page can run)."""
    from audioconcept.runtime.registry import packaged_bundles

    dist = ort_dist(ort_dir)
    skipped: dict[str, str] = {}
    if bundles:
        roots = [resolve_bundle(b) for b in bundles]
    else:
        roots = []
        for name, root in packaged_bundles().items():
            why = unsupported_reason(read_manifest(root))
            if why:
                skipped[name] = why
                log.warning("skipping %s: %s", name, why)
            else:
                roots.append(root)
    web = resources.files("audioconcept.runtime").joinpath("web")
    with atomic_dir(out, marker=MARKER, force=force) as tmp:
        models = []
        for root in roots:
            name = read_manifest(root).get("name") or root.name
            if any(s.name == name for s in models):
                raise SiteError(f"{name}: given twice")
            models.append(write_model(root, tmp / "models" / name))
        for f in web.joinpath("site").iterdir():
            if f.is_file():
                (tmp / f.name).write_bytes(f.read_bytes())
        for f in ("view.js", "view.css"):
            (tmp / f).write_bytes(web.joinpath(f).read_bytes())
        (tmp / "ort").mkdir()
        for f in ORT_FILES:
            shutil.copyfile(dist / f, tmp / "ort" / f)
        # static hosts that read a _headers file (Netlify, Cloudflare Pages) then isolate the page: threads
        (tmp / "_headers").write_text("/*\n" + "".join(f"  {k}: {v}\n" for k, v in ISOLATION_HEADERS.items()))
        names = [s.name for s in models]
        site = {
            "ort_version": ort_version(dist),
            "default": DEFAULT_PACKAGED if DEFAULT_PACKAGED in names else names[0],
            "runtime": runtime_settings(),
            "models": [asdict(s) for s in models],
            "skipped": skipped,
        }
        (tmp / MARKER).write_text(json.dumps(site, indent=2))
    return site


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, with COOP/COEP when `isolated` (threads in the page), never cached (a rebuilt site shows)."""

    isolated = True
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
    }

    def end_headers(self) -> None:
        if self.isolated:
            for k, v in ISOLATION_HEADERS.items():
                self.send_header(k, v)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s " + format, self.address_string(), *args)


class SiteServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A browser that drops a connection (a cancelled fetch, a closed tab) is not an error worth a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("%s closed the connection", client_address)
            return
        super().handle_error(request, client_address)


def make_server(root: Path, host: str = "127.0.0.1", port: int = 8000, isolated: bool = True):
    """A threading HTTP server for `root` (port 0: any free one)."""
    if not (Path(root) / MARKER).is_file():
        raise SiteError(f"{root}: not a site written by `audioconcept web` (no {MARKER})")
    handler = type("Handler", (SiteHandler,), {"isolated": isolated})
    return SiteServer((host, port), functools.partial(handler, directory=str(root)))
