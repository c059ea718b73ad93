"""The app's exception handlers and the error contract in its OpenAPI document.

Domain errors, request-validation failures, routing errors (404/405) and unexpected
exceptions are all rendered by :class:`~nufair.edge.shapes.ErrorShapes`, in the one error
shape of each path.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from catalog.errors import NufairError
from nufair.edge.classify import classify
from nufair.edge.shapes import ErrorShapes, Refusal, under
from vo.openapi import VOTABLE

_ROUTING_CODES = {404: "not_found", 405: "method_not_allowed"}


def _validation_refusal(exc: RequestValidationError) -> Refusal:
    problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return Refusal(422, "invalid_request", f"{where}: {first['msg']}", {"problems": problems})


def install_error_handlers(app: FastAPI, shapes: ErrorShapes) -> None:
    """Render domain errors, request-validation failures, routing errors (404/405) and
    unexpected exceptions in the one error shape of each path."""

    def answer(request: Request, refusal: Refusal) -> Response:
        return shapes.response(request.url.path, refusal)

    @app.exception_handler(NufairError)
    async def _domain(request: Request, exc: NufairError) -> Response:
        return answer(request, Refusal(exc.status, exc.code, exc.message, exc.details,
                                       exc.headers))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, _validation_refusal(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _ROUTING_CODES.get(exc.status_code, "http_error")
        return answer(request, Refusal(exc.status_code, code, str(exc.detail),
                                       headers=exc.headers))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        known = classify(exc)
        if known is not None:  # raised outside the routes (a middleware): still a 4xx
            return answer(request, Refusal(*known))
        return answer(request, Refusal(500, "internal_error",
                                       "internal error: the request was logged"))


#: OpenAPI: the error answer of an operation under a protocol's own shape, and of any other.
_PROTOCOL_ERROR_DOC = {"description": "Refused: a VOTable with INFO QUERY_STATUS=ERROR",
                       "content": {VOTABLE: {"schema": {"type": "string"}}}}
_JSON_ERROR_DOC = {"description": "Refused: the one error shape",
                   "content": {"application/json": {
                       "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_error_responses(app: FastAPI, votable_prefixes: tuple[str, ...]) -> None:
    """Make the OpenAPI document state the error contract: every operation that does not
    list a ``4XX`` answer gets one, in the error shape of its path (a VOTable under
    ``votable_prefixes``), so that schema checkers can hold every answer to the document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema is not None
        schema = build()
        if cached:
            return schema
        json_error = dict(_JSON_ERROR_DOC)
        if "ErrorResponse" not in schema.get("components", {}).get("schemas", {}):
            json_error = {"description": _JSON_ERROR_DOC["description"]}
        for path, item in schema.get("paths", {}).items():
            error = _PROTOCOL_ERROR_DOC if under(path, votable_prefixes) else json_error
            for method, operation in item.items():
                if method in _HTTP_METHODS:
                    operation.setdefault("responses", {}).setdefault("4XX", error)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
