"""Citation exports of a record: BibTeX, CSL-JSON and RIS (written by hand: each is a few
lines of a plain-text format, and the Python libraries for them target reading, not writing).

The author is :func:`describe.creator`: a simulated event credits the simulator, not a
collaboration."""

from __future__ import annotations

import re
from typing import Any

from catalog.fair import describe
from catalog.fair.config import FairConfig
from catalog.fair.records import AlertRecord


def citation_text(rec: AlertRecord, cfg: FairConfig) -> str:
    """The human citation: creator (year). title. Version n. publisher. DOI URL."""
    year = describe.published(rec).year
    version = "" if rec.is_concept else f" Version {rec.revision.number}."
    who = describe.creator(rec, cfg).name
    return (f"{who} ({year}). {describe.title(rec)}.{version} {cfg.publisher}. "
            f"{cfg.doi_url(rec.focus.doi)}")


def _bib_escape(text: str) -> str:
    return re.sub(r"([{}&%$#_])", r"\\\1", text)


def to_bibtex(rec: AlertRecord, cfg: FairConfig) -> str:
    """A BibTeX ``@misc`` entry, keyed by the record name and DOI suffix, with BibTeX's special
    characters escaped; versions carry ``version``, retracted records ``note = Retracted``."""
    key = re.sub(r"[^A-Za-z0-9]+", "_", f"{rec.name}_{rec.focus.suffix}")
    fields = {
        "author": "{" + _bib_escape(describe.creator(rec, cfg).name) + "}",
        "title": "{" + _bib_escape(describe.title(rec)) + "}",
        "publisher": _bib_escape(cfg.publisher),
        "year": str(describe.published(rec).year),
        "doi": rec.focus.doi,
        "url": cfg.doi_url(rec.focus.doi),
    }
    if not rec.is_concept:
        fields["version"] = str(rec.revision.number)
    if rec.withdrawn:
        fields["note"] = "Retracted"
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items())
    return f"@misc{{{key},\n{body}\n}}\n"


def to_csl(rec: AlertRecord, cfg: FairConfig) -> dict[str, Any]:
    """The CSL-JSON item (type ``dataset``) that citation managers import; ``status`` is
    ``retracted`` for a withdrawn record."""
    issued = describe.published(rec)
    item: dict[str, Any] = {
        "id": rec.focus.doi, "type": "dataset", "title": describe.title(rec),
        "author": [{"literal": describe.creator(rec, cfg).name}], "publisher": cfg.publisher,
        "issued": {"date-parts": [[issued.year, issued.month, issued.day]]},
        "DOI": rec.focus.doi, "URL": cfg.doi_url(rec.focus.doi),
        "abstract": describe.description(rec, cfg),
    }
    if not rec.is_concept:
        item["version"] = str(rec.revision.number)
    if rec.withdrawn:
        item["status"] = "retracted"
    return item


def to_ris(rec: AlertRecord, cfg: FairConfig) -> str:
    """The RIS record (type ``DATA``) with CRLF line ends, as the RIS format requires."""
    issued = describe.published(rec)
    lines = [("TY", "DATA"), ("AU", describe.creator(rec, cfg).name), ("TI", describe.title(rec)),
             ("PY", str(issued.year)), ("DA", issued.strftime("%Y/%m/%d")),
             ("PB", cfg.publisher), ("DO", rec.focus.doi), ("UR", cfg.doi_url(rec.focus.doi)),
             ("AB", describe.description(rec, cfg))]
    if not rec.is_concept:
        lines.append(("ET", str(rec.revision.number)))
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines)
