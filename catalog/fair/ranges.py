"""Byte ranges (RFC 9110 section 14) of a stored file served from an object store.

Local files go out through Starlette's ``FileResponse``, which answers ``Range`` itself;
a file in an object store (``NUFAIR_ARTIFACTS_URL``) is streamed from fsspec, so its
``Range`` is read here. Hand-written because Starlette's parser is private to
``FileResponse`` and the one maintained parser (werkzeug's) is no dependency of ours: one
range (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) is served as 206; several ranges, a unit
other than bytes, a malformed header or an ``If-Range`` (we keep no validator to compare)
are ignored and the whole file goes out, as RFC 9110 allows; a range that starts past the
end is 416 with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

import re

from catalog.errors import NufairError

_ONE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(NufairError):
    """The requested byte range lies past the end of the file."""

    code = "range_not_satisfiable"
    status = 416


def byte_range(header: str | None, size: int, if_range: str | None = None,
               ) -> tuple[int, int] | None:
    """The (first, last) byte, both included, that ``header`` asks of a ``size``-byte
    file; None: serve the whole file. ``RangeNotSatisfiable`` for a range past its end."""
    if header is None or if_range is not None:
        return None
    m = _ONE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # the last n bytes
        n = int(last)
        if n == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(f"the file has {size} bytes", details={"size": size},
                               headers={"Content-Range": f"bytes */{size}"})
