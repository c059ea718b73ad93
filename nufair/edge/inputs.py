"""Input hygiene at the edge: paths with control characters and query strings with NUL are
refused before routing, so that no handler, database or XML writer ever sees them."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from nufair.edge.shapes import OAI_PREFIXES

#: Characters refused in a request path (after percent-decoding): C0 controls and DEL.
_PATH_UNSAFE = re.compile("[\x00-\x1f\x7f]")

#: Paths left to their handlers, which answer such arguments in their protocols' own error
#: shapes (OAI-PMH ``badArgument``; SCS 1.03's error VOTable).
OWN_SHAPE_PATHS = frozenset({*OAI_PREFIXES, "/scs"})


def skips_input_check(path: str) -> bool:
    """Whether the handler of ``path`` checks its arguments itself."""
    return path in OWN_SHAPE_PATHS


def input_problem(path: str, query_string: bytes) -> tuple[str, str] | None:
    """(code, message) of why a request's path or query string is refused at the edge, or
    None. The codes are those the VO layer uses for the same faults."""
    if _PATH_UNSAFE.search(path):
        return "invalid_character", "the path must not contain control characters"
    if b"\x00" in unquote_to_bytes(query_string.replace(b"+", b" ")):
        return "bad_parameter", "query parameters must not contain NUL characters"
    return None
