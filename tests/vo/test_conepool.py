"""The cone search answered on the event loop (issue 15, ``vo.conepool``): the same
documents as the threaded path, larger answers left to it, and no error of its own when
its database cannot be reached."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from catalog.notices.parsed import NoticeRecord
from tests.vo.checks import read_votable
from vo import scs
from vo.conepool import APPLICATION_NAME, LOOP_ROWS, WRITE_ON_LOOP_ROWS, ConePool


def _cones(recs: list[NoticeRecord]) -> list[dict[str, str]]:
    first = recs[0]
    return [
        {"RA": str(first.ra), "DEC": str(first.dec), "SR": "0"},  # exactly on an alert
        {"RA": "77.4", "DEC": "5.7", "SR": "3"},
        {"RA": "359.5", "DEC": "0", "SR": "25"},  # across RA 0
        {"RA": "10", "DEC": "89.9", "SR": "30", "VERB": "3"},  # the pole
        {"RA": "200", "DEC": "-30", "SR": "15", "VERB": "1"},
        {"RA": "120", "DEC": "20", "SR": "60"},  # read on the loop, written in a thread
        {"RA": "0", "DEC": "0", "SR": "180"},  # every alert: more than the loop writes
        {"RA": "400", "DEC": "0", "SR": "1"},  # refused
        {"RA": "12", "DEC": "3"},  # SR missing
    ]


def test_loop_answers_are_the_threaded_ones(app_with: Any,
                                            spread: list[NoticeRecord]) -> None:
    """Every cone gets, over HTTP, the document the threaded path writes for it. The loop's
    connections were asked for each but VERB=3 and the refusals; the whole sky was then
    answered in a thread, as a cone of 50–200 rows was written in one."""
    url, app = app_with()
    vo = app.vo_context
    assert vo.cones is not None
    with httpx.Client(timeout=60) as client:
        for params in _cones(spread):
            before = vo.cones.served
            got = client.get(f"{url}/scs", params=params)
            threaded = scs.search(vo.storage, vo.config, params) if "SR" in params and \
                params["RA"] != "400" else None
            assert got.status_code == 200
            if threaded is not None:
                assert got.content == threaded, params
            else:
                assert b'name="Error"' in got.content
            rows = len(read_votable(got.content).get_first_table().array) \
                if threaded is not None else 0
            if params.get("SR") == "180":
                assert rows == len(spread) > LOOP_ROWS
            if params.get("SR") == "60":
                assert WRITE_ON_LOOP_ROWS < rows <= LOOP_ROWS
            asked = vo.cones.served - before
            # Not asked: a refusal, or VERB=3 (rows too wide to write on the loop).
            assert asked == (0 if threaded is None or params.get("VERB") == "3" else 1), \
                params


def test_maxrec_cut_on_the_loop_is_the_threaded_one(app_with: Any,
                                                    spread: list[NoticeRecord]) -> None:
    """With the service's row limit under the loop's, the cut answer (overflow flagged)
    is written on the loop, as the threaded path writes it."""
    url, app = app_with(max_rows=3)
    vo = app.vo_context
    params = {"RA": "0", "DEC": "0", "SR": "180"}
    with httpx.Client(timeout=60) as client:
        got = client.get(f"{url}/scs", params=params)
    assert got.content == scs.search(vo.storage, vo.config, params)
    table = read_votable(got.content)
    assert len(table.get_first_table().array) == 3
    assert any(i.name == "QUERY_STATUS" and i.value == "OVERFLOW"
               for i in table.resources[0].infos)


def test_unreachable_database_is_left_to_the_threaded_path() -> None:
    """Connections that cannot be made: the pool answers None within its wait, no error."""
    pool = ConePool(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"), 1000,
                    wait_s=0.3)

    async def ask() -> tuple[Any, float]:
        await pool.open()
        try:
            t0 = time.monotonic()
            got = await pool.rows(10.0, 10.0, 1.0, ["name"], 100)
            return got, time.monotonic() - t0
        finally:
            await pool.close()

    got, took = asyncio.run(ask())
    assert got is None and took < 5


def test_its_backends_are_lowered_as_the_vo_engines(app_with: Any,
                                                    alerts: list[NoticeRecord]) -> None:
    """The loop's connections run at the bulk niceness (19 by default), as the VO engine's
    backends do: a cone search does not outrank the server's own loop."""
    url, app = app_with()
    with httpx.Client(timeout=60) as client:
        assert client.get(f"{url}/scs", params={"RA": "77.4", "DEC": "5.7",
                                                  "SR": "3"}).status_code == 200
    with app.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name "
                                 "= :n AND datname = current_database()"),
                            {"n": APPLICATION_NAME}).scalars().all()
    assert pids and all(os.getpriority(os.PRIO_PROCESS, p) == 19 for p in pids)
