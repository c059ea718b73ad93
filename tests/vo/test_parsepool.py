"""Long ADQL texts parsed in worker processes (issue 12): the same trees, errors and limits
as a parse in the server, and a worker that takes too long is replaced."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.floods import long_sum, many_ands, nested_subqueries
from vo.adql import parsepool, parser
from vo.adql.parser import parse
from vo.errors import AdqlError, LimitExceeded

LONG = ("SELECT TOP 5 name FROM nufair.alerts WHERE "
        + " OR ".join(f"ra BETWEEN {i} AND {i + 0.5}" for i in range(60)))


@pytest.fixture(scope="module")
def pool() -> Iterator[parsepool.ParsePool]:
    """A pool of one parser process, installed for long texts."""
    with parsepool.parsing_in_processes(1) as running:
        assert running is not None
        yield running


def test_long_text_is_parsed_in_a_worker_to_the_same_tree(pool: parsepool.ParsePool) -> None:
    """A valid text over OFFLOAD_CHARS comes back as the tree the server would build."""
    assert len(LONG) > parsepool.OFFLOAD_CHARS and parser.OFFLOAD is not None
    parser.CACHE.clear()
    tree, size = pool.parse(LONG)
    local, local_size = parser._parse(LONG)
    assert tree == local and size == local_size
    assert parse(LONG) == local


@pytest.mark.parametrize("make", [many_ands, long_sum, nested_subqueries])
def test_pathological_texts_hit_the_same_limits(pool: parsepool.ParsePool, make: object) -> None:
    """1000 ANDs, 1+1+... and 500 nested subqueries: refused as too deep, in the worker."""
    assert callable(make)
    text = make(random.Random(3))
    assert len(text) > parsepool.OFFLOAD_CHARS
    with pytest.raises(LimitExceeded, match="nested too deeply"):
        pool.parse(text)


def test_syntax_errors_keep_their_position(pool: parsepool.ParsePool) -> None:
    """An error in a long text carries the line and column a local parse gives."""
    text = LONG + "\nAND ra >> 3"
    with pytest.raises(AdqlError) as local:
        parser._parse(text)
    with pytest.raises(AdqlError) as remote:
        pool.parse(text)
    assert (remote.value.line, remote.value.column) == (local.value.line, local.value.column)
    assert str(remote.value) == str(local.value)


def test_a_worker_over_its_time_is_replaced(pool: parsepool.ParsePool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Past WAIT_S the parse is refused as a limit, and the next one gets a new worker."""
    monkeypatch.setattr(parsepool, "WAIT_S", 0.001)
    with pytest.raises(LimitExceeded, match="to parse"):
        pool.parse(many_ands(random.Random(4)))
    monkeypatch.setattr(parsepool, "WAIT_S", 60.0)
    tree, _ = pool.parse(LONG)
    assert tree == parser._parse(LONG)[0]


def _worker_pid(pool: parsepool.ParsePool) -> int:
    pid = pool._executor.submit(os.getpid).result(timeout=60)
    assert isinstance(pid, int) and pid != os.getpid()
    return pid


def test_workers_run_below_the_server_in_a_group_of_their_own(
        pool: parsepool.ParsePool) -> None:
    """A worker leads a session of its own (so, with autogroup scheduling, a group of its
    own), and it and that group run at the pool's niceness, as the kernel reports them."""
    pid = _worker_pid(pool)
    assert os.getsid(pid) == pid != os.getsid(0)
    assert os.getpriority(os.PRIO_PROCESS, pid) >= parsepool.NICENESS
    group = Path(f"/proc/{pid}/autogroup")
    if group.exists():
        # The kernel prints nothing for a task whose scheduling group is a cgroup rather than
        # an autogroup (as CI's runner may be); each file is read once and compared whole.
        worker = group.read_text().split()
        server = Path("/proc/self/autogroup").read_text().split()
        if worker:
            assert int(worker[-1]) >= parsepool.NICENESS
            assert not server or worker[0] != server[0]
