"""TAP UPLOAD: VOTables sent inline with the query become ``TAP_UPLOAD.<name>``.

The table is never written to the database: its columns travel as array parameters and
the query reads them with ``unnest`` (so even uploads run in a read-only transaction). When
the table has an (ra, dec) pair — by UCD, else by name — their order-29 HEALPix indices are
computed here with healpy and sent along, so a cross-match against MOC columns probes the
SP-GiST tile index once per source.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Mapping

import numpy as np
from astropy.io.votable import parse_single_table

from catalog import sky
from vo.adql.translate import UploadColumn, UploadTable
from vo.config import VoConfig
from vo.errors import UploadError
from vo.tables import ColumnInfo

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RA_NAMES = ("ra", "raj2000", "ra_icrs", "ra_j2000", "_raj2000", "alpha")
_DEC_NAMES = ("dec", "dej2000", "decj2000", "de", "dec_icrs", "dec_j2000", "_dej2000", "delta")


def parse_upload_param(raw: str, files: Mapping[str, bytes], cfg: VoConfig) -> list[UploadTable]:
    """Tables named by ``UPLOAD=name,param:part[;name2,param:part2]``."""
    tables = []
    for item in raw.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, uri = item.partition(",")
        name, uri = name.strip(), uri.strip()
        if not sep or not uri:
            raise UploadError(f"UPLOAD item {item!r} is not 'table_name,URI'")
        if not _NAME.match(name):
            raise UploadError(f"UPLOAD table name {name!r} is not an ADQL identifier")
        if uri.startswith(("http://", "https://")):
            data = _fetch(name, uri, cfg.max_upload_bytes)
        elif uri.startswith("param:"):
            part = uri[len("param:"):]
            if part not in files:
                raise UploadError(f"UPLOAD {name}: the request has no part named {part!r}")
            data = files[part]
        else:
            raise UploadError(f"UPLOAD {name}: {uri!r} is neither param:<part> nor an "
                              "http(s) URL")
        if len(data) > cfg.max_upload_bytes:
            raise UploadError(f"UPLOAD {name}: {len(data)} bytes is over the limit of "
                              f"{cfg.max_upload_bytes}")
        tables.append(read_votable(name, data))
    names = [t.name.lower() for t in tables]
    if len(set(names)) != len(names):
        raise UploadError("UPLOAD names a table twice")
    return tables


def _fetch(name: str, url: str, limit: int) -> bytes:
    """The VOTable at ``url`` (TAPRegExt upload-http), at most ``limit`` bytes."""
    import httpx

    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=True) as resp:
            if resp.status_code != 200:
                raise UploadError(f"UPLOAD {name}: {url} answered HTTP {resp.status_code}")
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise UploadError(f"UPLOAD {name}: {url} is over the limit of {limit} "
                                      "bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise UploadError(f"UPLOAD {name}: cannot fetch {url} ({exc})") from None
    return b"".join(chunks)


def _datatype(kind: str, itemsize: int) -> str:
    """VOTable datatype of a column read as numpy ``kind``/``itemsize`` (kept as uploaded)."""
    if kind == "f":
        return "float" if itemsize == 4 else "double"
    if kind == "i":
        return {1: "short", 2: "short", 4: "int"}.get(itemsize, "long")
    if kind == "u":
        return {1: "short", 2: "int"}.get(itemsize, "long")
    if kind == "b":
        return "boolean"
    return "char"


def read_votable(name: str, data: bytes) -> UploadTable:
    """Parse one uploaded VOTable into columns of Python values."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = parse_single_table(io.BytesIO(data), verify="ignore")
    except Exception as exc:  # astropy raises many types for a bad document
        raise UploadError(f"UPLOAD {name}: not a readable VOTable ({exc})") from None
    arr = table.array
    columns: list[UploadColumn] = []
    seen: set[str] = set()
    for f in table.fields:
        col = f.name
        if not _NAME.match(col):
            raise UploadError(f"UPLOAD {name}: field {col!r} is not an ADQL identifier")
        if col.lower() in seen:
            raise UploadError(f"UPLOAD {name}: field {col!r} appears twice")
        seen.add(col.lower())
        data_col = arr[f.ID or f.name] if (f.ID or f.name) in arr.dtype.names else arr[col]
        dtype = np.asarray(data_col).dtype
        if dtype.kind == "O" or len(dtype.shape):
            values = list(np.ma.getdata(data_col))
            if any(isinstance(v, np.ndarray) for v in values) or len(dtype.shape):
                raise UploadError(f"UPLOAD {name}: field {col!r} is an array; only scalar "
                                  "columns can be uploaded")
        datatype = _datatype(dtype.kind, dtype.itemsize)
        mask = np.ma.getmaskarray(data_col)
        raw = np.ma.getdata(data_col)
        if datatype in ("double", "float"):
            values = [None if m or not math.isfinite(v) else float(v)
                      for v, m in zip(raw.tolist(), mask.tolist(), strict=True)]
        elif datatype == "char":
            values = [None if m else (v.decode() if isinstance(v, bytes) else str(v))
                      for v, m in zip(raw.tolist(), mask.tolist(), strict=True)]
        else:
            values = [None if m else v for v, m in zip(raw.tolist(), mask.tolist(), strict=True)]
        meta = ColumnInfo(col, datatype, f.description or "",
                          unit=_unit(f.unit),
                          ucd=f.ucd, utype=f.utype, xtype=f.xtype,
                          arraysize="*" if datatype == "char" else None)
        columns.append(UploadColumn(col, datatype, values, meta))
    up = UploadTable(name, columns)
    _index_points(up)
    return up


def _unit(unit: object) -> str | None:
    if unit is None:
        return None
    try:
        text: str = unit.to_string("vounit")  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        text = str(unit)
    return text or None


def _find(up: UploadTable, ucd: str, names: tuple[str, ...]) -> UploadColumn | None:
    nums = [c for c in up.columns if c.datatype in ("double", "float", "long", "int", "short")]
    for c in nums:
        if c.meta is not None and c.meta.ucd and ucd in c.meta.ucd.lower().split(";"):
            return c
    for n in names:
        for c in nums:
            if c.name.lower() == n:
                return c
    return None


def _index_points(up: UploadTable) -> None:
    ra, dec = _find(up, "pos.eq.ra", _RA_NAMES), _find(up, "pos.eq.dec", _DEC_NAMES)
    if ra is None or dec is None:
        return
    r = np.array([np.nan if v is None else float(v) for v in ra.values])
    d = np.array([np.nan if v is None else float(v) for v in dec.values])
    ok = np.isfinite(r) & np.isfinite(d) & (np.abs(d) <= 90)
    hpx = np.zeros(len(r), dtype=np.int64)
    if ok.any():
        hpx[ok] = sky.point_index(np.mod(r[ok], 360.0), d[ok])
    up.point = (ra.name, dec.name)
    up.hpx = [int(h) if good else None for h, good in zip(hpx, ok, strict=True)]
