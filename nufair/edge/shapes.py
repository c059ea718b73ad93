"""Error shapes by path: the one JSON error body, and the shapes other protocols need.

Every refusal is ``{"error": {"code", "message", "details"}}`` (JSON) unless a registered
:class:`ErrorShape` claims the path: each package that speaks a protocol of its own gives a
renderer for its prefixes, and :func:`house_shapes` composes them here, in ``nufair/``, so
that no lower package imports another to answer an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from vo.error_shape import VO_PATHS, votable_error

#: Paths answered in the OAI-PMH error shape.
OAI_PREFIXES = ("/oai",)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What an error answer says, before it takes the shape of its path."""

    status: int
    code: str
    message: str
    details: dict[str, Any] | None = None
    headers: Mapping[str, str] | None = None


#: A protocol's renderer: the answer in its shape, or None to leave it to the JSON body.
Renderer = Callable[[Refusal], Response | None]


def error_json(code: str, message: str, status: int, details: dict[str, Any] | None = None,
               headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one JSON error body: ``{"error": {"code", "message", "details"}}``."""
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def under(path: str, prefixes: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or lies below one of them."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """A protocol's error shape: the path prefixes it claims and its renderer.

    ``exact``: claim only the prefixes themselves, not the paths below them.
    """

    prefixes: tuple[str, ...]
    render: Renderer
    exact: bool = False

    def claims(self, path: str) -> bool:
        """Whether this shape answers the errors of ``path``."""
        return path in self.prefixes if self.exact else under(path, self.prefixes)


class ErrorShapes:
    """The registered error shapes; the JSON body for every path none of them claims."""

    def __init__(self, shapes: Sequence[ErrorShape] = ()) -> None:
        self.shapes = tuple(shapes)

    def response(self, path: str, refusal: Refusal) -> Response:
        """The error answer of ``refusal`` in the shape of the API ``path`` belongs to."""
        for shape in self.shapes:
            if shape.claims(path):
                rendered = shape.render(refusal)
                if rendered is not None:
                    return rendered
                break
        return error_json(refusal.code, refusal.message, refusal.status, refusal.details,
                          refusal.headers)

    def prefixes(self) -> tuple[str, ...]:
        """Every prefix a shape claims (the OpenAPI document names their error answers)."""
        return tuple(p for shape in self.shapes for p in shape.prefixes)


def votable_shape() -> ErrorShape:
    """The IVOA error shape of ``vo`` (:mod:`vo.error_shape`): a VOTable with
    ``QUERY_STATUS=ERROR`` on its paths."""

    def render(refusal: Refusal) -> Response:
        return votable_error(refusal.status, refusal.code, refusal.message, refusal.headers)

    return ErrorShape(VO_PATHS, render)


def oai_shape(base_url: str) -> ErrorShape:
    """The OAI-PMH shape of a bad argument to ``/oai``: ``badArgument``, with HTTP 200 as
    the rest of ``/oai`` answers; other errors there keep the JSON body."""
    from catalog.fair.oai import error_document

    def render(refusal: Refusal) -> Response | None:
        if refusal.status not in (400, 422):  # only a bad argument, in OAI-PMH terms
            return None
        return Response(error_document(base_url, "badArgument", refusal.message),
                        status_code=200, media_type="text/xml; charset=utf-8")

    return ErrorShape(OAI_PREFIXES, render, exact=True)


def house_shapes(base_url: str) -> ErrorShapes:
    """The error shapes of this house: VOTable under the IVOA prefixes, OAI-PMH at ``/oai``."""
    return ErrorShapes([votable_shape(), oai_shape(base_url)])
