"""What the VO limit tests share: hostile queries, an uploaded table and its cross join, and
checks of VOTable answers (the last QUERY_STATUS and the error code)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
from astropy.io.votable import parse as parse_votable
from astropy.table import Table

ALERTS = "SELECT name FROM nufair.alerts WHERE "

#: Queries that overflowed Python's stack (RecursionError, a plain-text 500) before.
DEEP = {
    "1000 AND": ALERTS + " AND ".join(f"ra > {i}" for i in range(1000)),
    "1+1 x1000": "SELECT " + "+".join(["1"] * 1000) + " AS x FROM nufair.alerts",
    "500 subqueries": ALERTS + "ra > " + "(SELECT " * 500 + "1" + " FROM nufair.alerts)" * 500,
}

#: Every row of an uploaded table ``t`` against every row: n² rows from n uploaded.
CROSS = "SELECT a.k, b.k AS k2, a.s, b.s AS s2 FROM TAP_UPLOAD.t AS a, TAP_UPLOAD.t AS b"


def upload_table(n: int) -> bytes:
    """A VOTable of ``n`` rows (``k`` an integer, ``s`` a text) to upload as ``t``."""
    buf = io.BytesIO()
    Table({"k": np.arange(n), "s": [f"name {i}" for i in range(n)]}).write(
        buf, format="votable")
    return buf.getvalue()


def read_votable(body: bytes) -> Any:
    """The VOTable document ``body``, parsed by astropy."""
    return parse_votable(io.BytesIO(body))


def status_of(body: bytes) -> tuple[str, str | None]:
    """(last QUERY_STATUS value, the code INFO's value) of a VOTable document."""
    infos = list(read_votable(body).resources[0].infos)
    status = [i.value for i in infos if i.name == "QUERY_STATUS"]
    code = next((i.value for i in infos if i.name == "code"), None)
    return status[-1], code


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    """``r`` is a VOTable error with this HTTP status and this error code."""
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/x-votable+xml")
    assert status_of(r.content) == ("ERROR", code)
