"""A real uvicorn server on a free loopback port, for the tests that talk HTTP to the app."""

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def live_server(make_app: Callable[[int], object]) -> Iterator[tuple[int, object]]:
    """`make_app(port)` -> the ASGI app; yields (port, app) once the server accepts connections."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(port)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.1)
    try:
        yield port, app
    finally:
        srv.should_exit = True
        th.join(10)
