"""What keeps the local app to its user: Host and Origin checks, a per-server token, a body cap
counted on the bytes actually received, and safe upload names.

- Host: only loopback names (and the host the server was told to listen on, or --allow-host
  names) are answered, so a web page cannot reach the app through DNS rebinding.
- POST: the Origin (or, without one, the Referer) must be this server, and the request must carry
  the token that /api/options hands to same-origin pages in a custom header, which a cross-site
  page can neither read nor send without a CORS preflight this server never grants.
- Body: counted as it arrives, chunked uploads included; past the cap the request ends in 413 and
  nothing more is read or stored.
"""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
TOKEN_HEADER = "x-audioconcept-token"
_UNSAFE_NAME = re.compile(r"[^\w. ()+-]")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(bind_host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Host header values (without port) the app answers."""
    hosts = list(LOOPBACK_HOSTS)
    if bind_host not in WILDCARD_BINDS:
        hosts.append(f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[") else bind_host)
    hosts += list(extra)
    return sorted({h.lower() for h in hosts})


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body may hold at most `limit` bytes, counted as received."""

    def __init__(self, app, limit: int, message: str) -> None:
        self.app = app
        self.limit = limit
        self.message = message

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return msg

        async def tracked_send(msg) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": self.message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def cross_site_reason(headers, token: str) -> str | None:
    """None when a state-changing request comes from this server's own page, else why not."""
    host = (headers.get("host") or "").lower()
    origin = headers.get("origin")
    if origin is not None:
        o = urlsplit(origin)
        if o.scheme not in ("http", "https") or o.netloc.lower() != host:
            return "cross-origin request refused"
    else:
        referer = headers.get("referer")
        if referer and urlsplit(referer).netloc.lower() != host:
            return "cross-origin request refused"
    if not secrets.compare_digest(headers.get(TOKEN_HEADER, ""), token):
        return "missing or wrong request token; reload the page"
    return None


def safe_filename(name: str | None) -> str | None:
    """A plain file name for an upload (no folders, no '..'), or None when nothing usable is left."""
    if not name or "\x00" in name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE_NAME.sub("_", base)[-120:]
    if not base.strip("."):  # "", ".", "..", "..."
        return None
    return base


# an absolute POSIX path (or a Windows drive path) up to a quote, a colon, a comma or whitespace
_ABS_PATH = re.compile(r"(?<![\w.])(?:/|[A-Za-z]:\\)[^\s'\",:;()]*")


def public_message(message: str, source) -> str:
    """An error for the page: the song's path becomes its file name, any other server path (a bundle, the work
    folder, a temporary file) its last part, and control characters go."""
    from pathlib import Path

    from audioconcept.utils import printable

    src = Path(source)
    text = message.replace(str(src), src.name)

    def last_part(m: re.Match) -> str:
        tail = m.group(0).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        return tail or "(path)"

    return printable(_ABS_PATH.sub(last_part, text))


class JobSlots:
    """At most `limit` jobs, counted from the moment a request's upload starts (a slow upload holds its slot, so
    20 sockets that send their headers and wait cannot all get in): `take()` before reading the body, `release()`
    when that request has handed its job over (or failed). Used from the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.uploading = 0

    def take(self, running: int) -> bool:
        if running + self.uploading >= self.limit:
            return False
        self.uploading += 1
        return True

    def release(self) -> None:
        self.uploading = max(0, self.uploading - 1)
