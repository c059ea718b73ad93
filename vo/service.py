"""TAP rules: parameters (DALI/TAP 1.1), MAXREC, formats, uploads, result documents.

Shared by ``/tap/sync`` and the UWS jobs of ``/tap/async``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vo.adql.translate import UploadTable, translate
from vo.config import VoConfig
from vo.datalink import id_column, service_descriptor
from vo.errors import LimitExceeded, VoError
from vo.formats.delimited import delimited_header, delimited_rows
from vo.formats.fields import FieldSpec, convert_rows, field_specs
from vo.formats.rows import encode_rows
from vo.formats.votable import FORMATS, Base64Stream, votable_head, votable_tail
from vo.params import check_params
from vo.resultstream import PlanEstimate, ResultStream
from vo.storage import VoStorage
from vo.upload import parse_upload_param

#: An upload is matched against region tiles by scanning the tiles (``UploadTable.bulk``)
#: once it has more rows than 1/20 of the tiles (both levels, so 1/10 of one level's):
#: a tile scanned costs ~4.5 µs (a b-tree range lookup in the upload), a source looked up
#: in the SP-GiST index ~45 µs (measured at 10 k alerts for issue 5).
BULK_TILES_PER_SOURCE = 20

LANGS = ("ADQL", "ADQL-2.0", "ADQL-2.1")


@dataclass(frozen=True, slots=True)
class TapResult:
    """A whole TAP answer in memory (what an async job stores): the document, its media
    type, its row count and whether MAXREC cut it."""

    body: bytes
    media_type: str
    rows: int
    overflow: bool


def response_format(params: Mapping[str, Any]) -> tuple[str, str]:
    """(serialization, media type) RESPONSEFORMAT (or FORMAT) asks for; 400 when
    the service does not write it."""
    fmt = params.get("RESPONSEFORMAT") or params.get("FORMAT") or "votable"
    key = str(fmt).strip().lower().replace(" ", "")
    if key not in FORMATS:
        raise VoError(f"RESPONSEFORMAT {fmt!r} is not supported; use one of "
                      "votable, votable/td, csv, tsv")
    return FORMATS[key]


def maxrec(params: Mapping[str, Any], cfg: VoConfig) -> int:
    """MAXREC (the default when absent), at most the hard row limit."""
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
    """The QUERY text, once REQUEST and LANG are ones this service runs."""
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
    """TAP queries: checked, translated, run and written (for /tap/sync and the
    jobs of /tap/async alike)."""

    def __init__(self, storage: VoStorage, cfg: VoConfig) -> None:
        self.storage = storage
        self.cfg = cfg

    def uploads(self, params: Mapping[str, Any], files: Mapping[str, bytes]) -> list[UploadTable]:
        """The tables UPLOAD names, read from the request parts (or allowed URLs)."""
        raw = params.get("UPLOAD")
        if not raw:
            return []
        return parse_upload_param(str(raw), files, self.cfg)

    def execute(self, params: Mapping[str, Any], files: Mapping[str, bytes]) -> TapResult:
        """The whole answer in memory (async jobs store it). A failure part way through the
        answer raises :class:`VoError`, as a failure before it does."""
        stream = self.open(params, files, strict=True)
        try:
            body = b"".join(stream.chunks())
        finally:
            stream.close()
        return TapResult(body, stream.media_type, stream.rows, stream.overflow)

    def open(self, params: Mapping[str, Any], files: Mapping[str, bytes],
             strict: bool = False, admit: Callable[[PlanEstimate], None] | None = None,
             ) -> TapStream:
        """Check, translate and start a query; the answer is then written by
        :meth:`TapStream.chunks` as its rows are fetched. Raises :class:`VoError` for a
        request or query refused before any byte of the answer exists.

        The time budget (the storage's statement timeout, counted from now) covers the
        query, the fetches and the writing of the answer: past it the answer ends with
        QUERY_STATUS=ERROR (``strict``: :class:`LimitExceeded` is raised instead).
        ``admit`` sees the planner's estimate of the query before it runs (see
        :meth:`VoStorage.open_stream`).
        """
        deadline = time.monotonic() + self.storage.timeout_ms / 1000
        check_params(params)
        query = check_query_params(params)
        serialization, media = response_format(params)
        limit = maxrec(params, self.cfg)
        uploads = self.uploads(params, files)
        if any(u.point is not None for u in uploads):
            tiles = self.storage.tile_rows()
            for up in uploads:
                up.bulk = up.rows * BULK_TILES_PER_SOURCE > tiles
        tr = translate(query, uploads, maxrec=limit)
        encode = serialization if serialization in ("csv", "tabledata", "binary2") else None
        result = self.storage.open_stream(tr, limit, uploads, encode=encode, admit=admit,
                                          deadline=deadline)
        try:
            specs = field_specs(tr.columns, result.type_oids)
            infos = [("QUERY", query)]
            if params.get("RUNID"):
                infos.append(("RUNID", str(params["RUNID"])))
            extra = []
            did = id_column([c.meta for c in tr.columns])
            if did is not None and serialization not in ("csv", "tsv"):
                specs[did] = replace(specs[did], id="datalink_id")
                extra.append(service_descriptor(self.cfg, "datalink_id"))
        except BaseException:
            result.close()
            raise
        return TapStream(result, specs, serialization, media, infos, extra, deadline,
                         tr.top is None or tr.top > limit, strict,
                         self.storage.timeout_ms / 1000)


class TapStream:
    """A TAP answer written while its rows are fetched (see :meth:`TapService.open`).

    Holds a database connection until :meth:`close` (always call it). ``rows`` and
    ``overflow`` are final once :meth:`chunks` is exhausted.
    """

    def __init__(self, result: ResultStream, specs: list[FieldSpec], serialization: str,
                 media_type: str, infos: list[tuple[str, str]], extra: list[str],
                 deadline: float, maxrec_cuts: bool, strict: bool,
                 limit_s: float | None = None) -> None:
        self.result = result
        self.specs = specs
        self.serialization = serialization
        self.media_type = media_type
        self.infos = infos
        self.extra = extra
        self.deadline = deadline
        self.maxrec_cuts = maxrec_cuts
        self.strict = strict
        self.limit_s = limit_s

    @property
    def rows(self) -> int:
        """Rows written so far (all of them once the chunks are exhausted)."""
        return self.result.count

    @property
    def overflow(self) -> bool:
        """MAXREC cut the answer (not TOP: a TOP at or under MAXREC is the query's own)."""
        return self.result.overflow and self.maxrec_cuts

    def close(self) -> None:
        """Give the database connection back (always call it)."""
        self.result.close()

    def chunks(self) -> Generator[bytes, None, None]:
        """The document, a piece per batch of rows.

        A database error or the time budget running out part way: a VOTable ends with a
        trailing QUERY_STATUS=ERROR INFO (DALI); CSV and TSV, which cannot say so, end
        with :class:`VoError` raised (the HTTP answer is then cut off, not completed).
        """
        ser = self.serialization
        votable = ser in ("binary2", "tabledata")
        b64 = Base64Stream()
        if votable:
            yield votable_head(self.specs, ser, self.infos)
        else:
            yield delimited_header(self.specs, "," if ser == "csv" else "\t")
        error: VoError | None = None
        try:
            for batch in self.result.batches():
                piece = self._encode(batch)
                yield b64.feed(piece) if ser == "binary2" else piece
                if time.monotonic() > self.deadline:
                    raise LimitExceeded(
                        f"the answer took longer than the time limit"
                        f"{'' if self.limit_s is None else f' of {self.limit_s:g} s'} "
                        f"({self.result.count} rows written, then cut off; TAP async "
                        "jobs, /tap/async, may run up to the executionDuration of "
                        "/tap/capabilities)")
        except VoError as exc:
            if self.strict or not votable:
                raise
            error = exc
        if ser == "binary2":
            yield b64.end()
        if votable:
            yield votable_tail(ser, overflow=self.overflow,
                               error=None if error is None else error.message,
                               extra_resources=self.extra)

    def _encode(self, batch: list[Any]) -> bytes:
        """One batch of rows in the answer's serialization (BINARY2 before base64)."""
        if self.result.encoded == "binary2":
            return b"".join(r[0] for r in batch)
        if self.result.encoded in ("csv", "tabledata"):
            return "".join(r[0] for r in batch).encode("utf-8")
        rows = convert_rows(batch, self.specs)
        if self.serialization in ("csv", "tsv"):
            return delimited_rows(rows, "," if self.serialization == "csv" else "\t")
        data = encode_rows(self.specs, rows, self.serialization)
        return data if isinstance(data, bytes) else data.encode("utf-8")
