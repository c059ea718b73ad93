"""Supervise the embedded PostgreSQL: notice when it is down and start it again.

The embedded server (``pgserver``) is a plain postmaster started with ``pg_ctl``; nothing
restarts it when it dies (OOM killer, ``kill -9``, a crash). ``PgSupervisor`` checks it
about once a second from a background thread: the postmaster named in ``postmaster.pid``
must be a live ``postgres`` process, and a fresh connection must answer ``SELECT 1``. When
the postmaster is gone it is started again on the same data folder, with exponential
backoff between failed attempts, and the ``on_restart`` callbacks run (the app disposes of
its SQLAlchemy pools there: their connections died with the old server).

Before a restart, backends orphaned by the dead postmaster are killed (they keep the old
shared memory attached, and PostgreSQL refuses to start while they do), and a
``postmaster.pid`` or socket lock whose pid is a zombie (the killed postmaster, where
nothing reaps it) or now belongs to another program is removed (PostgreSQL and pgserver
would take it for a running server). A stale lock whose pid is free is left to PostgreSQL,
which uses it to find the old shared memory segment.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg

_log = logging.getLogger("nufair.pgsupervisor")

#: Connection errors that prove the server is running (it answered, it is only full).
_BUSY_MARKERS = ("too many clients", "remaining connection slots are reserved")

_active: PgSupervisor | None = None
_active_lock = threading.Lock()


def read_pid(lock_file: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file, or None (no file, no number)."""
    try:
        first = lock_file.read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def postgres_process(pid: int | None, pgdata: Path | None = None) -> psutil.Process | None:
    """The live (non-zombie) ``postgres`` process with ``pid``, or None.

    With ``pgdata``, also None when the process works in another data folder (a pid
    reused by some other PostgreSQL); a working directory that cannot be read is accepted.
    """
    if pid is None or pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or not proc.name().startswith("postgres"):
            return None
        if pgdata is not None and not _works_in(proc, pgdata):
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _works_in(proc: psutil.Process, pgdata: Path) -> bool:
    """Whether ``proc``'s working directory is ``pgdata`` (True when it cannot be read)."""
    try:
        return Path(proc.cwd()).resolve() == pgdata.resolve()
    except (psutil.AccessDenied, OSError):
        return True


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The running postmaster of ``pgdata`` (from its ``postmaster.pid``), or None."""
    return postgres_process(read_pid(pgdata / "postmaster.pid"), pgdata)


def orphans(pgdata: Path) -> list[psutil.Process]:
    """``postgres`` processes still working in ``pgdata`` (their postmaster is dead).

    A postmaster and its children run with the data folder as working directory, so the
    backends a killed postmaster leaves behind are found by their ``cwd``.
    """
    found = []
    target = pgdata.resolve()
    for proc in psutil.process_iter(["name"]):
        try:
            if (proc.info["name"] or "").startswith("postgres") and \
                    Path(proc.cwd()).resolve() == target:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def kill_orphans(pgdata: Path, wait_s: float = 5.0) -> int:
    """SIGKILL the backends a dead postmaster left in ``pgdata``; return how many there were.

    Only call this while ``pgdata`` has no live postmaster."""
    procs = orphans(pgdata)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _, alive = psutil.wait_procs(procs, timeout=wait_s)
    if alive:
        raise RuntimeError(f"{len(alive)} old postgres process(es) survived SIGKILL: "
                           f"{[p.pid for p in alive]}")
    return len(procs)


def socket_lock_files(pgdata: Path) -> list[Path]:
    """The Unix-socket lock files (``.s.PGSQL.<port>.lock``) the server keeps in ``pgdata``."""
    return sorted(pgdata.glob(".s.PGSQL.*.lock"))


def stale_lock(lock: Path, pgdata: Path) -> bool:
    """Whether ``lock`` names a pid that PostgreSQL would take for a running server
    although it is not one of ``pgdata``: a zombie (the killed postmaster, not yet reaped
    where PID 1 does not reap) or a live process of another program (the pid reused)."""
    pid = read_pid(lock)
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        return False  # a free pid: PostgreSQL sees the lock is stale by itself
    return postgres_process(pid, pgdata) is None


def drop_stale_locks(pgdata: Path) -> list[Path]:
    """Remove ``postmaster.pid`` and socket locks that ``stale_lock`` finds; return them.

    Only call this with no postgres process left in ``pgdata`` (``kill_orphans``):
    ``postmaster.pid`` also lets PostgreSQL find old backends still attached to its
    shared memory, and that check is lost with the file."""
    removed = []
    for lock in [pgdata / "postmaster.pid", *socket_lock_files(pgdata)]:
        if stale_lock(lock, pgdata):
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


def probe(conninfo: str, timeout_s: int = 2) -> str | None:
    """Connect and run ``SELECT 1``; None when that worked, else the reason it did not."""
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout_s, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        if any(marker in str(exc) for marker in _BUSY_MARKERS):
            return None  # the server runs; it has no free slot for one more connection
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__


class PgSupervisor:
    """Keep an embedded ``pgserver`` PostgreSQL running; see the module docstring.

    ``server`` is the handle ``pgserver.get_server`` returned (``nufair.database
    .start_embedded``'s second value). ``is_up()`` is False from the first failed check
    until the server answers again; ``last_error`` says why it was last found down (or
    why the last restart failed) and is None while it is up.
    """

    def __init__(self, server: Any, *, interval_s: float = 1.0, connect_timeout_s: int = 2,
                 backoff_initial_s: float = 1.0, backoff_max_s: float = 30.0,
                 on_restart: list[Callable[[], None]] | None = None) -> None:
        self.server = server
        self.pgdata = Path(server.pgdata)
        self.conninfo: str = server.get_uri()
        self.interval_s = interval_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_restart: list[Callable[[], None]] = list(on_restart or [])
        self.last_error: str | None = None
        self.restarts = 0  # new postmasters seen (started here or elsewhere)
        self.last_restart_s: float | None = None  # seconds from "found down" to "answers"
        self._postmaster: tuple[int, float] | None = None  # (pid, start time) last seen up
        self._up = False
        self._down_since: float | None = None
        self._backoff_s = backoff_initial_s
        self._next_attempt = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- public API
    def is_up(self) -> bool:
        """True while the last check found the server running and answering."""
        return self._up

    def start(self) -> PgSupervisor:
        """Check once now (so ``is_up`` is right at once), then keep checking in a thread."""
        global _active
        if self._thread is not None:
            return self
        self.check()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pg-supervisor", daemon=True)
        self._thread.start()
        with _active_lock:
            _active = self
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop checking (the server itself keeps running; pgserver stops it at exit)."""
        global _active
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        with _active_lock:
            if _active is self:
                _active = None

    def __enter__(self) -> PgSupervisor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- one check
    def check(self) -> bool:
        """One round: look at the server, restart it when its postmaster is dead.

        Returns ``is_up()`` afterwards. A live postmaster that does not answer (starting,
        recovering, hung) is reported down but left alone. A postmaster other than the one
        last seen (restarted here, by another process or by hand) runs ``on_restart``
        before the server is reported up again."""
        proc = postmaster(self.pgdata)
        if proc is None:
            if self._up or self._down_since is None:
                _log.error("embedded PostgreSQL in %s is down: its postmaster is gone",
                           self.pgdata)
            self._set_down("the PostgreSQL postmaster is not running")
            if time.monotonic() >= self._next_attempt and self._attempt_restart():
                proc = postmaster(self.pgdata)
            if proc is None:
                return False
        reason = probe(self.conninfo, self.connect_timeout_s)
        if reason is not None:
            self._set_down(reason)
            return False
        self._note_postmaster(proc)
        self._set_up()
        return True

    def _set_down(self, reason: str) -> None:
        """Record a failed check."""
        if self._up or self._down_since is None:
            self._down_since = time.monotonic()
        self._up, self.last_error = False, reason

    def _set_up(self) -> None:
        """Record a successful check."""
        if not self._up and self._down_since is not None:
            _log.warning("embedded PostgreSQL answers again after %.1f s",
                         time.monotonic() - self._down_since)
        self._up, self.last_error, self._down_since = True, None, None

    def _note_postmaster(self, proc: psutil.Process) -> None:
        """Remember the answering postmaster; when it is a new one, count a restart and run
        the callbacks (pools are disposed of before the server is reported up again)."""
        try:
            seen = (proc.pid, proc.create_time())
        except psutil.NoSuchProcess:
            return
        if self._postmaster is not None and seen != self._postmaster:
            self._adopt()
            self._run_callbacks()
            self.restarts += 1
            if self._down_since is not None:
                self.last_restart_s = time.monotonic() - self._down_since
        self._postmaster = seen

    def _attempt_restart(self) -> bool:
        """Start the server again; on failure, wait longer before the next attempt."""
        try:
            self.restart()
        except Exception as exc:  # every failure is retried; the reason is kept
            self.last_error = f"restart failed: {type(exc).__name__}: {exc}"
            _log.error("restarting embedded PostgreSQL failed (next try in %.0f s): %s",
                       self._backoff_s, self.last_error)
            self._next_attempt = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.backoff_max_s)
            return False
        self._backoff_s, self._next_attempt = self.backoff_initial_s, 0.0
        return True

    def restart(self) -> None:
        """Start the postmaster of ``pgdata`` again (no-op when one is already running).

        After a crash (``postmaster.pid`` left behind), orphaned backends are killed and
        stale locks removed first. Runs under pgserver's inter-process lock, so two
        processes sharing the data folder do not both start a server."""
        with self._server_lock():
            # A crash leaves postmaster.pid behind; a clean stop removes it, and then no
            # backend is left (and a postmaster starting by hand must not be taken for one).
            if postmaster(self.pgdata) is None and (self.pgdata / "postmaster.pid").exists():
                killed = kill_orphans(self.pgdata)
                if killed:
                    _log.warning("killed %d orphaned postgres backend(s)", killed)
                for lock in drop_stale_locks(self.pgdata):
                    _log.warning("removed stale %s (its pid is a zombie or another program)",
                                 lock)
            self.server.ensure_postgres_running()  # pgserver: pg_ctl start, wait for ready
        uri = self.server.get_uri()
        if uri != self.conninfo:  # the socket folder moved: engines built on the old URL fail
            _log.error("embedded PostgreSQL came back at %s, not %s", uri, self.conninfo)
            self.conninfo = uri

    def _adopt(self) -> None:
        """Make pgserver's handle record the postmaster now running, so that it is the one
        stopped at exit. A postmaster started by another hand, or one that came up after
        ``pg_ctl start`` timed out here (10 s, seen under load), is otherwise unknown to the
        handle, which then skips the stop and leaves it running after ``nufair run`` ends.
        pgserver's start is a no-op that records the running server when one is up."""
        try:
            with self._server_lock():
                self.server.ensure_postgres_running()
        except Exception as exc:  # the next new postmaster tries again; the reason is logged
            _log.warning("could not record the new postmaster in pgserver's handle: %s", exc)

    def _run_callbacks(self) -> None:
        """Run every ``on_restart`` callback; one that fails does not stop the others."""
        for callback in list(self.on_restart):
            try:
                callback()
            except Exception:
                _log.exception("on_restart callback %r failed", callback)

    @contextlib.contextmanager
    def _server_lock(self) -> Iterator[None]:
        """pgserver's inter-process lock on its servers (a no-op if it has none)."""
        lock = getattr(type(self.server), "_lock", None)
        if lock is None:
            yield
            return
        with lock:
            yield

    def _run(self) -> None:
        """The thread: one ``check`` every ``interval_s`` until ``stop``."""
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as exc:  # the thread must not die; the reason is kept
                self._up = False
                self.last_error = f"check failed: {type(exc).__name__}: {exc}"
                _log.exception("PostgreSQL supervisor check failed")


def active() -> PgSupervisor | None:
    """The supervisor started in this process (by ``nufair run``/``serve``), or None."""
    return _active


def database_is_up() -> bool:
    """For /healthz: False while the supervised embedded server is down; True without one."""
    supervisor = _active
    return True if supervisor is None else supervisor.is_up()
