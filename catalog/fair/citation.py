"""Citation exports of a record: BibTeX, CSL-JSON and RIS (written by hand: each is a few
lines of a plain-text format, and the Python libraries for them target reading, not writing).

The author is :func:`describe.creator`: a simulated event credits the simulator, not a
collaboration."""

from __future__ import annotations

import re
from typing import Any

from catalog.errors import InvalidInput
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


def _parts(rec: AlertRecord, cfg: FairConfig) -> tuple[str, int, str, str, str]:
    """(creator, year, title, version phrase or "", DOI URL) of a formatted citation."""
    version = "" if rec.is_concept else str(rec.revision.number)
    return (describe.creator(rec, cfg).name, describe.published(rec).year,
            describe.title(rec), version, cfg.doi_url(rec.focus.doi))


def _apa(rec: AlertRecord, cfg: FairConfig) -> str:
    who, year, title, version, url = _parts(rec, cfg)
    v = f" (Version {version})" if version else ""
    return f"{who}. ({year}). {title}{v} [Data set]. {cfg.publisher}. {url}"


def _chicago(rec: AlertRecord, cfg: FairConfig) -> str:
    who, year, title, version, url = _parts(rec, cfg)
    v = f" Version {version}." if version else ""
    return f"{who}. {year}. “{title}.”{v} {cfg.publisher}. {url}."


def _ieee(rec: AlertRecord, cfg: FairConfig) -> str:
    who, year, title, version, _ = _parts(rec, cfg)
    v = f", version {version}" if version else ""
    return f"{who}, “{title},” {cfg.publisher}{v}, {year}. doi: {rec.focus.doi}."


def _harvard(rec: AlertRecord, cfg: FairConfig) -> str:
    who, year, title, version, url = _parts(rec, cfg)
    v = f" Version {version}." if version else ""
    return f"{who} ({year}) {title}.{v} {cfg.publisher}. Available at: {url}."


def _vancouver(rec: AlertRecord, cfg: FairConfig) -> str:
    who, year, title, version, url = _parts(rec, cfg)
    v = f" Version {version}." if version else ""
    return f"{who}. {title} [dataset].{v} {cfg.publisher}; {year}. Available from: {url}"


#: Citation styles of ``text/x-bibliography`` (the ``style`` parameter), written by hand: a
#: dataset citation is one line per style, and a CSL processor with its style files would
#: be a large dependency for it. Keys follow the CSL style names DataCite accepts.
STYLES = {"apa": _apa, "chicago-author-date": _chicago, "ieee": _ieee,
          "harvard-cite-them-right": _harvard, "vancouver": _vancouver}
DEFAULT_STYLE = "apa"
#: Human names of the styles (the landing page's citation choice).
STYLE_NAMES = {"apa": "APA", "chicago-author-date": "Chicago (author-date)", "ieee": "IEEE",
               "harvard-cite-them-right": "Harvard", "vancouver": "Vancouver"}


def bibliography(rec: AlertRecord, cfg: FairConfig, style: str | None = None) -> str:
    """The formatted citation of a record in ``style`` (APA by default), marked as retracted
    when it is; an unknown style is :class:`InvalidInput`."""
    style = (style or DEFAULT_STYLE).lower()
    if style not in STYLES:
        raise InvalidInput(f"unknown citation style {style!r}",
                           details={"available": sorted(STYLES)})
    text = STYLES[style](rec, cfg)
    return f"{text} [Retracted]" if rec.withdrawn else text
