"""Which exceptions the request's own input caused, and how the edge answers them.

Input the database or XML cannot hold (NUL, numbers out of range, broken encodings, nesting
too deep) is a 4xx wherever it is found, and a lost database a 503; anything else unexpected
is a bug, answered 500 by the last handler.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DataError, StatementError

from catalog.storage.dberrors import outage

_INVALID = "invalid_input"


def _data_error(exc: psycopg.DataError) -> tuple[int, str, str]:
    if isinstance(exc, psycopg.errors.NumericValueOutOfRange):
        return 422, _INVALID, "a number in the request is out of range"
    if isinstance(exc, psycopg.errors.CharacterNotInRepertoire):
        return 422, _INVALID, "the input holds an invalid byte sequence"
    if "NUL" in str(exc):
        return 422, _INVALID, "text must not contain NUL characters"
    return 422, _INVALID, "a value in the request is not valid for its type"


def classify(exc: BaseException) -> tuple[int, str, str] | None:
    """(status, code, message) of an exception caused by the request's input; None if it is
    not one (a bug or an outage, answered 500 elsewhere).

    Covered: values the database refuses (SQLAlchemy ``DataError``: numbers out of range,
    NUL in text, invalid byte sequences), text that cannot be encoded, and input nested
    too deeply to process.
    """
    if outage(exc):
        return 503, "database_unavailable", "the database is unavailable; try again shortly"
    if isinstance(exc, RecursionError):
        return 422, _INVALID, "the input is nested too deeply"
    if isinstance(exc, UnicodeError):
        return 422, _INVALID, "the input is not valid text (encoding)"
    if isinstance(exc, psycopg.DataError):
        return _data_error(exc)
    if isinstance(exc, StatementError) and exc.orig is not None:
        inner = classify(exc.orig)
        if inner is not None or not isinstance(exc, DataError):
            return inner
        return 422, _INVALID, "a value in the request is not valid for its type"
    if isinstance(exc, ValueError) and ("NUL" in str(exc) or "XML compatible" in str(exc)):
        return 422, _INVALID, "text must not contain NUL or control characters"
    return None
