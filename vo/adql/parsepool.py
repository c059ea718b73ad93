"""Long ADQL texts parsed in worker processes, so that the parser never holds the server's
GIL for long (issue 12).

The LALR parser (lark) is pure Python: a pathological query (1000 ``AND`` terms, 500
nested subqueries) held the GIL 0.1-0.4 s before its limit refused it, and the event loop
(``/healthz``) waited behind it. Texts longer than :data:`OFFLOAD_CHARS` go to a small
pool of processes (spawned: the server has threads); the tree comes back pickled
(unpickling a 34 kB tree took 3 ms where parsing it took ~100 ms), an ADQL error as its
kind, message and position. The limits (:mod:`vo.adql.parser`: length, parse time,
depth) are those of a parse in the server, checked in the worker; a worker that does not
answer within :data:`WAIT_S` is killed and the pool started again.

The workers run below the server: each starts a session of its own (``setsid``) and lowers
both itself and that session's scheduling group (``/proc/self/autogroup``) to
:data:`NICENESS`. Where the kernel groups processes by session for scheduling, a worker left
in the server's session shared its group's CPU share with the event loop, whatever its own
niceness; in a group of its own at niceness 19 it weighs 15 against the server's 1024.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from multiprocessing import get_context
from typing import Any

from lark import Token, Tree

from vo.adql import parser
from vo.errors import AdqlError, LimitExceeded, ServiceBusy

#: Texts longer than this (characters) are parsed in a worker; real queries are a few
#: hundred characters and cost a few ms to parse in the server.
OFFLOAD_CHARS = 1024

#: Seconds a parse may take in a worker, queue included, before it is abandoned.
WAIT_S = 10.0

#: Parses queued or running per worker process; more wait for a place up to ``WAIT_S``.
QUEUE_PER_PROCESS = 4

#: Niceness of the workers and of their scheduling group: they give the CPU to the server
#: and PostgreSQL first (their parse-time limit counts CPU time, so a busy machine does not
#: make a query fail). The server's ``NUFAIR_BULK_NICENESS`` default.
NICENESS = 19

Outcome = tuple[str, Any, int | None, int | None]


def leave_server_group(niceness: int) -> bool:
    """Put the calling process in a session (so a scheduling group) of its own and lower the
    process and the group to ``niceness``, never raising either. Whether the group was
    lowered (False: no autogroup on this kernel, or the change was refused)."""
    with suppress(OSError):  # already a session leader
        os.setsid()
    if niceness > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    try:
        fd = os.open("/proc/self/autogroup", os.O_RDWR)
    except OSError:  # a kernel without autogroup
        return False
    try:
        current = int(os.pread(fd, 64, 0).split()[-1])  # "/autogroup-123 nice 0"
        if current < niceness:
            os.write(fd, str(niceness).encode())
    except (OSError, ValueError, IndexError):  # refused (EAGAIN: rate-limited), odd file
        return False
    finally:
        os.close(fd)
    return True


def _start_worker(niceness: int) -> None:
    leave_server_group(niceness)
    parser._parser()  # build the grammar now, not at the first query


def _work(text: str) -> Outcome:
    """Parse ``text`` in a worker: ("tree", (tree, size), None, None), or the error's kind,
    message, line and column."""
    try:
        return "tree", parser._parse(text), None, None
    except LimitExceeded as exc:
        return "limit", str(exc), None, None
    except AdqlError as exc:
        return "adql", exc.reason, exc.line, exc.column


class ParsePool:
    """Worker processes that parse long ADQL texts (see the module's notes)."""

    def __init__(self, processes: int, niceness: int = NICENESS) -> None:
        self.processes = processes
        self.niceness = niceness
        self._places = threading.BoundedSemaphore(processes * QUEUE_PER_PROCESS)
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.processes, mp_context=get_context("spawn"),
                                   initializer=_start_worker, initargs=(self.niceness,))

    def warm(self) -> None:
        """Start the workers now (spawning and building the grammar take ~2 s)."""
        self._executor.submit(parser.syntax_check, "SELECT x FROM t").result(timeout=120)

    def parse(self, text: str) -> tuple[Tree[Token], int]:
        """(tree, size) of ``text`` parsed in a worker; raises as :func:`parser._parse`
        would, :class:`LimitExceeded` past ``WAIT_S`` and :class:`ServiceBusy` when every
        place in the queue stays taken that long."""
        if not self._places.acquire(timeout=WAIT_S):
            raise ServiceBusy("the ADQL parser is busy with long queries; retry later")
        try:
            executor = self._executor
            future = executor.submit(_work, text)
            try:
                kind, value, line, column = future.result(timeout=WAIT_S)
            except FutureTimeout:
                self._restart(executor)
                raise LimitExceeded(f"the query took more than {WAIT_S:g} s to parse"
                                    ) from None
            except BrokenProcessPool:
                self._restart(executor)
                return parser._parse(text)
        finally:
            self._places.release()
        if kind == "limit":
            raise LimitExceeded(value)
        if kind == "adql":
            raise AdqlError(value, line, column)
        tree, size = value
        return tree, size

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Replace ``broken`` (once, whoever sees it first), killing its workers."""
        with self._lock:
            if self._executor is not broken:
                return
            self._executor = self._new_executor()
        # The executor offers no way to stop a running task; its processes are killed.
        for proc in list(getattr(broken, "_processes", {}).values()):
            proc.kill()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@contextmanager
def parsing_in_processes(processes: int, niceness: int = NICENESS
                         ) -> Iterator[ParsePool | None]:
    """Long texts parsed by a pool of ``processes`` workers at ``niceness`` (see the
    module's notes) while in the block (none when 0: every text is parsed in the calling
    thread)."""
    if processes <= 0:
        yield None
        return
    pool = ParsePool(processes, niceness)
    try:
        pool.warm()
        parser.OFFLOAD = (OFFLOAD_CHARS, pool.parse)
        yield pool
    finally:
        parser.OFFLOAD = None
        pool.close()
