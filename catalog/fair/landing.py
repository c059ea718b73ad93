"""Landing pages (``/records/{id}``): HTML for people, the same URL for machines.

``id`` is a DOI suffix (concept or version) or an event key (name, run_event: its concept
record). Every response carries FAIR Signposting ``Link`` headers and ``Vary: Accept``.
The page of a simulated event opens with a banner saying it is not a real observation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from catalog.counterparts.landing import landing_context as counterparts_view
from catalog.errors import NotFound
from catalog.fair import (
    citation,
    datacite,
    dcat,
    describe,
    jsonld,
    record_view,
    signposts,
    skyplot,
    skyview,
)
from catalog.fair.config import LICENSE_URL, FairConfig
from catalog.fair.http import (
    TEMPLATES,
    FairContext,
    FairRoute,
    accept_param,
    content_digest,
    digest_from_hex,
    get_fair,
    negotiate,
)
from catalog.fair.ranges import byte_range
from catalog.fair.records import AlertRecord
from catalog.fair.render_cache import RENDERINGS, fingerprint
from catalog.storage.fair import ArtifactRead
from catalog.storage.fair_pages import notice_bytes, notices_of_event

router = APIRouter(include_in_schema=False, route_class=FairRoute)
Ctx = Annotated[FairContext, Depends(get_fair)]

#: Printable text only: keys, formats, file names and DOIs never hold control characters.
TEXT = r"^[^\x00-\x1f\x7f]*$"
#: A record key (DOI suffix, event name or run_event).
Key = Annotated[str, Path(max_length=128, pattern=TEXT)]
#: Largest value a PostgreSQL bigint holds (artifact ids are bigints).
BIGINT_MAX = 2**63 - 1

#: Representations of ``/records/{id}`` by media type → export key (None: the HTML page).
NEGOTIABLE: dict[str, str | None] = {
    "text/html": None,
    "application/ld+json": "json-ld",
    "application/vnd.datacite.datacite+xml": "datacite-xml",
    "application/vnd.datacite.datacite+json": "datacite-json",
    "text/turtle": "dcat-ttl",
    "application/x-bibtex": "bibtex",
    "application/vnd.citationstyles.csl+json": "csl-json",
    "application/x-research-info-systems": "ris",
    "application/linkset+json": "linkset",
    "application/xhtml+xml": None,
    "application/xml": "datacite-xml",
    "application/rdf+xml": "dcat-rdfxml",
    "text/x-bibliography": "bibliography",
    "application/json": "json-ld",  # JSON-LD is JSON: what a plain JSON client gets
}
#: Metadata exports listed, with their size and checksum, as distributions in the JSON-LD.
SIZED_EXPORTS = ("datacite-xml", "datacite-json", "dcat-ttl")


def full_jsonld(rec: AlertRecord, cfg: FairConfig) -> dict[str, Any]:
    """The record's JSON-LD with its other metadata exports sized and checksummed.

    Kept for the record's next view while the record is unchanged
    (:mod:`catalog.fair.render_cache`): the dict is shared, callers only read it.
    """
    return _full_jsonld(rec, cfg, fingerprint(rec))


def _full_jsonld(rec: AlertRecord, cfg: FairConfig, print_: bytes) -> dict[str, Any]:
    def make() -> dict[str, Any]:
        bodies = [(fmt, signposts.EXPORT_TYPES[fmt][0], _export(rec, cfg, fmt, None, print_))
                  for fmt in SIZED_EXPORTS]
        return jsonld.to_jsonld(rec, cfg, bodies)

    return RENDERINGS.get(("full-json-ld", cfg, print_), make)


def _export(rec: AlertRecord, cfg: FairConfig, fmt: str, style: str | None,
            print_: bytes) -> bytes:
    """One export's body, kept while the record is unchanged (``print_``: its
    fingerprint)."""
    if fmt == "json-ld":
        return RENDERINGS.get((fmt, cfg, print_),
                              lambda: _json(_full_jsonld(rec, cfg, print_)))
    render = _RENDER[fmt]
    return RENDERINGS.get((fmt, style, cfg, print_), lambda: render(rec, cfg, style))


#: The renderers of the exports: (record, config, citation style) → body.
_RENDER: dict[str, Callable[[AlertRecord, FairConfig, str | None], bytes]] = {
    "datacite-xml": lambda rec, cfg, _: datacite.to_xml(rec, cfg),
    "datacite-json": lambda rec, cfg, _: _json(datacite.served_json(rec, cfg)),
    "json-ld": lambda rec, cfg, _: _json(full_jsonld(rec, cfg)),
    "dcat-ttl": lambda rec, cfg, _: _rdf(rec, cfg, "turtle"),
    "dcat-jsonld": lambda rec, cfg, _: _rdf(rec, cfg, "json-ld"),
    "dcat-rdfxml": lambda rec, cfg, _: _rdf(rec, cfg, "xml"),
    "bibtex": lambda rec, cfg, _: citation.to_bibtex(rec, cfg).encode(),
    "csl-json": lambda rec, cfg, _: _json(citation.to_csl(rec, cfg)),
    "ris": lambda rec, cfg, _: citation.to_ris(rec, cfg).encode(),
    "bibliography": lambda rec, cfg, style: (citation.bibliography(rec, cfg, style)
                                             + "\n").encode(),
}


def _rdf(rec: AlertRecord, cfg: FairConfig, rdf_format: str) -> bytes:
    return dcat.record_graph(rec, cfg).serialize(format=rdf_format).encode()


def render_export(rec: AlertRecord, cfg: FairConfig, fmt: str,
                  style: str | None = None) -> tuple[bytes, str]:
    """(body, media type) of one export of a record (``style``: of ``bibliography``),
    kept for the next request while the record is unchanged."""
    if fmt == "linkset":
        return _json(signposts.linkset(rec, cfg)), "application/linkset+json"
    if fmt not in _RENDER:
        raise NotFound(f"no export format {fmt!r}",
                       details={"available": sorted(signposts.EXPORT_TYPES)})
    return _export(rec, cfg, fmt, style, fingerprint(rec)), signposts.EXPORT_TYPES[fmt][0]


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


def _headers(links: list[signposts.Link], **extra: str) -> dict[str, str]:
    return {"Link": signposts.header(links), **extra}


def _page(request: Request, rec: AlertRecord, ctx: FairContext) -> Response:
    cfg = ctx.cfg
    rev = rec.revision
    others = [v.revision for v in rec.versions if v.revision.number != rev.number]
    cps = counterparts_view(ctx.fair.engine, rec.event.id, rev.number)
    view = {
        "title": describe.title(rec),
        "doi_url": cfg.doi_url(rec.focus.doi),
        "citation": citation.citation_text(rec, cfg),
        "published": describe.published(rec).strftime("%Y/%m/%d"),
        # JSON inside <script>: "</" would end the element early.
        "jsonld": json.dumps(full_jsonld(rec, cfg), ensure_ascii=False)
                  .replace("</", "<\\/"),
        "skyplot": skyplot.local_plot(rev, others, status=rec.event.status),
        # The reconstruction's own plot (likelihood map, contours), when a scan made one.
        "scan_png": next((rec.file_url(cfg, f)
                          for f in rec.files if f.role == "skymap-png"), None),
        "stream": describe.stream_label(rec.event.stream),
        "event_time": rec.event.event_time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        "issued": describe.iso(describe.issued(rec, rev)),
        "withdrawn_at": describe.iso(describe.withdrawn_at(rec)) if rec.withdrawn else None,
        "exports": {fmt: cfg.export_url(rec.key, fmt) for fmt in signposts.EXPORT_TYPES},
        "license_url": LICENSE_URL,
        "creator": describe.creator(rec, cfg).name,
        # A simulated event says so before anything else on its page.
        "simulated": describe.simulated_note(rec) if describe.is_simulated(rec, cfg) else None,
        "simulated_headline": describe.SIMULATED_HEADLINE,
        "caption": skyplot.caption(rev, len(others), rec.event.status),
        "revisions": record_view.revision_table(rec.event.revisions),
        "columns": [heading for heading, _ in record_view.COLUMNS],
        "circulars": record_view.circulars_about(rec.event.name),
        "notices": notices_of_event(ctx.fair.engine, rec.event.id),
        "counterparts": cps,
        # The interactive sky (Aladin Lite, served locally; the SVG above when scripts are
        # off): regions, other versions and the counterpart candidates.
        "sky": skyview.record_view(rev, others, [r.item for r in cps.rows],
                                   cfg.sky_survey, status=rec.event.status),
        "citations": [(citation.STYLE_NAMES[style], cfg.export_url(rec.key, "bibliography")
                       + f"?style={style}", citation.bibliography(rec, cfg, style))
                      for style in citation.STYLES],
    }
    response = TEMPLATES.TemplateResponse(request, "record.html",
                                          {"rec": rec, "r": rev, "cfg": cfg, "v": view})
    response.headers.update(_headers(signposts.landing_links(rec, cfg), Vary="Accept"))
    return response


@router.api_route("/records/{key}", methods=["GET", "HEAD"])
async def record(request: Request, ctx: Ctx, key: Key) -> Response:
    """The landing page, or another representation chosen by ``Accept``."""
    media = negotiate(request.headers.get("accept"), list(NEGOTIABLE))
    rec = await run_in_threadpool(ctx.records.load, key)
    fmt = NEGOTIABLE[media]
    if fmt is None:
        return await run_in_threadpool(_page, request, rec, ctx)
    style = accept_param(request.headers.get("accept"), media, "style")
    body, media_type = await run_in_threadpool(render_export, rec, ctx.cfg, fmt, style)
    if media == "application/xml":  # what was asked for: DataCite XML is XML
        media_type = "application/xml"
    links = signposts.landing_links(rec, ctx.cfg)
    return Response(body, media_type=media_type,
                    headers=_headers(links, Vary="Accept", **{
                        "Content-Location": ctx.cfg.export_url(rec.key, fmt)
                        if fmt != "linkset" else ctx.cfg.linkset_url(rec.key)}))


@router.api_route("/records/{key}/export/{fmt}", methods=["GET", "HEAD"])
async def export(ctx: Ctx, key: Key,
                 fmt: Annotated[str, Path(max_length=32, pattern=TEXT)],
                 style: Annotated[str | None, Query(max_length=64, pattern=TEXT)] = None
                 ) -> Response:
    """A stable URL per metadata format (``style``: of the formatted citation)."""
    rec = await run_in_threadpool(ctx.records.load, key)
    body, media_type = await run_in_threadpool(render_export, rec, ctx.cfg, fmt, style)
    ext = signposts.EXPORT_TYPES[fmt][1]
    return Response(body, media_type=media_type, headers=_headers(
        signposts.export_links(rec, ctx.cfg),
        **{"Content-Digest": content_digest(body),
           "Content-Disposition": f'inline; filename="{rec.key}.{ext}"'}))


@router.api_route("/records/{key}/linkset", methods=["GET", "HEAD"])
async def linkset(ctx: Ctx, key: Key) -> Response:
    """Signposting level 2: the record's links as an RFC 9264 JSON linkset."""
    rec = await run_in_threadpool(ctx.records.load, key)
    body = _json(signposts.linkset(rec, ctx.cfg))
    return Response(body, media_type="application/linkset+json",
                    headers={"Content-Digest": content_digest(body)})


@router.api_route("/records/{key}/notices/{notice_id}", methods=["GET", "HEAD"])
async def notice(ctx: Ctx, key: Key,
                 notice_id: Annotated[int, Path(gt=0, le=BIGINT_MAX)]) -> Response:
    """The exact bytes of a notice the pipeline made for one of the alert's revisions (GCN
    JSON, VOEvent, circular draft), with their SHA-256 as ``Content-Digest``."""
    rec = await run_in_threadpool(ctx.records.load, key)
    found = await run_in_threadpool(notice_bytes, ctx.fair.engine, rec.event.id, notice_id)
    if found is None:
        raise NotFound(f"record {key} has no notice {notice_id}")
    meta, body = found
    return Response(body, media_type=meta.media_type, headers=_headers(
        signposts.file_links(rec, ctx.cfg), **{
            "Content-Digest": content_digest(body),
            "Content-Disposition": f'inline; filename="{meta.filename}"'}))


@router.get("/records/{key}/skyplot.svg")
async def skyplot_svg(ctx: Ctx, key: Key) -> Response:
    """The SVG map of the shown revision's direction and error regions (see :mod:`skyplot`)."""
    rec = await run_in_threadpool(ctx.records.load, key)
    return Response(skyplot.local_plot(rec.revision, status=rec.event.status),
                    media_type="image/svg+xml")


@router.api_route("/records/{key}/files/{filename}", methods=["GET", "HEAD"])
async def download(ctx: Ctx, key: Key, request: Request,
                   filename: Annotated[str, Path(max_length=255, pattern=TEXT)]) -> Response:
    """A stored file, with its SHA-256 as ``Content-Digest`` and signposting links; one
    byte range of it on ``Range`` (206), from every store."""
    rec = await run_in_threadpool(ctx.records.load, key)
    art = next((f for f in rec.files if f.filename == filename), None)
    if art is None:
        raise NotFound(f"record {key} has no file {filename!r}",
                       details={"files": [f.filename for f in rec.files]})
    home = rec.file_url(ctx.cfg, art)
    if rec.file_key(art) != rec.key:
        # One URL per file: the concept record (or an event key) names the latest version's
        # files, but they live under their version, whose URL keeps its meaning.
        return RedirectResponse(home, status_code=307,
                                headers={"Link": f'<{home}> ; rel="canonical"'})
    # The whole file's digest: of the content, or of the representation when a part of it
    # may be asked for (RFC 9530).
    digest = "Repr-Digest" if "range" in request.headers else "Content-Digest"
    headers = _headers(signposts.file_links(rec, ctx.cfg), **{
        digest: digest_from_hex(art.sha256),
        "Content-Disposition": f'attachment; filename="{art.filename}"'})
    local = resolve_local(art, ctx.artifact_root, ctx.extra_roots)
    if local is not None:  # FileResponse answers Range itself
        return FileResponse(local, media_type=art.media_type, headers=headers)
    wanted = byte_range(request.headers.get("range"), art.size_bytes,
                        request.headers.get("if-range"))
    # Object stores (NUFAIR_ARTIFACTS_URL): opened before the response starts, so that a
    # missing object is a 404 rather than a body cut short.
    fh = await run_in_threadpool(_open_remote, art)
    first, last = wanted or (0, art.size_bytes - 1)
    if wanted is not None:
        await run_in_threadpool(fh.seek, first)
        headers["Content-Range"] = f"bytes {first}-{last}/{art.size_bytes}"

    def chunks() -> Any:
        left = last - first + 1
        try:
            while left > 0 and (block := fh.read(min(1 << 16, left))):
                left -= len(block)
                yield block
        finally:
            fh.close()

    return StreamingResponse(chunks(), status_code=206 if wanted else 200,
                             media_type=art.media_type,
                             headers={**headers, "Accept-Ranges": "bytes",
                                      "Content-Length": str(last - first + 1)})


def _open_remote(art: ArtifactRead) -> Any:
    import fsspec  # only when an artifact lives in an object store

    try:
        return fsspec.open(art.storage_url, "rb").open()
    except FileNotFoundError as exc:
        raise NotFound(f"file {art.filename!r} is not available") from exc


@router.api_route("/api/v1/artifacts/{artifact_id}", methods=["GET", "HEAD"])
async def artifact_by_id(ctx: Ctx,
                         artifact_id: Annotated[int, Path(gt=0, le=BIGINT_MAX)]) -> Response:
    """The former file URL (``healpix_url`` of notices already sent, DataLink rows already
    harvested): a permanent redirect to the file's URL under its landing page."""
    found = await run_in_threadpool(ctx.fair.artifact_location, artifact_id)
    if found is None:
        raise NotFound(f"no artifact {artifact_id}", details={"artifact": artifact_id})
    key, filename = found
    if key is None:
        raise NotFound(f"artifact {artifact_id} is not published under a record yet",
                       details={"artifact": artifact_id})
    return RedirectResponse(ctx.cfg.file_url(key, filename), status_code=308)


def resolve_local(art: ArtifactRead, root: FsPath, also: Sequence[FsPath] = ()
                  ) -> FsPath | None:
    """The local path of an artifact, refusing anything outside the artifact folders.

    ``file://`` URLs and bare relative paths are local; other schemes (``s3://``, ...) return
    None and are read through fsspec. Relative paths are taken from ``root``; an absolute
    one must lie in ``root`` or in one of ``also`` (a ``file://`` artifacts URL). ``..``,
    symlinks out of those folders and absolute paths elsewhere raise :class:`NotFound` (the
    file is not served, and nothing says why).
    """
    parsed = urlparse(art.storage_url)
    if parsed.scheme not in ("", "file"):
        return None
    raw = unquote(parsed.path) if parsed.scheme == "file" else art.storage_url
    roots = [r.resolve() for r in (root, *also)]
    path = ((roots[0] / raw).resolve() if not FsPath(raw).is_absolute()
            else FsPath(raw).resolve())
    if not any(path.is_relative_to(r) for r in roots) or not path.is_file():
        raise NotFound(f"file {art.filename!r} is not available")
    return path


@router.get("/doi/{prefix}/{suffix}")
async def resolve_doi(ctx: Ctx, prefix: Annotated[str, Path(max_length=64, pattern=TEXT)],
                      suffix: Key) -> Response:
    """The local DOI resolver: ``/doi/<prefix>/<suffix>`` → the landing page."""
    row = await run_in_threadpool(ctx.fair.find_suffix, suffix)
    if row is None:  # a DOI merged into another record resolves to that record
        merged = await run_in_threadpool(ctx.fair.merged_into, suffix)
        if merged is not None and merged[0] == f"{prefix}/{suffix}".lower():
            return RedirectResponse(ctx.cfg.record_url(merged[1].suffix), status_code=302)
    if row is None or row.doi != f"{prefix}/{suffix}".lower():
        raise NotFound(f"no DOI {prefix}/{suffix}")
    return RedirectResponse(ctx.cfg.record_url(row.suffix), status_code=302)
