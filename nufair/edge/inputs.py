"""Input hygiene at the edge: paths with control characters and query strings with NUL are
refused before routing, so that no handler, database or XML writer ever sees them; on the
REST API (``/api/v1``), a query parameter the endpoint does not define is refused too."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi._compat import ModelField
from fastapi.routing import APIRoute
from pydantic import BaseModel

from catalog.errors import NufairError
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


class UnknownParameter(NufairError):
    """A query parameter the endpoint does not define (a typo would otherwise be ignored
    silently and answer as if it had not been given)."""

    code = "unknown_parameter"
    status = 400


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` reads, its dependencies' included."""
    names: set[str] = set()
    todo = [route.dependant]
    while todo:  # the endpoint's and its dependencies' own (FastAPI's walk is private)
        dependant = todo.pop()
        todo.extend(dependant.dependencies)
        names.update(_names(dependant.query_params))
    return frozenset(names)


def _names(params: list[ModelField]) -> set[str]:
    names: set[str] = set()
    for param in params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A model of query parameters: its fields (by alias) are the names.
            names.update(f.alias or n for n, f in annotation.model_fields.items())
        else:
            names.add(param.alias)
    return names


_KNOWN: dict[int, frozenset[str]] = {}


def known_query_only(request: Request) -> None:
    """Dependency of the REST routers: ``UnknownParameter`` (400) for a query parameter the
    matched endpoint does not define. Not for the VO paths, whose standards allow (and
    require ignoring) parameters they do not define."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN.get(id(route))
    if known is None:
        known = _KNOWN[id(route)] = _query_names(route)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise UnknownParameter(
            f"unknown query parameter(s): {', '.join(unknown)} (this endpoint takes: "
            f"{allowed})", details={"unknown": unknown, "allowed": sorted(known)})
