"""Database errors of a translated query in ADQL words.

The translator refuses what it can see (unknown names, type mismatches of comparisons,
arithmetic and ``||``, with line and column); what only the data reveal (a division by
zero, a text that is no number, a subquery of several rows) is reported by PostgreSQL at
run time, in SQL words and with SQL types the user never wrote. :func:`adql_message` says
the same in ADQL's words: its types (``VARCHAR``, ``DOUBLE``, ...) and its constructs.
"""

from __future__ import annotations

import re

#: PostgreSQL type names → ADQL type names, longest first.
_TYPES = [("double precision", "DOUBLE"), ("character varying", "VARCHAR"),
          ("timestamp without time zone", "TIMESTAMP"), ("timestamp with time zone",
                                                         "TIMESTAMP"),
          ("bigint[]", "MOC/array"), ("double precision[]", "geometry"),
          ("integer", "INTEGER"), ("bigint", "BIGINT"), ("smallint", "SMALLINT"),
          ("numeric", "DOUBLE"), ("real", "REAL"), ("text", "VARCHAR"),
          ("boolean", "BOOLEAN"), ("unknown", "VARCHAR")]

#: SQLSTATE → what went wrong, in ADQL words.
_BY_STATE = {
    "22012": "division by zero",
    "22003": "a number is out of range",
    "2201E": "the logarithm of zero or of a negative number",
    "2201F": "POWER of a negative number to a fractional exponent",
    "21000": "a subquery used as a value returned more than one row",
    "22001": "a text is too long for the CAST type",
    "22007": "a text is not a valid timestamp",
    "22008": "a timestamp is out of range",
    "22023": "an invalid argument value",
    "42P10": "an ORDER BY key of SELECT DISTINCT must be in the select list",
    "42803": "a column must be in GROUP BY or inside an aggregate function",
    "54001": "the query is too complex",
    "53100": "the query needs more disk space than a query may use",
    "53200": "the query needs more memory than a query may use",
}


def adql_types(text: str) -> str:
    """``text`` with PostgreSQL type names replaced by ADQL ones."""
    for pg, adql in _TYPES:
        text = re.sub(rf"\b{re.escape(pg)}(?![\w\[])", adql, text)
    return text


def adql_message(sqlstate: str, primary: str) -> str:
    """The message a client is shown for a database error (SQLSTATE and primary text)."""
    if sqlstate in _BY_STATE:
        return f"the query failed: {_BY_STATE[sqlstate]} ({adql_types(primary)})"
    if sqlstate == "22P02":
        return f"the query failed: a value cannot be converted ({adql_types(primary)})"
    if sqlstate in ("42883", "42804", "42846"):
        op = re.search(r"operator does not exist: (.+)", primary)
        if op:
            return ("the query failed: the types do not fit the operator "
                    f"{adql_types(op.group(1))}; CAST one side")
        return f"the query failed: the argument types do not fit ({adql_types(primary)})"
    return f"the query failed in the database: {adql_types(primary)}"
