"""Request parameters of the VO services: case-insensitive names (DALI), text the service can
read, and the parts of a multipart upload."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from vo.errors import BadParameter

#: Characters no parameter may hold: NUL (PostgreSQL text cannot) and unpaired surrogates
#: (no UTF-8 spelling).
_UNREADABLE = re.compile("[\x00\ud800-\udfff]")


def upper_params(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Parameter names are case-insensitive (DALI): key them in upper case. First one wins."""
    out: dict[str, Any] = {}
    for k, v in items:
        out.setdefault(k.upper(), v)
    return out


def check_params(params: Mapping[str, Any]) -> None:
    """Raise :class:`BadParameter` for a parameter name or text value the service cannot
    use (NUL byte, unpaired surrogate), before it reaches the parser or the database."""
    for key, value in params.items():
        for text in (key, value):
            if isinstance(text, str) and _UNREADABLE.search(text):
                raise BadParameter(f"parameter {_UNREADABLE.sub('?', key)} holds a character "
                                   "this service cannot read (NUL or an unpaired surrogate)")


def check_text_params(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """:func:`upper_params` of ``items``, refused (:class:`BadParameter`) when a name or
    value holds NUL or an unpaired surrogate."""
    params = upper_params(items)
    check_params(params)
    return params


async def read_params(request: Request, max_upload_bytes: int
                      ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Query-string and body parameters (upper-cased names) and uploaded parts (each at
    most ``max_upload_bytes``)."""
    items: list[tuple[str, Any]] = list(request.query_params.multi_items())
    files: dict[str, bytes] = {}
    if request.method == "POST":
        form = await request.form(max_part_size=max_upload_bytes)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = await value.read()
            else:
                items.append((key, value))
    return check_text_params(items), files
