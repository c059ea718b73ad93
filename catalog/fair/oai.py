"""OAI-PMH 2.0 at ``/oai``: six verbs over GET and POST, every error code, stateless tokens.

Each DOI (concept and version) is an item; its datestamp is the DOI's ``updated_at``, which
moves whenever its metadata does (a new version, a retraction). A retracted item stays a
full record, its metadata saying it was withdrawn (DataCite ``Withdrawn`` date, the reason
first in its description), as DataCite keeps a withdrawn DOI findable: harvesters keep it
rather than drop it. Nothing is ever deleted (``deletedRecord=persistent`` holds trivially).
Resumption tokens carry the whole query and the keyset position, so they survive a restart
and need no server state.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from catalog.fair.config import FairConfig
from catalog.fair.http import FairContext, get_fair
from catalog.fair.oai_metadata import FORMATS, XSI, render_metadata
from catalog.schema.pids import DoiRead
from catalog.storage.fair import HarvestItem

router = APIRouter(include_in_schema=False)
Ctx = Annotated[FairContext, Depends(get_fair)]

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
#: setSpec → setName.
SETS = {
    "stream:gold": "Gold-stream track alerts",
    "stream:bronze": "Bronze-stream track alerts",
    "stream:cascade": "Cascade alerts",
    "stream:hese": "HESE alerts (2016-2019)",
    "stream:ehe": "EHE alerts (2016-2019)",
    "catalog:icecat1": "Events of the IceCat-1 catalogue",
    "status:retracted": "Retracted alerts (withdrawn records, metadata kept)",
}
VERBS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), set()),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}),
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Characters no argument may hold: C0 controls, DEL, and what XML 1.0 cannot carry (lone
#: surrogates, U+FFFE/U+FFFF). Such an argument is a ``badArgument``, never echoed.
_UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class OaiError(Exception):
    """An OAI-PMH error: ``code`` is the protocol's (``badArgument``, ``noRecordsMatch``...),
    answered as an ``<error>`` element of a 200 response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _el(parent: etree._Element, tag: str, text: str | None = None, ns: str = OAI_NS,
        **attrs: str) -> etree._Element:
    e = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        e.text = text
    return e


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str, name: str, end: bool) -> tuple[datetime, str]:
    if _SECOND.match(value):
        fmt, gran = "%Y-%m-%dT%H:%M:%SZ", "second"
    elif _DAY.match(value):
        fmt, gran = "%Y-%m-%d", "day"
    else:
        raise OaiError("badArgument", f"{name} must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
    try:
        t = datetime.strptime(value, fmt).replace(tzinfo=UTC)
    except ValueError:
        raise OaiError("badArgument", f"{name} is not a valid date") from None
    if end:  # until is inclusive at its granularity: everything before the next tick
        t += timedelta(days=1) if gran == "day" else timedelta(seconds=1)
    return t, gran


def _envelope(base: str) -> tuple[etree._Element, etree._Element]:
    """The ``OAI-PMH`` root with its ``responseDate``, and its ``request`` element."""
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={None: OAI_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation",
             f"{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
    _el(root, "responseDate", _stamp(datetime.now(UTC)))
    request = _el(root, "request", f"{base}/oai")
    return root, request


def error_document(base: str, code: str, message: str) -> bytes:
    """A complete OAI-PMH error response (``badArgument``, ...) echoing only the base URL.

    Used by the app's error contract for requests refused before the OAI handler runs.
    """
    root, _ = _envelope(base.rstrip("/"))
    _el(root, "error", _UNSAFE.sub("?", message), code=code)
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return document


class Oai:
    """One OAI-PMH request against the FAIR context."""

    def __init__(self, ctx: FairContext) -> None:
        self.ctx = ctx
        self.cfg: FairConfig = ctx.cfg
        self.repo_id = urlparse(self.cfg.base).hostname or "nufair"

    # ------------------------------------------------------------------ envelope

    def respond(self, args: list[tuple[str, str]]) -> bytes:
        """The response document to the arguments ``args`` (in order, repeats kept): the
        verb's answer, or an ``<error>`` with the request echoed as the spec says."""
        root, request = _envelope(self.cfg.base)
        try:
            params = self._check(args)
            for k, v in params.items():
                request.set(k, v)
            getattr(self, params["verb"])(root, params)
        except OaiError as exc:
            if exc.code in ("badVerb", "badArgument"):
                request.attrib.clear()  # the spec: echo only the base URL then
            _el(root, "error", exc.message, code=exc.code)
        document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return document

    def _check(self, args: list[tuple[str, str]]) -> dict[str, str]:
        for k, v in args:
            if _UNSAFE.search(k) or _UNSAFE.search(v):
                raise OaiError("badArgument",
                               "arguments must not contain control characters or NUL")
        params: dict[str, str] = {}
        for k, v in args:
            if k in params:
                raise OaiError("badVerb" if k == "verb" else "badArgument",
                               f"argument {k} is repeated")
            params[k] = v
        verb = params.get("verb")
        if verb not in VERBS:
            raise OaiError("badVerb", f"illegal or missing verb {verb!r}")
        required, optional = VERBS[verb]
        given = set(params) - {"verb"}
        if "resumptionToken" in given and verb in ("ListIdentifiers", "ListRecords", "ListSets"):
            if given != {"resumptionToken"}:
                raise OaiError("badArgument", "resumptionToken is an exclusive argument")
            return params
        missing, extra = required - given, given - required - optional
        if missing or extra:
            raise OaiError("badArgument", f"missing {sorted(missing)}, illegal {sorted(extra)}")
        if "metadataPrefix" in params and params["metadataPrefix"] not in FORMATS:
            raise OaiError("cannotDisseminateFormat",
                           f"metadataPrefix {params['metadataPrefix']!r} is not offered")
        return params

    # --------------------------------------------------------------------- verbs

    def Identify(self, root: etree._Element, params: dict[str, str]) -> None:
        """The repository's name, base URL, earliest datestamp, deletion policy and granularity."""
        ident = _el(root, "Identify")
        _el(ident, "repositoryName", self.cfg.catalog_title)
        _el(ident, "baseURL", f"{self.cfg.base}/oai")
        _el(ident, "protocolVersion", "2.0")
        _el(ident, "adminEmail", self.cfg.admin_email)
        earliest = self.ctx.fair.earliest_datestamp() or datetime(2000, 1, 1, tzinfo=UTC)
        _el(ident, "earliestDatestamp", _stamp(earliest))
        _el(ident, "deletedRecord", "persistent")
        _el(ident, "granularity", "YYYY-MM-DDThh:mm:ssZ")

    def ListMetadataFormats(self, root: etree._Element,
                            params: dict[str, str]) -> None:
        """The offered formats; every item has all of them, so ``identifier`` is only checked."""
        if "identifier" in params:
            self._find(params["identifier"])
        formats = _el(root, "ListMetadataFormats")
        for prefix, (schema, ns) in FORMATS.items():
            fmt = _el(formats, "metadataFormat")
            _el(fmt, "metadataPrefix", prefix)
            _el(fmt, "schema", schema)
            _el(fmt, "metadataNamespace", ns)

    def ListSets(self, root: etree._Element, params: dict[str, str]) -> None:
        """The fixed sets by stream, catalogue and retraction; never paged."""
        if "resumptionToken" in params:
            raise OaiError("badResumptionToken", "ListSets is never split into pages")
        sets = _el(root, "ListSets")
        for spec, name in SETS.items():
            s = _el(sets, "set")
            _el(s, "setSpec", spec)
            _el(s, "setName", name)

    def GetRecord(self, root: etree._Element, params: dict[str, str]) -> None:
        """One item, with its sets, in the asked format."""
        row = self._find(params["identifier"])
        stream, icecat = self.ctx.fair.item_memberships(row.event_pk)
        item = HarvestItem(doi=row, stream=stream, in_icecat1=icecat)
        self._record(_el(root, "GetRecord"), item, params["metadataPrefix"])

    def ListIdentifiers(self, root: etree._Element, params: dict[str, str]) -> None:
        """A page of headers of the selected items."""
        self._list(root, params, "ListIdentifiers")

    def ListRecords(self, root: etree._Element, params: dict[str, str]) -> None:
        """A page of records (header and metadata) of the selected items."""
        self._list(root, params, "ListRecords")

    # ------------------------------------------------------------------- helpers

    def identifier(self, row: DoiRead) -> str:
        """The OAI identifier of a DOI: ``oai:<host of the base URL>:<DOI suffix>``."""
        return f"oai:{self.repo_id}:{row.suffix}"

    def _find(self, identifier: str) -> DoiRead:
        prefix = f"oai:{self.repo_id}:"
        row = None
        if identifier.startswith(prefix):
            row = self.ctx.fair.find_suffix(identifier[len(prefix):])
        if row is None:
            raise OaiError("idDoesNotExist", f"no item {identifier}")
        return row

    def _list(self, root: etree._Element, params: dict[str, str], verb: str) -> None:
        query = _query(params)
        since, until = _window(query)
        after = None
        if query["a"]:
            after = (datetime.fromisoformat(query["a"][0]), int(query["a"][1]))
        size = self.cfg.oai_page_size
        items = self.ctx.fair.harvest_page(since=since, until=until, set_spec=query["s"],
                                           after=after, limit=size + 1)
        if not items and after is None:
            raise OaiError("noRecordsMatch", "no item matches the request")
        more = len(items) > size
        items = items[:size]
        container = _el(root, verb)
        for item in items:
            if verb == "ListIdentifiers":
                self._header(container, item)
            else:
                self._record(container, item, query["p"])
        if more or query["n"]:
            token = _el(container, "resumptionToken", cursor=str(query["n"]))
            if more:
                last = items[-1].doi
                nxt = dict(query, a=[last.updated_at.isoformat(), last.id],
                           n=query["n"] + len(items))
                token.text = encode_token(nxt)

    def _header(self, parent: etree._Element, item: HarvestItem) -> None:
        row = item.doi
        header = _el(parent, "header")
        _el(header, "identifier", self.identifier(row))
        _el(header, "datestamp", _stamp(row.updated_at))
        specs = [f"stream:{item.stream}"] if f"stream:{item.stream}" in SETS else []
        if item.in_icecat1:
            specs.append("catalog:icecat1")
        if row.withdrawn_at is not None:
            specs.append("status:retracted")
        for spec in specs:
            _el(header, "setSpec", spec)

    def _record(self, parent: etree._Element, item: HarvestItem, prefix: str) -> None:
        record = _el(parent, "record")
        self._header(record, item)
        rec = self.ctx.records.for_event(item.doi.event_pk, focus=item.doi)
        metadata = _el(record, "metadata")
        metadata.append(render_metadata(rec, self.cfg, prefix))


def _query(params: dict[str, str]) -> dict[str, Any]:
    """The list request as a token's query: the token's own, or a first page's from the
    arguments (``p`` prefix, ``f`` from, ``u`` until, ``s`` set, ``a`` after, ``n`` cursor)."""
    if "resumptionToken" in params:
        return decode_token(params["resumptionToken"])
    return {"p": params["metadataPrefix"], "f": params.get("from"),
            "u": params.get("until"), "s": params.get("set"), "a": None, "n": 0}


def _window(query: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The query's ``from`` (inclusive) and ``until`` (exclusive) times, with its set
    checked; ``badArgument`` or ``noRecordsMatch`` where the spec asks for them."""
    since = until = None
    grans = set()
    if query["f"]:
        since, g = _parse_time(query["f"], "from", end=False)
        grans.add(g)
    if query["u"]:
        until, g = _parse_time(query["u"], "until", end=True)
        grans.add(g)
    if len(grans) > 1:
        raise OaiError("badArgument", "from and until have different granularities")
    if since and until and since >= until:
        raise OaiError("badArgument", "from is after until")
    if query["s"] is not None and query["s"] not in SETS:
        # An unknown set is an empty selection (the spec lists no error of its own).
        raise OaiError("noRecordsMatch", f"set {query['s']!r} does not exist")
    return since, until


def encode_token(query: dict[str, Any]) -> str:
    """The resumption token of ``query``: its compact JSON, URL-safe base64 without padding."""
    raw = json.dumps(query, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """The query inside a token, checked field by field (a token is client input);
    ``badResumptionToken`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        query = json.loads(raw)
        if not isinstance(query, dict) or set(query) != {"p", "f", "u", "s", "a", "n"}:
            raise ValueError("shape")
        if not isinstance(query["p"], str) or query["p"] not in FORMATS \
                or type(query["n"]) is not int or query["n"] < 0:
            raise ValueError("fields")
        if any(query[k] is not None and (not isinstance(query[k], str)
                                         or _UNSAFE.search(query[k])) for k in "fus"):
            raise ValueError("from, until and set are strings")
        if query["a"] is not None:
            when, pk = query["a"]
            datetime.fromisoformat(when)
            if type(pk) is not int or not 0 < pk < 2**63:
                raise ValueError("position")
        return query
    except (ValueError, TypeError, IndexError, KeyError, binascii.Error,
            UnicodeDecodeError) as exc:
        raise OaiError("badResumptionToken", "the resumption token is not valid") from exc


async def _respond(ctx: FairContext, args: list[tuple[str, str]]) -> Response:
    body = await run_in_threadpool(Oai(ctx).respond, args)
    return Response(body, media_type="text/xml; charset=utf-8")


@router.get("/oai")
async def oai_get(request: Request, ctx: Ctx) -> Response:
    """OAI-PMH over GET: the arguments are the query string."""
    return await _respond(ctx, list(request.query_params.multi_items()))


@router.post("/oai")
async def oai_post(request: Request, ctx: Ctx) -> Response:
    """OAI-PMH over POST: the arguments are the form-encoded body (any other body: badVerb)."""
    ctype = request.headers.get("content-type", "")
    body = (await request.body()).decode("utf-8", errors="replace")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return await _respond(ctx, [("verb", "")])  # → badVerb: POST must be form-encoded
    return await _respond(ctx, parse_qsl(body, keep_blank_values=True))
