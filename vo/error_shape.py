"""How an error looks on the VO paths, for the house's one error handler to compose.

Every error under :data:`VO_PATHS` (a :mod:`vo.errors` refusal, a routing 404, a failed
validation, a 500) is answered as a VOTable with ``QUERY_STATUS=ERROR`` and an INFO naming
its code (DALI), whatever raised it: pyvo and TOPCAT read that, not JSON. The cone search
answers its own refusals in SCS 1.03's shape before they get here.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from vo.formats.votable import error_votable
from vo.openapi import VOTABLE

#: Path prefixes of the VO routes (a path is under one when equal to it or below it).
VO_PATHS = ("/tap", "/scs", "/datalink")


def is_vo_path(path: str) -> bool:
    """Whether ``path`` is a VO route's, whose errors are VOTable documents."""
    return any(path == p or path.startswith(p + "/") for p in VO_PATHS)


def votable_error(status: int, code: str, message: str,
                  headers: Mapping[str, str] | None = None) -> Response:
    """The VO shape of an error: its message as QUERY_STATUS=ERROR, then its code."""
    return Response(error_votable(message, code), status_code=status, media_type=VOTABLE,
                    headers=dict(headers or {}))
