"""JSON request bodies of the ingest routers, decoded as strictly as a raw event.

FastAPI's own body parsing lets through what :func:`ingest.rawevent.loads_strict`
refuses (duplicate keys, NUL characters that PostgreSQL cannot store) and answers deep
nesting with a bare 400 outside the error shape; the ingest handlers therefore read their
bodies through :func:`strict_body`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from catalog.errors import UnsupportedFormat
from ingest.rawevent import clip, loads_strict

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, empty: Any = None) -> Any:
    """The request's JSON body, decoded strictly; 415 for another media type. With
    ``empty`` not None, an empty body stands for ``empty``."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media not in ("application/json", ""):
        raise UnsupportedFormat(f"send the body as application/json, not {clip(media, 80)}")
    raw = await request.body()
    if empty is not None and not raw.strip():
        return empty
    return loads_strict(raw)


async def strict_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """The body as a ``model``; its validation errors in FastAPI's 422 shape. With
    ``optional`` (a model whose every field has a default), no body means ``{}``."""
    data = await json_body(request, {} if optional else None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": clip(e["msg"]), "type": e["type"]}
             for e in exc.errors()]) from None


def body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the JSON request body."""
    return {"requestBody": {"required": required, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}
