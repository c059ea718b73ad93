"""OAI-PMH list requests as data: resumption tokens (the whole query and the keyset
position, so that they survive a restart and need no server state) and the ``from`` /
``until`` window."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.fair.oai_metadata import FORMATS


class OaiError(Exception):
    """An OAI-PMH error: ``code`` is the protocol's (``badArgument``, ``noRecordsMatch``...),
    answered as an ``<error>`` element of a 200 response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
#: Characters no argument may hold: C0 controls, DEL, and what XML 1.0 cannot carry (lone
#: surrogates, U+FFFE/U+FFFF). Such an argument is a ``badArgument``, never echoed.
UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _parse_time(value: str, name: str, end: bool) -> tuple[datetime, str]:
    if _SECOND.match(value):
        fmt, gran = "%Y-%m-%dT%H:%M:%SZ", "second"
    elif _DAY.match(value):
        fmt, gran = "%Y-%m-%d", "day"
    else:
        raise OaiError("badArgument", f"{name} must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
    try:
        t = datetime.strptime(value, fmt).replace(tzinfo=UTC)
    except ValueError:
        raise OaiError("badArgument", f"{name} is not a valid date") from None
    if end:  # until is inclusive at its granularity: everything before the next tick
        t += timedelta(days=1) if gran == "day" else timedelta(seconds=1)
    return t, gran


def list_query(params: dict[str, str]) -> dict[str, Any]:
    """The list request as a token's query: the token's own, or a first page's from the
    arguments (``p`` prefix, ``f`` from, ``u`` until, ``s`` set, ``a`` after, ``n`` cursor)."""
    if "resumptionToken" in params:
        return decode_token(params["resumptionToken"])
    return {"p": params["metadataPrefix"], "f": params.get("from"),
            "u": params.get("until"), "s": params.get("set"), "a": None, "n": 0}


def list_window(query: dict[str, Any], sets: Collection[str]
                ) -> tuple[datetime | None, datetime | None]:
    """The query's ``from`` (inclusive) and ``until`` (exclusive) times, with its set
    checked against ``sets``; ``badArgument`` or ``noRecordsMatch`` where the spec asks
    for them."""
    since = until = None
    grans = set()
    if query["f"]:
        since, g = _parse_time(query["f"], "from", end=False)
        grans.add(g)
    if query["u"]:
        until, g = _parse_time(query["u"], "until", end=True)
        grans.add(g)
    if len(grans) > 1:
        raise OaiError("badArgument", "from and until have different granularities")
    if since and until and since >= until:
        raise OaiError("badArgument", "from is after until")
    if query["s"] is not None and query["s"] not in sets:
        # An unknown set is an empty selection (the spec lists no error of its own).
        raise OaiError("noRecordsMatch", f"set {query['s']!r} does not exist")
    return since, until


def encode_token(query: dict[str, Any]) -> str:
    """The resumption token of ``query``: its compact JSON, URL-safe base64 without padding."""
    raw = json.dumps(query, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """The query inside a token, checked field by field (a token is client input);
    ``badResumptionToken`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        query = json.loads(raw)
        if not isinstance(query, dict) or set(query) != {"p", "f", "u", "s", "a", "n"}:
            raise ValueError("shape")
        if not isinstance(query["p"], str) or query["p"] not in FORMATS \
                or type(query["n"]) is not int or query["n"] < 0:
            raise ValueError("fields")
        if any(query[k] is not None and (not isinstance(query[k], str)
                                         or UNSAFE.search(query[k])) for k in "fus"):
            raise ValueError("from, until and set are strings")
        if query["a"] is not None:
            when, pk, *table = query["a"]  # [datestamp, id] of a DOI, [.., .., 1] an alias
            datetime.fromisoformat(when)
            if type(pk) is not int or not 0 < pk < 2**63 or table not in ([], [1]):
                raise ValueError("position")
        return query
    except (ValueError, TypeError, IndexError, KeyError, binascii.Error,
            UnicodeDecodeError) as exc:
        raise OaiError("badResumptionToken", "the resumption token is not valid") from exc


