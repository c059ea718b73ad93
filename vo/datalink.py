"""DataLink 1.1: links of each alert revision, and the service descriptor of results.

An ID is a publisher DID ``ivo://nufair/alerts?<alert_id>/<revision>`` (as in the TAP column
``obs_publisher_did``), or ``ivo://nufair/alerts?<alert_id>`` or the bare ``<alert_id>``
for the current revision. Every answer with a DID column gets the service descriptor: TAP
results (aliased or not, uploads joined included) and cone searches.
Rows come from what is stored, for the revision asked: the artifacts table (skymaps, MOC
files, plots; each at its one URL under the landing page of its version,
``/records/{key}/files/{name}``, with its size), the notices made for the revision (GCN
JSON, VOEvent, circular draft: ``/records/{key}/notices/{id}``, with their size), the
version's landing page and JSON record (``#this`` when there is no skymap), the page of
every revision, the region tiles (MOCs served by ``/datalink/moc``, linked as MOC 2.0
FITS) and the counterpart candidates (``#counterpart``: the REST list of issue 19).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from catalog.fair.config import file_url
from vo.config import VoConfig
from vo.datasets import Dataset
from vo.formats.fields import FieldSpec, xml_attr
from vo.tables import ColumnInfo, all_tables

DID_PREFIX = "ivo://nufair/alerts?"
_DID = re.compile(r"^ivo://nufair/alerts\?(\d+)(?:/(\d+))?$")
_ALERT_ID = re.compile(r"^\d{1,18}$")

#: Artifact role → (semantics, description). Roles the catalog does not know yet are
#: listed as #auxiliary.
ROLE_SEMANTICS = {
    "skymap-fits": ("#this", "Likelihood skymap (HEALPix FITS)"),
    "skymap-multiorder": ("#this", "Likelihood skymap (multi-order HEALPix FITS)"),
    "skymap-png": ("#preview", "Sky plot of the localisation"),
    "preview": ("#preview", "Sky plot of the localisation"),
    "moc50": ("#coverage", "50 % region as a MOC (FITS)"),
    "moc90": ("#coverage", "90 % region as a MOC (FITS)"),
    "voevent": ("#auxiliary", "VOEvent 2.0 notice"),
    "gcn-json": ("#auxiliary", "GCN JSON notice"),
}

#: Notice format → what it is called in a link's description.
NOTICE_NAMES = {"gcn-json": "GCN JSON notice", "voevent": "VOEvent 2.0 notice",
                "circular": "GCN circular draft"}

FIELDS = [
    FieldSpec("ID", "char", "*", ucd="meta.id;meta.main", description="Input identifier"),
    FieldSpec("access_url", "char", "*", ucd="meta.ref.url", description="Link to the data"),
    FieldSpec("service_def", "char", "*", ucd="meta.ref", description="Service descriptor"),
    FieldSpec("error_message", "char", "*", ucd="meta.code.error",
              description="Why the link could not be made"),
    FieldSpec("semantics", "char", "*", ucd="meta.code",
              description="What the link is, from http://www.ivoa.net/rdf/datalink/core"),
    FieldSpec("description", "char", "*", ucd="meta.note", description="Human-readable text"),
    FieldSpec("content_type", "char", "*", ucd="meta.code.mime", description="Media type"),
    FieldSpec("content_length", "long", None, unit="byte", ucd="phys.size;meta.file",
              description="Size of the linked resource"),
    FieldSpec("content_qualifier", "char", "*", ucd="meta.code.class",
              description="What the linked resource holds"),
    FieldSpec("local_semantics", "char", "*", ucd="meta.code",
              description="Local name of the link"),
    FieldSpec("link_auth", "char", "*", ucd="meta.code", description="Authentication"),
    FieldSpec("link_authorized", "boolean", None, ucd="meta.code",
              description="Whether this request may follow the link"),
]


@dataclass(frozen=True, slots=True)
class DatasetId:
    """An ID parameter as given (``raw``) and the alert revision it names, if any
    (``alert_id`` None: not an ID of this service; ``revision`` None: the current one)."""

    raw: str
    alert_id: int | None
    revision: int | None


def parse_id(raw: str) -> DatasetId:
    """The :class:`DatasetId` of an ID parameter (never raises): a publisher DID, or a
    bare alert id (the ``alert_id`` column), which names the current revision."""
    text = raw.strip()
    if _ALERT_ID.match(text):
        return DatasetId(raw, int(text), None)
    m = _DID.match(text)
    if m is None:
        return DatasetId(raw, None, None)
    return DatasetId(raw, int(m.group(1)), int(m.group(2)) if m.group(2) else None)


#: The published columns whose values are DataLink IDs: the publisher DIDs. (Not
#: ``alert_id``, though the service takes it as an ID: pyvo's ``iter_datalinks`` matches
#: the answer's ID text with the column's values, and a number never matches.)
_PUBLISHED_IDS = frozenset(c for t in all_tables() for c in t.columns
                           if c.name == "obs_publisher_did")


def id_column(metas: Sequence[ColumnInfo | None]) -> int | None:
    """Which output column (by position) a result's DataLink IDs come from: the first
    published ``obs_publisher_did``, under any alias; None when there is none (an
    uploaded column of the same name is not one)."""
    return next((i for i, m in enumerate(metas) if m is not None and m in _PUBLISHED_IDS),
                None)


def _row(ident: str, url: str | None = None, semantics: str = "#this", description: str = "",
         content_type: str | None = None, length: int | None = None, error: str | None = None,
         local: str | None = None) -> list[object]:
    return [ident, url, None, error, semantics, description or None, content_type, length,
            None, local, "false", True if error is None else None]


def link_rows(ident: DatasetId, ds: Dataset | None, cfg: VoConfig) -> list[list[object]]:
    """The DataLink rows of one ID (an error row when it is unknown), in this order: the
    stored files, the notices, the revision's own pages (``#this`` when it has no skymap),
    the page of every revision, the MOCs and the counterpart candidates."""
    if ident.alert_id is None:
        return [_row(ident.raw, semantics="#this",
                     error=f"UsageFault: {ident.raw!r} is not an ID of this service "
                           f"(expected {DID_PREFIX}<alert_id>[/<revision>])")]
    if ds is None:
        return [_row(ident.raw, semantics="#this",
                     error=f"NotFoundFault: no alert revision {ident.raw}")]
    base = cfg.base_url.rstrip("/")
    rows = _file_rows(ident.raw, ds, base)
    rows += _notice_rows(ident.raw, ds, base)
    has_this = any(r[4] == "#this" for r in rows)
    rows += _page_rows(ident.raw, ds, base, "#documentation" if has_this else "#this")
    rows += _moc_rows(ident.raw, ds, base)
    if any(ds.has_moc.values()):
        rows.append(_row(ident.raw, f"{base}/api/v1/events/{ds.alert_id}/counterparts"
                         f"?revision={ds.revision}", "#counterpart",
                         "Counterpart candidates: catalogued sources (Fermi-LAT 4FGL-DR4, "
                         f"...) in the 50 % / 90 % regions of revision {ds.revision} "
                         "(JSON list)", "application/json", local="counterparts"))
    return rows


def _file_rows(ident: str, ds: Dataset, base: str) -> list[list[object]]:
    """Rows of the stored files (skymaps, MOC files, plots), with their sizes."""
    rows: list[list[object]] = []
    for a in ds.artifacts:
        semantics, text = ROLE_SEMANTICS.get(a.role, ("#auxiliary", a.role))
        if a.landing_key is None:  # its version has no DOI yet: nowhere to serve it from
            rows.append(_row(ident, semantics=semantics, description=text,
                             error=f"NotFoundFault: {a.filename} is not published yet",
                             local=a.role))
            continue
        # Every stored file has one URL: under the landing page of its version.
        rows.append(_row(ident, file_url(base, a.landing_key, a.filename), semantics,
                         text, a.media_type, a.size_bytes, local=a.role))
    return rows


def _notice_rows(ident: str, ds: Dataset, base: str) -> list[list[object]]:
    """Rows of the notices made for the revision (its exact bytes, under its record)."""
    key = ds.version_key or ds.concept_key
    rows: list[list[object]] = []
    for n in ds.notices:
        text = f"{NOTICE_NAMES.get(n.format, n.format)} of revision {ds.revision}"
        local = f"notice-{n.format}"
        if key is None:
            rows.append(_row(ident, semantics="#auxiliary", description=text, local=local,
                             error=f"NotFoundFault: {n.filename} is not published yet"))
            continue
        rows.append(_row(ident, f"{base}/records/{quote(key, safe='')}/notices/{n.id}",
                         "#auxiliary", text, n.media_type, n.size, local=local))
    return rows


def _page_rows(ident: str, ds: Dataset, base: str, own: str) -> list[list[object]]:
    """The revision's own landing page and JSON record (semantics ``own``: ``#this``
    when the revision has no skymap), then the landing page of every revision."""
    name = ds.name or ds.alert_id
    rows: list[list[object]] = []
    if ds.version_key is not None:
        rows.append(_row(ident, f"{base}/records/{quote(ds.version_key, safe='')}", own,
                         f"Landing page of {name}, revision {ds.revision}", "text/html",
                         local="version-page"))
    rows.append(_row(ident, f"{base}/api/v1/events/{ds.alert_id}/revisions/{ds.revision}",
                     "#this" if own == "#this" else "#auxiliary",
                     f"Record of {name}, revision {ds.revision} (JSON)", "application/json",
                     local="version-record"))
    if ds.concept_key is not None:
        rows.append(_row(ident, f"{base}/records/{ds.alert_id}", "#documentation",
                         f"Landing page of {name} (every revision)", "text/html",
                         local="landing-page"))
    return rows


def _moc_rows(ident: str, ds: Dataset, base: str) -> list[list[object]]:
    """The regions as MOC 2.0 FITS, made from the stored tiles (``/datalink/moc``)."""
    rows: list[list[object]] = []
    for level, present in sorted(ds.has_moc.items()):
        if present:
            # FITS, the MOC 2.0 form every client reads (mocpy's MOC.from_url, Aladin,
            # TOPCAT); the same URL answers ASCII or JSON with another RESPONSEFORMAT.
            rows.append(_row(ident, f"{base}/datalink/moc?ID={DID_PREFIX}{ds.alert_id}/"
                             f"{ds.revision}&LEVEL={level}&RESPONSEFORMAT=fits", "#coverage",
                             f"{level} % region as a MOC 2.0 (FITS; RESPONSEFORMAT=ascii "
                             "or json for the other forms)", "application/fits",
                             local=f"moc{level}"))
    return rows


@functools.lru_cache(maxsize=64)
def service_descriptor(cfg: VoConfig, ref: str) -> str:
    """RESOURCE type=meta utype=adhoc:service pointing a results column at /datalink (XML
    text for :func:`vo.formats.votable.votable`; the same for every result, hence cached)."""
    url = xml_attr(cfg.base_url.rstrip("/") + "/datalink")
    return ('<RESOURCE ID="datalink_service" type="meta" utype="adhoc:service">\n'
            '<PARAM name="standardID" datatype="char" arraysize="*" '
            'value="ivo://ivoa.net/std/DataLink#links-1.1"/>\n'
            f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{url}"/>\n'
            '<GROUP name="inputParams">\n'
            f'<PARAM name="ID" datatype="char" arraysize="*" value="" ref="{xml_attr(ref)}" '
            'ucd="meta.id;meta.main"/>\n'
            "</GROUP>\n</RESOURCE>\n")
