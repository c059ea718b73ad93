"""DataLink 1.1: links of each alert revision, and the service descriptor in TAP results.

An ID is a publisher DID ``ivo://nufair/alerts?<alert_id>/<revision>`` (as in the TAP column
``obs_publisher_did``), or ``ivo://nufair/alerts?<alert_id>`` or the bare ``<alert_id>``
for the current revision; a TAP result with a DID column, aliased or not, gets the
service descriptor.
Rows come from what is stored: the artifacts table (skymaps, MOC files, VOEvent, GCN JSON;
each at its one URL under the landing page of its version, ``/records/{key}/files/{name}``),
the region tiles (MOCs served by ``/datalink/moc``, linked as MOC 2.0 FITS) and the
landing page ``/records/{id}``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

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
    """The DataLink rows of one ID (an error row when it is unknown)."""
    if ident.alert_id is None:
        return [_row(ident.raw, semantics="#this",
                     error=f"UsageFault: {ident.raw!r} is not an ID of this service "
                           f"(expected {DID_PREFIX}<alert_id>[/<revision>])")]
    if ds is None:
        return [_row(ident.raw, semantics="#this",
                     error=f"NotFoundFault: no alert revision {ident.raw}")]
    base = cfg.base_url.rstrip("/")
    rows: list[list[object]] = []
    has_this = False
    for a in ds.artifacts:
        semantics, text = ROLE_SEMANTICS.get(a.role, ("#auxiliary", a.role))
        has_this |= semantics == "#this"
        if a.landing_key is None:  # its version has no DOI yet: nowhere to serve it from
            rows.append(_row(ident.raw, semantics=semantics, description=text,
                             error=f"NotFoundFault: {a.filename} is not published yet",
                             local=a.role))
            continue
        # Every stored file has one URL: under the landing page of its version.
        rows.append(_row(ident.raw, file_url(base, a.landing_key, a.filename), semantics,
                         text, a.media_type, a.size_bytes, local=a.role))
    name = ds.name or ds.alert_id
    # The landing page of this version, known from its files' one URL (a version without
    # files yet links the page of every version instead).
    version = next((a.landing_key for a in ds.artifacts
                    if a.revision_number == ds.revision and a.landing_key is not None), None)
    semantics = "#documentation" if has_this else "#this"
    if version is not None:
        rows.append(_row(ident.raw, f"{base}/records/{version}", semantics,
                         f"Landing page of {name}, revision {ds.revision}", "text/html",
                         local="version-page"))
        semantics = "#documentation"
    rows.append(_row(ident.raw, f"{base}/records/{ds.alert_id}", semantics,
                     f"Landing page of {name} (every revision)", "text/html",
                     local="landing-page"))
    for level, present in sorted(ds.has_moc.items()):
        if present:
            # FITS, the MOC 2.0 form every client reads (mocpy's MOC.from_url, Aladin,
            # TOPCAT); the same URL answers ASCII or JSON with another RESPONSEFORMAT.
            rows.append(_row(ident.raw, f"{base}/datalink/moc?ID={DID_PREFIX}{ds.alert_id}/"
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
