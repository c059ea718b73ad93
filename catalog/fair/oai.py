"""OAI-PMH 2.0 at ``/oai``: six verbs over GET and POST, every error code, stateless tokens.

Each DOI (concept and version) is an item; its datestamp is the DOI's ``updated_at``, which
moves whenever its metadata does (a new version, a retraction). A retracted item stays a
full record, its metadata saying it was withdrawn (DataCite ``Withdrawn`` date, the reason
first in its description), as DataCite keeps a withdrawn DOI findable: harvesters keep it
rather than drop it. A DOI whose record was merged into another's (``doi_aliases``: two
stored events found to be one) is a deleted record: a header with ``status="deleted"``,
dated by the merge, in the sets of the record it now resolves to. Aliases are never removed,
so ``deletedRecord=persistent`` holds.
Resumption tokens carry the whole query and the keyset position, so they survive a restart
and need no server state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from catalog.fair.config import FairConfig
from catalog.fair.http import FairContext, get_fair
from catalog.fair.oai_metadata import FORMATS, XSI, render_metadata
from catalog.fair.oai_tokens import (
    UNSAFE,
    OaiError,
    encode_token,
    list_query,
    list_window,
)
from catalog.handlers.context import catalog_context
from catalog.schema.pids import DoiRead
from catalog.storage.fair_harvest import DeletedItem, HarvestItem, position

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
    "ivo_managed": "VO resources this repository manages (metadataPrefix ivo_vor only)",
}
#: The metadata format of VO resource records (IVOA Registry Interfaces 1.0).
IVO_VOR = ("ivo_vor", "http://www.ivoa.net/xml/RegistryInterface/v1.0",
           "http://www.ivoa.net/xml/RegistryInterface/v1.0")
VERBS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), set()),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}),
}


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A VO resource (the VO layer's services) harvested as ``ivo_vor`` in set
    ``ivo_managed``: its IVOA identifier (also its OAI identifier, as registries name
    records), the datestamp of its content's last change, and its ``ri:Resource`` element.

    Handed over by whoever publishes the services (:func:`vo.registry.oai_records`, given to
    the catalog's context by the app factory): the catalog does not know the VO layer.
    """

    identifier: str
    datestamp: datetime
    metadata: Callable[[], etree._Element]


def _el(parent: etree._Element, tag: str, text: str | None = None, ns: str = OAI_NS,
        **attrs: str) -> etree._Element:
    e = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        e.text = text
    return e


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(base: str, prefixed: bool = False) -> tuple[etree._Element, etree._Element]:
    """The ``OAI-PMH`` root with its ``responseDate``, and its ``request`` element.

    ``prefixed``: the OAI namespace has the prefix ``oai`` instead of being the default
    one, so that metadata in no namespace (VOResource's unqualified elements) stays in
    none (lxml writes no ``xmlns=""`` for an element moved under a default namespace).
    """
    nsmap: dict[str | None, str] = {"oai": OAI_NS} if prefixed else {None: OAI_NS}
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={**nsmap, "xsi": XSI})
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
    _el(root, "error", UNSAFE.sub("?", message), code=code)
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return document


class Oai:
    """One OAI-PMH request against the FAIR context."""

    def __init__(self, ctx: FairContext, services: tuple[ServiceRecord, ...] = ()) -> None:
        self.ctx = ctx
        self.services = {s.identifier: s for s in services}
        self.cfg: FairConfig = ctx.cfg
        self.repo_id = urlparse(self.cfg.base).hostname or "nufair"

    # ------------------------------------------------------------------ envelope

    def respond(self, args: list[tuple[str, str]]) -> bytes:
        """The response document to the arguments ``args`` (in order, repeats kept): the
        verb's answer, or an ``<error>`` with the request echoed as the spec says."""
        vor = any(k == "metadataPrefix" and v == IVO_VOR[0] for k, v in args) or (
            bool(self.services) and ("verb", "Identify") in args)
        root, request = _envelope(self.cfg.base, prefixed=vor)
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
            if UNSAFE.search(k) or UNSAFE.search(v):
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
        if "metadataPrefix" in params and params["metadataPrefix"] not in FORMATS \
                and not (params["metadataPrefix"] == IVO_VOR[0] and self.services):
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
        for service in self.services.values():  # a publishing registry's own record
            element = service.metadata()
            if element.get(f"{{{XSI}}}type") == "vg:Registry":
                _el(ident, "description").append(element)

    def ListMetadataFormats(self, root: etree._Element,
                            params: dict[str, str]) -> None:
        """The offered formats; every item has all of them, so ``identifier`` is only checked."""
        offered = dict(FORMATS)
        if self.services:
            offered[IVO_VOR[0]] = IVO_VOR[1:]
        if params.get("identifier") in self.services:
            offered = {IVO_VOR[0]: IVO_VOR[1:]}
        elif "identifier" in params and self._find_deleted(params["identifier"]) is None:
            self._find(params["identifier"])
            offered.pop(IVO_VOR[0], None)
        formats = _el(root, "ListMetadataFormats")
        for prefix, (schema, ns) in offered.items():
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
            if spec == "ivo_managed" and not self.services:
                continue
            s = _el(sets, "set")
            _el(s, "setSpec", spec)
            _el(s, "setName", name)

    def GetRecord(self, root: etree._Element, params: dict[str, str]) -> None:
        """One item, with its sets, in the asked format (a VO resource: only ivo_vor; a DOI:
        every format but ivo_vor)."""
        service = self.services.get(params["identifier"])
        if service is not None or params["metadataPrefix"] == IVO_VOR[0]:
            if service is None:
                self._find(params["identifier"])
            if service is None or params["metadataPrefix"] != IVO_VOR[0]:
                raise OaiError("cannotDisseminateFormat",
                               f"{params['metadataPrefix']} is not offered for this item")
            self._service_record(_el(root, "GetRecord"), service)
            return
        gone = self._find_deleted(params["identifier"])
        if gone is not None:
            self._record(_el(root, "GetRecord"), gone, params["metadataPrefix"])
            return
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

    def _find_deleted(self, identifier: str) -> DeletedItem | None:
        """The deleted item (an aliased DOI) of ``identifier``, if it is one."""
        prefix = f"oai:{self.repo_id}:"
        if not identifier.startswith(prefix):
            return None
        return self.ctx.fair.deleted_item(identifier[len(prefix):])

    def _list(self, root: etree._Element, params: dict[str, str], verb: str) -> None:
        query = list_query(params)
        since, until = list_window(query, SETS)
        if query["p"] == IVO_VOR[0] or query["s"] == "ivo_managed":
            self._list_services(root, query, (since, until), verb)
            return
        after = None
        if query["a"]:
            when, pk, *table = query["a"]
            after = (datetime.fromisoformat(when), table[0] if table else 0, int(pk))
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
                when, table, pk = position(items[-1])
                nxt = dict(query, a=[when.isoformat(), pk, *([table] if table else [])],
                           n=query["n"] + len(items))
                token.text = encode_token(nxt)

    def _list_services(self, root: etree._Element, query: dict[str, Any],
                       window: tuple[datetime | None, datetime | None], verb: str) -> None:
        """The VO resources in the window (never paged: a handful)."""
        since, until = window
        chosen = [s for s in self.services.values()
                  if query["p"] == IVO_VOR[0] and query["s"] in (None, "ivo_managed")
                  and (since is None or s.datestamp >= since)
                  and (until is None or s.datestamp < until)]
        if not chosen:
            raise OaiError("noRecordsMatch", "no item matches the request")
        container = _el(root, verb)
        for service in chosen:
            if verb == "ListIdentifiers":
                self._service_header(container, service)
            else:
                self._service_record(container, service)

    def _service_header(self, parent: etree._Element, service: ServiceRecord) -> None:
        header = _el(parent, "header")
        _el(header, "identifier", service.identifier)
        _el(header, "datestamp", _stamp(service.datestamp))
        _el(header, "setSpec", "ivo_managed")

    def _service_record(self, parent: etree._Element, service: ServiceRecord) -> None:
        record = _el(parent, "record")
        self._service_header(record, service)
        _el(record, "metadata").append(service.metadata())

    def _header(self, parent: etree._Element, item: HarvestItem | DeletedItem) -> None:
        """An item's header; an aliased DOI's says ``status="deleted"`` (module doc)."""
        if isinstance(item, DeletedItem):
            header = _el(parent, "header", status="deleted")
            _el(header, "identifier", f"oai:{self.repo_id}:{item.suffix}")
            _el(header, "datestamp", _stamp(item.updated_at))
            withdrawn = item.target.withdrawn_at is not None
        else:
            header = _el(parent, "header")
            _el(header, "identifier", self.identifier(item.doi))
            _el(header, "datestamp", _stamp(item.doi.updated_at))
            withdrawn = item.doi.withdrawn_at is not None
        specs = [f"stream:{item.stream}"] if f"stream:{item.stream}" in SETS else []
        if item.in_icecat1:
            specs.append("catalog:icecat1")
        if withdrawn:
            specs.append("status:retracted")
        for spec in specs:
            _el(header, "setSpec", spec)

    def _record(self, parent: etree._Element, item: HarvestItem | DeletedItem,
                prefix: str) -> None:
        """An item's record: its header and metadata (a deleted item: its header only)."""
        record = _el(parent, "record")
        self._header(record, item)
        if isinstance(item, DeletedItem):
            return
        rec = self.ctx.records.for_event(item.doi.event_pk, focus=item.doi)
        metadata = _el(record, "metadata")
        metadata.append(render_metadata(rec, self.cfg, prefix))


def service_records(request: Request) -> tuple[ServiceRecord, ...]:
    """The VO resources the app publishes (the catalog context's ``services``; none when
    the app has no VO layer)."""
    return catalog_context(request).services


async def _respond(ctx: FairContext, args: list[tuple[str, str]],
                   services: tuple[ServiceRecord, ...] = ()) -> Response:
    body = await run_in_threadpool(Oai(ctx, services).respond, args)
    return Response(body, media_type="text/xml; charset=utf-8")


@router.get("/oai")
async def oai_get(request: Request, ctx: Ctx) -> Response:
    """OAI-PMH over GET: the arguments are the query string."""
    return await _respond(ctx, list(request.query_params.multi_items()),
                          service_records(request))


@router.post("/oai")
async def oai_post(request: Request, ctx: Ctx) -> Response:
    """OAI-PMH over POST: the arguments are the form-encoded body (any other body: badVerb)."""
    ctype = request.headers.get("content-type", "")
    body = (await request.body()).decode("utf-8", errors="replace")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return await _respond(ctx, [("verb", "")])  # → badVerb: POST must be form-encoded
    return await _respond(ctx, parse_qsl(body, keep_blank_values=True),
                          service_records(request))
