"""Which database errors mean "the database cannot be reached" rather than "this request
was refused": the REST edge answers the first with 503, the VO layer too (as a VOTable)."""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import StatementError

#: SQLSTATEs of an outage besides class 08 (connection exceptions): admin shutdown, crash
#: shutdown, cannot connect now (starting up). A query timeout (57014) is not one.
OUTAGE_STATES = ("57P01", "57P02", "57P03")


def outage(exc: BaseException) -> bool:
    """Whether ``exc`` (psycopg's, or SQLAlchemy's wrapping one) says the database is down,
    restarting or the connection was lost."""
    inner = exc.orig if isinstance(exc, StatementError) else exc
    if isinstance(inner, psycopg.InterfaceError):
        return True
    if isinstance(inner, psycopg.OperationalError):
        state = getattr(inner, "sqlstate", None)
        return state is None or state.startswith("08") or state in OUTAGE_STATES
    return False
