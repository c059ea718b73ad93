"""Run the real app under uvicorn in a child process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import NamedTuple

import httpx
import psutil

#: Seconds the server may take to answer ``/readyz`` (import, migrations checked, Dask
#: started): ~15 s on a quiet 2-core machine, over 60 s when other work shares it.
STARTUP_S = 240.0


def free_port() -> int:
    """A TCP port on the loopback interface that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served(NamedTuple):
    """A running server: its base URL and the process id of uvicorn (the parent of its
    workers when ``workers`` > 1)."""

    base: str
    pid: int


@contextmanager
def serve(
    database_url: str,
    *,
    load_sample: bool = True,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Migrate and (optionally) load the sample into ``database_url``, serve it, yield the
    base URL; the server is stopped on exit."""
    with serving(database_url, load_sample=load_sample, workers=workers,
                 extra_env=extra_env) as served:
        yield served.base


@contextmanager
def serving(
    database_url: str,
    *,
    load_sample: bool = True,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Served]:
    """As :func:`serve`, but yield the server's base URL and process id."""
    port = free_port()
    env = {
        **os.environ,
        "NUFAIR_DATABASE_URL": database_url,
        "NUFAIR_PORT": str(port),
        "NUFAIR_HOST": "127.0.0.1",
        "NUFAIR_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    }
    if load_sample:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nufair.cli",
                "import",
                "--no-progress",
                *[str(p) for p in _sample()],
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "nufair.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        # A session of its own, as a deployed service has (a systemd unit, a terminal):
        # where the kernel schedules sessions as groups (autogroup), the server then
        # competes with the load generator as another program, not inside its group.
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with status {proc.returncode}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"server did not become ready within {STARTUP_S:g} s")
        yield Served(base, proc.pid)
    finally:
        # Its children (the ADQL parse workers) outlive a uvicorn killed after the grace
        # period, holding the bench's pipes open: they are killed with it.
        children: list[psutil.Process] = []
        with suppress(psutil.Error):
            children = psutil.Process(proc.pid).children(recursive=True)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for child in children:
            with suppress(psutil.Error):
                child.kill()


def _sample() -> list[object]:
    from catalog.importers import sample_paths

    return list(sample_paths())
