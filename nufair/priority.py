"""Bulk work at a lower CPU priority than the event loop (issue 12: ``/healthz`` under floods).

``/healthz`` is answered on the event loop from flags (:mod:`nufair.health`); under floods its
latency was the time the loop thread waited for a CPU (the lag probe of
:mod:`nufair.health_loop`: 20 of 25 s of lag in a minute were run-queue waits). What took
the CPUs is the bulk work of the requests: handler threads writing answers, and PostgreSQL
backends running queries. With ``NUFAIR_BULK_NICENESS`` (default 19: a scheduling weight
of 15 against the loop's 1024; 10 weighs 110 and left the loop a longer run-queue wait in
the A/B of the sixth session, bench/RESULTS.md) the server gives the database's share a
lower priority than its loop, so that the kernel runs the loop first:

* the PostgreSQL backends of the VO engine (TAP, cone search, DataLink: the queries any
  anonymous client can make heavy) are lowered as they connect (:func:`lower_backends`),
  when the database runs on this machine;
* with ``NUFAIR_BULK_THREAD_NICENESS`` (default 0: off), the threads that run request
  handlers and TAP jobs (AnyIO's worker threads, the UWS runners: names in
  :data:`BULK_THREADS`) lower their own priority as they start (:class:`LowerNewThreads`).
  Off by default: measured, it made the loop wait longer for the GIL (a lowered thread
  holding it is preempted more often, and the loop waits until it runs again).

Niceness alone is not enough for a backend: PostgreSQL starts each backend in a session of
its own (``setsid``), and where the kernel groups processes by session for scheduling
(``/proc/sys/kernel/sched_autogroup_enabled``), a process's nice value only orders it
within its session's group, while each group competes with the others as one nice-0
process. A backend's group is lowered too (``/proc/<pid>/autogroup``).

Lowering a priority is always permitted for one's own threads and, for another process,
to its owner (the embedded server's backends) or to root; where it is refused the work
runs at its usual priority and one warning is logged. Nothing here raises a priority.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

#: Name prefixes of the threads that lower their priority as they start: AnyIO's worker
#: threads (every blocking handler, TAP answers written, DCAT pages built) and the UWS
#: runners (TAP async jobs). The database health probe, the supervisor of the embedded
#: server and the realtime pipeline's threads keep theirs.
BULK_THREADS = ("AnyIO worker thread", "uws-run-")

#: Hosts of a database URL that mean "this machine" (a Unix socket directory also does).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(what: str, exc: OSError) -> None:
    """Log, once per kind of failure, that a priority could not be lowered."""
    with _warned_lock:
        if what in _warned:
            return
        _warned.add(what)
    logger.warning(
        "bulk work keeps its CPU priority: cannot lower %s (%s); "
        "NUFAIR_BULK_NICENESS=0 silences this",
        what,
        exc,
    )


def _lower_task(tid: int, niceness: int, what: str) -> bool:
    """Lower task (process or thread) ``tid`` to ``niceness``, never raising it; on a
    refusal warn once about ``what``. Whether it now runs at ``niceness`` or lower."""
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError as exc:
        _warn_once(what, exc)
        return False
    return True


def lower_thread(niceness: int) -> bool:
    """Lower the calling thread's priority to ``niceness`` (never raise it). Whether it
    now runs at ``niceness`` or lower."""
    return _lower_task(threading.get_native_id(), niceness, "a worker thread")


def lower_process(pid: int, niceness: int) -> bool:
    """Lower process ``pid`` to ``niceness``, and its scheduling group (autogroup) with it
    where the kernel has one (see the module's notes). Whether the process was lowered."""
    if not _lower_task(pid, niceness, "a PostgreSQL backend"):
        return False
    try:
        _lower_group(Path(f"/proc/{pid}/autogroup"), niceness)
    except FileNotFoundError:  # a kernel without autogroup
        pass
    except (OSError, ValueError, IndexError) as exc:
        _warn_once(
            "a PostgreSQL backend's scheduling group",
            exc if isinstance(exc, OSError) else OSError(str(exc)),
        )
    return True


#: Tries of an autogroup change the kernel refused as too soon after another: without
#: CAP_SYS_ADMIN it allows one a tenth of a second, machine-wide (EAGAIN otherwise).
GROUP_TRIES = 5


def _lower_group(group: Path, niceness: int) -> None:
    """Lower the autogroup whose ``/proc/<pid>/autogroup`` file is ``group``."""
    fields = group.read_text().split()  # "/autogroup-123 nice 0"
    if not fields:  # scheduled in a cgroup's group, not an autogroup: nothing to lower
        return
    if int(fields[-1]) >= niceness:
        return
    for attempt in range(GROUP_TRIES):
        fd = os.open(group, os.O_WRONLY)
        try:
            os.write(fd, str(niceness).encode())
            return
        except BlockingIOError:  # EAGAIN: another change less than 0.1 s ago
            if attempt == GROUP_TRIES - 1:
                raise
            time.sleep(0.11)
        finally:
            os.close(fd)


class LowerNewThreads:
    """While entered, threads started by :mod:`threading` whose name starts with one of
    ``prefixes`` lower their own priority to ``niceness`` before they run.

    The hook is :func:`threading.setprofile`: each new thread calls it once, and it puts
    back the profile function that was set before (none, usually) for the rest of the
    thread's life. Threads started before entering, or after leaving, are left alone.
    """

    def __init__(self, niceness: int, prefixes: tuple[str, ...] = BULK_THREADS) -> None:
        self.niceness = niceness
        self.prefixes = prefixes
        self._previous: Any = None

    def _hook(self, frame: FrameType, event_name: str, arg: Any) -> None:
        previous = self._previous
        sys.setprofile(previous)
        if threading.current_thread().name.startswith(self.prefixes):
            lower_thread(self.niceness)
        if previous is not None:
            previous(frame, event_name, arg)

    def __enter__(self) -> LowerNewThreads:
        self._previous = threading.getprofile()
        threading.setprofile(self._hook)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        threading.setprofile(self._previous)


def is_local(engine: Engine) -> bool:
    """Whether ``engine``'s database runs on this machine (loopback or a Unix socket), so
    that its backends' process ids are this machine's."""
    host = engine.url.host or engine.url.query.get("host")
    if isinstance(host, tuple):
        host = host[0] if host else None
    return host is None or host.startswith("/") or host in LOCAL_HOSTS


def backend_pid(dbapi_conn: Any) -> int | None:
    """The process id of the PostgreSQL backend of a DBAPI connection (psycopg)."""
    pid = getattr(getattr(dbapi_conn, "info", None), "backend_pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


def _is_postgres(pid: int) -> bool:
    """Whether process ``pid`` of this machine is a PostgreSQL backend."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return False


def backend_lowering(engine: Engine, niceness: int) -> Callable[[Any], None] | None:
    """What lowers the backend of a new psycopg connection to ``engine``'s database to
    ``niceness`` (:func:`lower_process`); None where nothing is lowered (0, or the
    database is not on this machine)."""
    if niceness <= 0 or not is_local(engine):
        return None

    def lower(dbapi_conn: Any) -> None:
        pid = backend_pid(dbapi_conn)
        if pid is not None and _is_postgres(pid):
            lower_process(pid, niceness)

    return lower


def lower_backends(engine: Engine, niceness: int) -> Callable[[], None]:
    """Lower every backend ``engine`` connects to from now on to ``niceness``
    (:func:`lower_process`), where its database runs on this machine; the function that
    stops it (connections already made stay lowered)."""
    lower = backend_lowering(engine, niceness)
    if lower is None:
        return lambda: None

    def on_connect(dbapi_conn: Any, record: Any) -> None:
        lower(dbapi_conn)

    event.listen(engine, "connect", on_connect)
    return lambda: event.remove(engine, "connect", on_connect)


@contextmanager
def bulk_priority(
    niceness: int, engines: tuple[Engine, ...], thread_niceness: int = 0
) -> Iterator[None]:
    """While in the block, the backends of ``engines`` connect at ``niceness``
    (:func:`lower_backends`) and bulk threads start at ``thread_niceness``
    (:class:`LowerNewThreads`); 0: left alone.

    Threads are left alone by default: a lowered thread that holds the GIL is preempted
    more often, and the loop then waits for the GIL until that thread runs again (A/B of
    2026-12-03: GIL waits of the loop 2-3 times as long, bench/RESULTS.md).
    """
    stops = [lower_backends(e, niceness) for e in engines] if niceness > 0 else []
    try:
        if thread_niceness > 0:
            with LowerNewThreads(thread_niceness):
                yield
        else:
            yield
    finally:
        for stop in stops:
            stop()
