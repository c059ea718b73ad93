"""TAP rules: parameters (DALI/TAP 1.1), MAXREC, formats, uploads, result documents.

Shared by ``/tap/sync`` and the UWS jobs of ``/tap/async``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vo.adql.translate import UploadTable, translate
from vo.config import VoConfig
from vo.datalink import service_descriptor
from vo.errors import VoError
from vo.storage import VoStorage
from vo.upload import parse_upload_param
from vo.votable import (
    FORMATS,
    FieldSpec,
    convert_rows,
    delimited,
    encode_rows,
    field_specs,
    votable_with_data,
)

#: An upload is matched against region tiles by scanning the tiles (``UploadTable.bulk``)
#: once it has more rows than 1/20 of the tiles (both levels, so 1/10 of one level's):
#: a tile scanned costs ~4.5 µs (a b-tree range lookup in the upload), a source looked up
#: in the SP-GiST index ~45 µs (measured at 10 k alerts for issue 5).
BULK_TILES_PER_SOURCE = 20

LANGS = ("ADQL", "ADQL-2.0", "ADQL-2.1")


@dataclass(frozen=True, slots=True)
class TapResult:
    body: bytes
    media_type: str
    rows: int
    overflow: bool


def upper_params(items: Any) -> dict[str, Any]:
    """Parameter names are case-insensitive (DALI): key them in upper case. First one wins."""
    out: dict[str, Any] = {}
    for k, v in items:
        out.setdefault(k.upper(), v)
    return out


def response_format(params: Mapping[str, Any]) -> tuple[str, str]:
    fmt = params.get("RESPONSEFORMAT") or params.get("FORMAT") or "votable"
    key = str(fmt).strip().lower().replace(" ", "")
    if key not in FORMATS:
        raise VoError(f"RESPONSEFORMAT {fmt!r} is not supported; use one of "
                      "votable, votable/td, csv, tsv")
    return FORMATS[key]


def maxrec(params: Mapping[str, Any], cfg: VoConfig) -> int:
    raw = params.get("MAXREC")
    if raw is None or str(raw).strip() == "":
        return cfg.default_maxrec
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise VoError(f"MAXREC must be a non-negative integer, not {raw!r}") from None
    if value < 0:
        raise VoError("MAXREC must be a non-negative integer")
    return min(value, cfg.max_rows)


def check_query_params(params: Mapping[str, Any]) -> str:
    request = params.get("REQUEST")
    if request is not None and str(request).lower() != "doquery":
        raise VoError(f"REQUEST={request} is not supported (only doQuery)")
    lang = params.get("LANG")
    if lang is None:
        raise VoError("LANG is required (LANG=ADQL)")
    if str(lang).upper() not in LANGS:
        raise VoError(f"LANG={lang} is not supported; this service speaks ADQL (2.0, 2.1)")
    query = params.get("QUERY")
    if query is None or not str(query).strip():
        raise VoError("QUERY is required")
    return str(query)


class TapService:
    def __init__(self, storage: VoStorage, cfg: VoConfig) -> None:
        self.storage = storage
        self.cfg = cfg

    def uploads(self, params: Mapping[str, Any], files: Mapping[str, bytes]) -> list[UploadTable]:
        raw = params.get("UPLOAD")
        if not raw:
            return []
        return parse_upload_param(str(raw), files, self.cfg)

    def execute(self, params: Mapping[str, Any], files: Mapping[str, bytes]) -> TapResult:
        query = check_query_params(params)
        serialization, media = response_format(params)
        limit = maxrec(params, self.cfg)
        uploads = self.uploads(params, files)
        if any(u.point is not None for u in uploads):
            tiles = self.storage.tile_rows()
            for up in uploads:
                up.bulk = up.rows * BULK_TILES_PER_SOURCE > tiles
        tr = translate(query, uploads, maxrec=limit)
        encode = serialization if serialization in ("csv", "binary2") else None
        result = self.storage.run(tr, limit, uploads, encode=encode)
        overflow = result.overflow and (tr.top is None or tr.top > limit)
        if result.csv is not None:
            return TapResult(result.csv, media, result.count, overflow)
        specs = field_specs(tr.columns, result.type_oids)
        rows = convert_rows(result.rows, specs)
        if serialization in ("csv", "tsv"):
            body = delimited(specs, rows, "," if serialization == "csv" else "\t")
            return TapResult(body, media, len(rows), overflow)
        infos = [("QUERY", query)]
        if params.get("RUNID"):
            infos.append(("RUNID", str(params["RUNID"])))
        extra = []
        did = next((i for i, s in enumerate(specs) if s.name == "obs_publisher_did"
                    and s.ucd and "meta.ref.ivoid" in s.ucd), None)
        if did is not None:
            specs[did] = FieldSpec(**{**_asdict(specs[did]), "id": "obs_publisher_did"})
            extra.append(service_descriptor(self.cfg, "obs_publisher_did"))
        data = result.binary2 if result.binary2 is not None else encode_rows(
            specs, rows, serialization)
        body = votable_with_data(specs, data, serialization=serialization, overflow=overflow,
                                 infos=infos, extra_resources=extra)
        return TapResult(body, media, result.count, overflow)


def _asdict(spec: FieldSpec) -> dict[str, Any]:
    return {k: getattr(spec, k) for k in spec.__slots__}
