"""`audioconcept app`: a local web page to explore one song at a time (Starlette + uvicorn).

The page uploads a file (or picks one from a folder), and the server runs the analysis as a job
in a worker thread: the torch-free runtime (genres, concept timeline, clips), then, for CNN and
VGGish bundles with a .pt2 and torch + captum installed, an attribution heat map. The page polls
the job for progress and renders the same view as the HTML report. A bad upload fails its own job
with a one-line message; the server keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from audioconcept.data.tracks import AUDIO_SUFFIXES
from audioconcept.errors import AudioConceptError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    models: tuple[Path, ...] = ()  # bundle folders; empty: ./models/* and the packaged bundles
    folder: Path | None = None  # songs to pick from
    max_seconds: float = 600.0  # longest song accepted
    max_upload_mb: float = 200.0
    attribution: str = "gxi"  # ig | gxi | none
    work: Path | None = None  # job files (default: a temporary folder)
    allowed_hosts: tuple[str, ...] = ()  # Host names answered besides loopback and `host`
    max_pending: int = 4  # uploading, queued or running jobs; more get HTTP 429
    upload_timeout_s: float = 60.0  # a request whose upload takes longer gets HTTP 408 and is dropped
    max_finished: int = 16  # finished jobs kept (files and views); the oldest go first
    job_ttl_s: float = 1800.0  # finished jobs are dropped after this long
    folders: tuple[Path, ...] = ()  # more folders of songs to pick from (`--folder` repeated)
    examples: bool = True  # offer the packaged example songs


@dataclass
class Job:
    id: str
    dir: Path
    state: str = "queued"  # queued | running | done | error
    progress: float = 0.0
    stage: str = "queued"
    message: str = ""
    view: dict | None = None
    result: dict | None = None  # the runtime's JSON for the song, the same as `audioconcept-run --format json`
    lock: threading.Lock = field(default_factory=threading.Lock)
    upload_dir: Path | None = None  # the uploaded song's folder, removed when the job ends
    finished_at: float | None = None  # time.monotonic() when the job ended

    def update(self, **kw) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def public(self) -> dict:
        with self.lock:
            return {
                "id": self.id,
                "state": self.state,
                "progress": round(self.progress, 3),
                "stage": self.stage,
                "message": self.message,
                "view": self.view,
                "result": self.result,
            }


def discover_models(cfg: AppConfig) -> dict[str, Path]:
    """name -> bundle folder."""
    from audioconcept.runtime.registry import default_bundle, packaged_bundles

    found: dict[str, Path] = {}
    roots = list(cfg.models) or sorted(p for p in Path("models").glob("*") if (p / "manifest.json").exists())
    for p in roots:
        if (Path(p) / "manifest.json").exists():
            found[Path(p).name] = Path(p)
    if not cfg.models:
        for name, path in packaged_bundles().items():
            found.setdefault(name, path)
        if found:  # the default is listed first: the page preselects it
            default = default_bundle()
            found = {n: p for n, p in found.items() if Path(p) == default} | found
    return found


EXAMPLE = "example:"  # a pick that names a packaged example song


def song_roots(cfg: AppConfig) -> dict[str, Path]:
    """The folders of songs to pick from, by the prefix their songs are picked with: "" for a single folder (its
    songs by their path inside it), else the folder's name (made unique)."""
    roots = [Path(p) for p in ((cfg.folder,) if cfg.folder else ()) + tuple(cfg.folders)]
    roots = [p for i, p in enumerate(roots) if p.resolve() not in {q.resolve() for q in roots[:i]}]
    if len(roots) == 1:
        return {"": roots[0]}
    out: dict[str, Path] = {}
    for p in roots:
        name = p.resolve().name or "songs"
        label, n = name, 2
        while label in out:
            label, n = f"{name}-{n}", n + 1
        out[label] = p
    return out


def folder_songs(cfg: AppConfig, limit: int = 2000) -> list[str]:
    """The songs in the app's folders, as the page picks them (hidden files and folders left out)."""
    files: list[str] = []
    for label, root in song_roots(cfg).items():
        if not root.is_dir():
            continue
        found = sorted(
            p.relative_to(root)
            for p in root.rglob("*")
            if p.suffix.lower() in AUDIO_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
            and p.is_file()
        )
        files += [f"{label}/{rel}" if label else str(rel) for rel in found]
    return files[:limit]


def resolve_pick(cfg: AppConfig, picked: str) -> Path | None:
    """The file a pick names (a packaged example or a song inside one of the folders), or None."""
    if "\x00" in picked:
        return None
    if picked.startswith(EXAMPLE):
        if not cfg.examples:
            return None
        from audioconcept.app.examples import examples

        return examples().get(picked[len(EXAMPLE) :])
    roots = song_roots(cfg)
    label, _, rel = picked.partition("/") if "" not in roots else ("", "", picked)
    if label not in roots or not rel:
        return None
    root = roots[label].resolve()
    source = (root / rel).resolve()
    return source if root in source.parents and source.is_file() else None


def check_upload(path: Path, max_seconds: float) -> float:
    """-> duration in seconds, or an AudioConceptError with a one-line reason."""
    from audioconcept.data.audio import audio_info
    from audioconcept.errors import EmptyAudio

    info = audio_info(path)  # one-line errors for empty, undecodable and rate-0 files
    if info.frames <= 0:
        raise EmptyAudio(f"{path}: the file holds no audio")
    if info.duration > max_seconds:
        raise AudioConceptError(f"{path}: {info.duration:.0f} s is longer than this app's limit of {max_seconds:.0f} s")
    return info.duration


class Analyzer:
    """Jobs, one worker thread, and a cache of loaded models."""

    def __init__(self, cfg: AppConfig) -> None:
        self.cfg = cfg
        self.work = Path(cfg.work) if cfg.work else Path(tempfile.mkdtemp(prefix="audioconcept-app-"))
        self.jobs: dict[str, Job] = {}
        self.models = discover_models(cfg)
        self._loaded: dict[tuple[str, str], object] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyze")

    def options(self) -> dict:
        from audioconcept.runtime.backends import unavailable_reason
        from audioconcept.runtime.bundle import Bundle, read_manifest
        from audioconcept.runtime.formats import formats_for, kind_of

        models = []
        for name, path in self.models.items():
            m = read_manifest(path)
            b = Bundle(Path(path), m)
            # every row of the formats table that can run this bundle on this host's CPU
            backends = [f.backend for f in formats_for(kind_of(m)) if not unavailable_reason(f, "auto", b)]
            models.append({"name": name, "arch": m["arch"], "backends": backends, "concepts": bool(m.get("concepts"))})
        examples = []
        if self.cfg.examples:
            from audioconcept.app.examples import TITLES
            from audioconcept.app.examples import examples as packaged

            examples = [{"pick": EXAMPLE + n, "title": TITLES.get(n, n)} for n in packaged()]
        files = folder_songs(self.cfg)
        return {"models": models, "files": files, "examples": examples, "max_seconds": self.cfg.max_seconds}

    def pending(self) -> int:
        return sum(1 for j in list(self.jobs.values()) if j.finished_at is None)

    def submit(self, source: Path, model: str, backend: str, upload_dir: Path | None = None) -> Job:
        self.evict()
        jid = uuid.uuid4().hex[:12]
        job = Job(jid, self.work / jid, upload_dir=upload_dir)
        job.dir.mkdir(parents=True, exist_ok=True)
        self.jobs[jid] = job
        self._pool.submit(self._run, job, source, model, backend)
        return job

    def get(self, jid: str) -> Job | None:
        self.evict()
        return self.jobs.get(jid)

    def evict(self) -> None:
        """Drop finished jobs (their views and files) past `job_ttl_s`, and beyond `max_finished`."""
        now = time.monotonic()
        done = [j for j in list(self.jobs.values()) if j.finished_at is not None]
        finished = sorted(done, key=lambda j: j.finished_at)
        expired = [j for j in finished if now - j.finished_at > self.cfg.job_ttl_s]
        kept = [j for j in finished if j not in expired]
        for j in expired + kept[: max(0, len(kept) - self.cfg.max_finished)]:
            self.jobs.pop(j.id, None)
            shutil.rmtree(j.dir, ignore_errors=True)

    def _model(self, name: str, backend: str):
        from audioconcept.runtime.model import load

        if name not in self.models:
            raise AudioConceptError(f"unknown model {name!r}; choose from {', '.join(self.models)}")
        key = (name, backend)
        if key not in self._loaded:
            self._loaded[key] = load(self.models[name], backend=backend, device="cpu")
        return self._loaded[key]

    def _run(self, job: Job, source: Path, model_name: str, backend: str) -> None:
        from audioconcept.app.guard import public_message

        shown = source.name
        outcome: dict = {}
        try:
            outcome = self._analyze(job, source, model_name, backend)
        except AudioConceptError as e:
            outcome = dict(state="error", message=public_message(str(e), source), stage="failed")
        except Exception:  # noqa: BLE001 - a clean line for the page, details in the log; the server keeps running
            log.exception("job %s failed", job.id)
            msg = f"{shown}: analysis failed (internal error; see the server log)"
            outcome = dict(state="error", message=msg, stage="failed")
        finally:
            if job.upload_dir is not None:  # the upload is not needed once the job has its preview
                shutil.rmtree(job.upload_dir, ignore_errors=True)
            # One update: a client that sees "done" or "error" sees a job already freed of its upload and
            # already counted as finished by evict() (two updates let a poll see "done" before finished_at).
            job.update(**outcome, finished_at=time.monotonic())

    def _analyze(self, job: Job, source: Path, model_name: str, backend: str) -> dict:
        """Run the song; progress goes to the job as it happens, the final fields come back for `_run` to set."""
        from audioconcept.concepts.analyze import AnalyzeConfig, analyze
        from audioconcept.runtime.view import build_view

        job.update(state="running", stage="checking the file", progress=0.02)
        check_upload(source, self.cfg.max_seconds)
        job.update(stage="loading the model", progress=0.05)
        m = self._model(model_name, backend)
        attribution = None
        if self.cfg.attribution != "none" and m.bundle.arch != "svm" and m.bundle.has("pt2"):
            attribution = self.cfg.attribution
        cfg = AnalyzeConfig(  # hop_s None: the bundle's hop, as audioconcept-run and batch use (one song pipeline)
            job.dir,
            attribution=attribution,
            attribution_steps=16,
            preview=True,
            max_seconds=self.cfg.max_seconds,
        )
        a = analyze(m, source, cfg, on_progress=lambda f, stage: job.update(progress=f, stage=stage))
        if a.failure:  # the genres and concepts stand; say why the rest is missing
            log.warning("job %s: %s", job.id, a.failure)
        link = lambda p: f"/api/jobs/{job.id}/files/{Path(p).name}"  # noqa: E731
        view = build_view(a.result, m.bundle.manifest, link, a.audio, a.explanation, a.attribution, m.bundle.root)
        if a.failure:
            view["note"] = "The explanation could not be written for this song; its genres and concepts stand."
        return dict(state="done", stage="done", progress=1.0, view=view, result=a.result.to_dict())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if not self.cfg.work:
            shutil.rmtree(self.work, ignore_errors=True)


def _static(name: str) -> str:
    return resources.files("audioconcept.app").joinpath("static", name).read_text(encoding="utf-8")


def create_app(cfg: AppConfig):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from audioconcept.app.guard import (
        BodyLimit,
        BodyTooLarge,
        JobSlots,
        allowed_hosts,
        cross_site_reason,
        new_token,
        safe_filename,
    )
    from audioconcept.runtime.formats import BACKENDS
    from audioconcept.runtime.view import web_asset

    analyzer = Analyzer(cfg)
    slots = JobSlots(cfg.max_pending)
    token = new_token()
    upload_limit = int(cfg.max_upload_mb * 1e6)
    too_large = f"upload larger than {cfg.max_upload_mb:.0f} MB"

    def refuse(message: str, status: int = 400) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    async def index(request: Request) -> Response:
        return HTMLResponse(_static("index.html"))

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name in ("view.js", "view.css"):
            text = web_asset(name)
        elif name == "app.js":
            text = _static(name)
        else:
            return Response("not found", status_code=404)
        mime = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(text, media_type=mime)

    async def options(request: Request) -> Response:
        # the token is readable by same-origin pages only (no CORS headers are ever sent)
        return JSONResponse({**analyzer.options(), "token": token})

    async def create_job(request: Request) -> Response:
        why = cross_site_reason(request.headers, token)
        if why:
            return refuse(why, 403)
        if not slots.take(analyzer.pending()):  # counted from the start of its upload, not when it ends
            return refuse(f"the server is busy with {cfg.max_pending} songs; try again when one has finished", 429)
        try:
            return await _receive_job(request)
        finally:
            slots.release()

    async def _receive_job(request: Request) -> Response:
        import asyncio

        try:
            form = await asyncio.wait_for(
                request.form(max_files=1, max_fields=8, max_part_size=64 * 1024), cfg.upload_timeout_s
            )
        except BodyTooLarge:
            raise  # BodyLimit answers 413
        except TimeoutError:
            return JSONResponse(
                {"error": f"upload took longer than {cfg.upload_timeout_s:g} s"},
                status_code=408,
                headers={"connection": "close"},
            )
        except Exception:  # noqa: BLE001 - malformed multipart, in many forms
            return refuse("bad upload: the request is not a valid multipart form")
        try:
            return await _create_job(form)
        finally:
            await form.close()

    async def _create_job(form) -> Response:
        model = str(form.get("model") or next(iter(analyzer.models), ""))
        backend = str(form.get("backend") or "onnx")
        upload = form.get("file")
        picked = str(form.get("pick") or "")
        if model not in analyzer.models:
            return refuse(f"unknown model {model[:80]!r}")
        if backend not in BACKENDS:
            return refuse(f"unknown backend {backend[:80]!r}")
        upload_dir = None
        if upload is not None and getattr(upload, "filename", None) is not None:
            safe = safe_filename(upload.filename)
            if safe is None:
                return refuse("bad file name: give the upload a plain file name")
            upload_dir = analyzer.work / "uploads" / uuid.uuid4().hex[:12]
            upload_dir.mkdir(parents=True)
            source = upload_dir / safe
            written = 0
            with open(source, "wb") as f:
                while chunk := await upload.read(1 << 20):
                    written += len(chunk)
                    if written > upload_limit:  # BodyLimit bounds the request; this bounds the file
                        shutil.rmtree(upload_dir, ignore_errors=True)
                        return refuse(too_large, 413)
                    f.write(chunk)
        elif picked:
            source = resolve_pick(cfg, picked)
            if source is None:
                shown = picked[:200]
                return refuse(
                    f"{shown!r}: not a file in the app's folder"
                    if "\x00" in picked
                    else f"{shown}: not a file in the app's folder or an example"
                )
        else:
            return refuse("choose a file to upload, an example, or one from the folder")
        job = analyzer.submit(source, model, backend, upload_dir=upload_dir)
        return JSONResponse({"id": job.id})

    async def job_status(request: Request) -> Response:
        job = analyzer.get(request.path_params["jid"])
        if job is None:
            return refuse("no such job (finished jobs are kept for a while, then dropped)", 404)
        return JSONResponse(job.public())

    async def job_file(request: Request) -> Response:
        job = analyzer.get(request.path_params["jid"])
        name = Path(request.path_params["name"]).name
        if job is None or not (job.dir / name).is_file():
            return Response("not found", status_code=404)
        return FileResponse(job.dir / name)

    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/options", options),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{jid}", job_status),
        Route("/api/jobs/{jid}/files/{name}", job_file),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        analyzer.close()

    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(cfg.host, cfg.allowed_hosts)),
        Middleware(BodyLimit, limit=upload_limit + 1_000_000, message=too_large),  # + multipart overhead
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.analyzer = analyzer
    app.state.slots = slots  # uploads in flight (tests wait on it)
    app.state.token = token
    return app


def serve(cfg: AppConfig) -> None:
    try:
        import uvicorn
    except ImportError:
        from audioconcept.errors import MissingExtra

        raise MissingExtra("uvicorn", "app", "audioconcept app") from None
    app = create_app(cfg)
    if cfg.host in ("0.0.0.0", "::") and not cfg.allowed_hosts:
        log.warning("listening on %s, but only loopback Host names are answered: add --allow-host NAME", cfg.host)
    log.info("AudioConcept app on http://%s:%d (models: %s)", cfg.host, cfg.port, ", ".join(app.state.analyzer.models))
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")
