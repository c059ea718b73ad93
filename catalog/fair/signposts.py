"""FAIR Signposting (https://signposting.org/FAIR/): typed links of a record.

Level 1 as HTTP ``Link`` headers on the landing page, its files and its metadata exports;
level 2 as an RFC 9264 linkset (``application/linkset+json``) at its own URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.fair.config import LICENSE_URL, FairConfig
from catalog.fair.records import AlertRecord

#: Metadata exports: format key → (media type, file extension, signposted as describedby).
EXPORT_TYPES: dict[str, tuple[str, str]] = {
    "datacite-xml": ("application/vnd.datacite.datacite+xml", "xml"),
    "datacite-json": ("application/vnd.datacite.datacite+json", "json"),
    "json-ld": ("application/ld+json", "jsonld"),
    "dcat-ttl": ("text/turtle", "ttl"),
    "dcat-jsonld": ("application/ld+json; profile=\"http://www.w3.org/ns/dcat#\"", "jsonld"),
    "dcat-rdfxml": ("application/rdf+xml", "rdf"),
    "bibtex": ("application/x-bibtex", "bib"),
    "csl-json": ("application/vnd.citationstyles.csl+json", "json"),
    "ris": ("application/x-research-info-systems", "ris"),
    "bibliography": ("text/x-bibliography; charset=utf-8", "txt"),
}
#: The exports signposted as ``describedby`` (structured metadata, not citations).
DESCRIBED_BY = ("datacite-xml", "datacite-json", "json-ld", "dcat-ttl")
CREATOR_URI = "https://icecube.wisc.edu/"


@dataclass(frozen=True, slots=True)
class Link:
    """One typed link: target ``href``, relation ``rel`` and, when known, media ``type``."""
    href: str
    rel: str
    type: str | None = None


def landing_links(rec: AlertRecord, cfg: FairConfig) -> list[Link]:
    """Level-1 links of a landing page."""
    links = [Link(cfg.doi_url(rec.focus.doi), "cite-as"),
             Link("https://schema.org/Dataset", "type"),
             Link("https://schema.org/AboutPage", "type"),
             Link(CREATOR_URI, "author"),
             Link(LICENSE_URL, "license")]
    links += [Link(cfg.export_url(rec.key, fmt), "describedby", EXPORT_TYPES[fmt][0])
              for fmt in DESCRIBED_BY]
    links += [Link(rec.file_url(cfg, f), "item", f.media_type) for f in rec.files]
    links.append(Link(cfg.linkset_url(rec.key), "linkset", "application/linkset+json"))
    return links


def file_links(rec: AlertRecord, cfg: FairConfig) -> list[Link]:
    """Links of a content resource: its landing page and the record's citation."""
    return [Link(cfg.record_url(rec.key), "collection", "text/html"),
            Link(cfg.doi_url(rec.focus.doi), "cite-as"),
            Link(LICENSE_URL, "license"),
            Link(cfg.linkset_url(rec.key), "linkset", "application/linkset+json")]


def export_links(rec: AlertRecord, cfg: FairConfig) -> list[Link]:
    """Links of a metadata resource: what it describes."""
    return [Link(cfg.record_url(rec.key), "describes", "text/html"),
            Link(cfg.doi_url(rec.focus.doi), "cite-as"),
            Link(cfg.linkset_url(rec.key), "linkset", "application/linkset+json")]


def header(links: list[Link]) -> str:
    """An RFC 8288 ``Link`` header value."""
    parts = []
    for link in links:
        part = f'<{link.href}> ; rel="{link.rel}"'
        if link.type:
            part += f' ; type="{link.type.replace(chr(34), chr(39))}"'
        parts.append(part)
    return " , ".join(parts)


def linkset(rec: AlertRecord, cfg: FairConfig) -> dict[str, object]:
    """RFC 9264 JSON linkset: the landing page's links, and each item's back-links."""
    contexts: list[dict[str, object]] = []
    anchor: dict[str, object] = {"anchor": cfg.record_url(rec.key)}
    for link in landing_links(rec, cfg):
        if link.rel == "linkset":
            continue
        target: dict[str, str] = {"href": link.href}
        if link.type:
            target["type"] = link.type
        anchor.setdefault(link.rel, [])
        anchor[link.rel].append(target)  # type: ignore[attr-defined]
    contexts.append(anchor)
    for f in rec.files:
        contexts.append({"anchor": rec.file_url(cfg, f),
                         "collection": [{"href": cfg.record_url(rec.key), "type": "text/html"}]})
    for fmt in DESCRIBED_BY:
        contexts.append({"anchor": cfg.export_url(rec.key, fmt),
                         "describes": [{"href": cfg.record_url(rec.key), "type": "text/html"}]})
    return {"linkset": contexts}
