"""TAP UPLOAD: VOTables sent with the query become ``TAP_UPLOAD.<name>``.

An uploaded table is read into numpy columns and, for the query, copied into a temporary
table of the query's own transaction (``vo.storage``; binary COPY built by ``vo.formats.pgcopy``),
so the planner sees its size and can index it. When the table has an (ra, dec) pair — by
UCD, else by name — their order-29 HEALPix indices are computed here with healpy and loaded
along, so a cross-match against MOC columns runs on indices.

A table may also be named by an http(s) URL, which the service then fetches. That lets any
client make the server issue requests (server-side request forgery), so it is off unless
the operator lists the hosts it may fetch from (``NUFAIR_TAP_UPLOAD_URL_HOSTS``).

BINARY2 and BINARY serializations whose fields all have a fixed size are decoded with one
``numpy.frombuffer``: astropy's reader converts them row by row in Python (~25 µs a row;
2.4 s for 100 k sources). astropy still parses the document's metadata (the FIELDs) and
reads every other serialization.
"""

from __future__ import annotations

import binascii
import io
import re
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import numpy as np
from astropy.io.votable import parse_single_table
from astropy.io.votable.tree import TableElement

from catalog import sky
from vo.adql.translate import UploadColumn, UploadTable
from vo.config import VoConfig
from vo.errors import UploadError
from vo.tables import ColumnInfo
from vo.uploadtypes import VOTABLE_TYPE, check_name, convert

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RA_NAMES = ("ra", "raj2000", "ra_icrs", "ra_j2000", "_raj2000", "alpha")
_DEC_NAMES = ("dec", "dej2000", "decj2000", "de", "dec_icrs", "dec_j2000", "_dej2000", "delta")

#: Redirects followed when fetching an upload by URL (each target is checked again).
MAX_REDIRECTS = 5


def parse_upload_param(raw: str, files: Mapping[str, bytes], cfg: VoConfig) -> list[UploadTable]:
    """Tables named by ``UPLOAD=name,param:part[;name2,param:part2]`` (or an allowed URL)."""
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
        if uri.lower().startswith(("http://", "https://")):
            data = _fetch(name, uri, cfg)
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


def _check_url(name: str, url: str, cfg: VoConfig) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not cfg.upload_url_hosts:
        raise UploadError(f"UPLOAD {name}: this service does not fetch tables by URL; send "
                          f"the VOTable in the request (UPLOAD={name},param:{name})")
    if parts.scheme.lower() not in ("http", "https") or host not in cfg.upload_url_hosts:
        raise UploadError(f"UPLOAD {name}: this service does not fetch tables from {host or url}"
                          f" (allowed hosts: {', '.join(cfg.upload_url_hosts)}); send the "
                          f"VOTable in the request (UPLOAD={name},param:{name})")


def _fetch(name: str, url: str, cfg: VoConfig) -> bytes:
    """The VOTable at ``url`` (TAPRegExt upload-http) from an allowed host, at most
    ``cfg.max_upload_bytes``. Redirects are followed by hand so that each target is
    checked against the allowed hosts too."""
    import httpx

    limit = cfg.max_upload_bytes
    try:
        with httpx.Client(timeout=10.0, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(name, url, cfg)
                with client.stream("GET", url) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        url = urljoin(url, resp.headers["location"])
                        continue
                    if resp.status_code != 200:
                        raise UploadError(f"UPLOAD {name}: {url} answered HTTP "
                                          f"{resp.status_code}")
                    chunks, size = [], 0
                    for chunk in resp.iter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise UploadError(f"UPLOAD {name}: {url} is over the limit of "
                                              f"{limit} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise UploadError(f"UPLOAD {name}: cannot fetch {url} ({exc})") from None
    raise UploadError(f"UPLOAD {name}: more than {MAX_REDIRECTS} redirects from {url}")


# ------------------------------------------------------------------ fast binary reading
#: VOTable datatype → numpy big-endian type of one value in BINARY/BINARY2.
_BINARY = {"boolean": "S1", "unsignedByte": "u1", "short": ">i2", "int": ">i4",
           "long": ">i8", "float": ">f4", "double": ">f8"}
_BINARY_START = re.compile(rb"<(BINARY2?)>\s*<STREAM([^>]*)>")
_BINARY_END = re.compile(rb"</STREAM>\s*</BINARY2?>")


def _fast_binary(data: bytes) -> tuple[TableElement, dict[str, np.ndarray]] | None:
    """Fields and column arrays of a BINARY/BINARY2 table whose cells all have a fixed
    size; None when it is not one (then astropy reads it)."""
    found = _binary_stream(data)
    if found is None:
        return None
    head, binary2, raw = found
    fields = list(head.fields)
    row = _row_dtype(fields, binary2)
    if row is None or len(raw) % row.itemsize:
        return None
    arr = np.frombuffer(raw, dtype=row)
    return head, {f.name: _column(arr, i, f, binary2) for i, f in enumerate(fields)}


def _binary_stream(data: bytes) -> tuple[TableElement, bool, bytes] | None:
    """(the table without its data, BINARY2 or BINARY, the decoded stream) of a document
    whose data is one inline base64 BINARY/BINARY2 stream; None for any other."""
    start = data.find(b"<BINARY")
    m = _BINARY_START.match(data, start) if start >= 0 else None
    if m is None or b"base64" not in m.group(2) or b"href" in m.group(2):
        return None
    stop = data.find(b"</STREAM>", m.end())  # base64 has no '<': the first one ends it
    end = _BINARY_END.match(data, stop) if stop >= 0 else None
    if end is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = parse_single_table(io.BytesIO(data[:start] + b"<TABLEDATA/>"
                                             + data[end.end():]), verify="ignore")
    return head, m.group(1) == b"BINARY2", binascii.a2b_base64(data[m.end():stop])


def _row_dtype(fields: list[Any], binary2: bool) -> np.dtype[Any] | None:
    """The numpy record of one row (the null bitmap of BINARY2 first); None when a cell
    has no fixed size."""
    dtype: list[Any] = []
    if binary2:
        dtype.append(("__nulls", "u1", ((len(fields) + 7) // 8,)))
    for i, f in enumerate(fields):
        size = f.arraysize
        if f.datatype in ("char", "unicodeChar"):
            if size not in (None, "1") and not str(size).isdigit():
                return None  # variable length
            width = int(size or 1) * (2 if f.datatype == "unicodeChar" else 1)
            dtype.append((f"c{i}", f"S{width}"))
        elif f.datatype == "bit" and size in (None, "1"):
            dtype.append((f"c{i}", "u1"))  # one bit, in the most significant place
        elif f.datatype in _BINARY and size in (None, "1"):
            dtype.append((f"c{i}", _BINARY[f.datatype]))
        else:
            return None
    return np.dtype(dtype)


def _column(arr: np.ndarray, i: int, f: Any, binary2: bool) -> np.ndarray:
    """Column ``i`` (field ``f``) of the rows ``arr`` as a masked array of Python-ready
    values, its nulls masked."""
    col = arr[f"c{i}"]
    nulls = np.zeros(len(arr), dtype=bool)
    if binary2:
        nulls |= (arr["__nulls"][:, i // 8] & (0x80 >> (i % 8))) != 0
    if f.datatype == "boolean":
        nulls |= ~np.isin(col, [b"T", b"t", b"1", b"F", b"f", b"0"])
        col = np.isin(col, [b"T", b"t", b"1"])
    elif f.datatype == "bit":
        col = col != 0  # the bit belongs in 0x80; astropy 8 writes it as 0x08
    elif f.datatype == "char":
        col = np.char.rstrip(col, b"\0").astype(object)
    elif f.datatype == "unicodeChar":  # UCS-2, big-endian
        col = np.array([v.decode("utf-16-be", "replace").rstrip("\0") for v in col.tolist()],
                       dtype=object)
    elif col.dtype.kind == "f":
        nulls |= np.isnan(col)  # NaN is the null of floating point
    elif f.values is not None and f.values.null is not None:
        nulls |= col == f.values.null
    return np.ma.MaskedArray(col.astype(col.dtype.newbyteorder("="))
                             if col.dtype.kind in "iuf" else col, mask=nulls)


def _astropy(data: bytes) -> tuple[TableElement, dict[str, np.ndarray]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = parse_single_table(io.BytesIO(data), verify="ignore")
    arr = table.array
    out = {}
    for f in table.fields:
        key = f.ID or f.name
        out[f.name] = arr[key] if key in arr.dtype.names else arr[f.name]
    return table, out


def read_votable(name: str, data: bytes) -> UploadTable:
    """Parse one uploaded VOTable into numpy columns."""
    try:
        parsed = _fast_binary(data) or _astropy(data)
    except Exception as exc:  # astropy raises many types for a bad document
        raise UploadError(f"UPLOAD {name}: not a readable VOTable ({exc})") from None
    table, arrays = parsed
    columns: list[UploadColumn] = []
    seen: set[str] = set()
    for f in table.fields:
        col = f.name
        check_name(name, col)
        if col.lower() in seen:
            raise UploadError(f"UPLOAD {name}: field {col!r} appears twice (names are "
                              "compared in any case)")
        seen.add(col.lower())
        kept = convert(name, f, arrays[col])
        meta = ColumnInfo(col, VOTABLE_TYPE.get(kept.datatype, kept.datatype),
                          (f.description or "") + kept.note, unit=_unit(f.unit),
                          ucd=f.ucd, utype=f.utype, xtype=kept.xtype or f.xtype,
                          arraysize=kept.arraysize)
        columns.append(UploadColumn(col, kept.datatype, kept.values, kept.nulls, meta))
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
    r = np.asarray(ra.values, dtype=float)
    d = np.asarray(dec.values, dtype=float)
    ok = ~ra.nulls & ~dec.nulls & np.isfinite(r) & np.isfinite(d) & (np.abs(d) <= 90)
    hpx = np.zeros(len(r), dtype=np.int64)
    if ok.any():
        hpx[ok] = sky.point_index(np.mod(r[ok], 360.0), d[ok])
    up.point = (ra.name, dec.name)
    up.hpx = hpx
    up.hpx_nulls = ~ok
