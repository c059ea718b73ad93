"""Serving the real app with uvicorn on a loopback socket, in a thread of the test process,
for clients that speak HTTP themselves (pyvo, httpx, sickle, the datacite client,
Chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_socket() -> socket.socket:
    """A TCP socket bound to a free port of 127.0.0.1 (bound now, so no other process can
    take the port before the server listens on it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now, for a server in another
    process (which cannot be handed a socket); in-process servers take :func:`free_socket`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_url(sock: socket.socket) -> str:
    """The URL a server on ``sock`` answers at."""
    host, port = sock.getsockname()
    return f"http://{host}:{port}"


@contextmanager
def serving(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve ``app`` (its lifespan run; uvicorn's default 40-thread pool, as in production)
    on ``sock`` (a new free one by default) until the block ends; yields the base URL."""
    sock = sock or free_socket()
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
