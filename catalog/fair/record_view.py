"""What a landing page shows beyond the record's metadata: the parameters of every revision
side by side (like GCN's AMON tables, changes highlighted), the GCN circulars about the alert
(from the bundled index) and the notices stored for each revision."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from catalog.models import RevisionPublic

CIRCULARS_CSV = Path(__file__).parent / "data" / "circulars.csv"
#: An IceCube alert name in a circular's subject: IceCube-200615A, IceCube 200615A, IC200615A.
_ALERT = re.compile(r"\b(?:IceCube|IC)[-\s_]?(\d{6}[A-Z])\b", re.IGNORECASE)
GCN_CIRCULAR_URL = "https://gcn.nasa.gov/circulars/{id}"


@dataclass(frozen=True, slots=True)
class Circular:
    """A GCN circular: its number, subject, day and URL."""

    id: int
    subject: str
    date: str

    @property
    def url(self) -> str:
        """The circular's page at GCN."""
        return GCN_CIRCULAR_URL.format(id=self.id)


@cache
def _circular_index() -> dict[str, tuple[Circular, ...]]:
    index: dict[str, list[Circular]] = defaultdict(list)
    with CIRCULARS_CSV.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            c = Circular(int(row["id"]), row["subject"], row["date"])
            for tag in {m.upper() for m in _ALERT.findall(c.subject)}:
                index[tag].append(c)
    return {k: tuple(sorted(v, key=lambda c: c.id)) for k, v in index.items()}


def circulars_about(name: str | None) -> tuple[Circular, ...]:
    """The circulars of the bundled index whose subject names alert ``name``, by number."""
    m = _ALERT.fullmatch(name or "")
    return _circular_index().get(m.group(1).upper(), ()) if m else ()


@dataclass(frozen=True, slots=True)
class Cell:
    """One value of the revision table, and whether it differs from the revision before."""

    text: str
    changed: bool = False


#: Columns of the revision table: (heading, how a revision's value is written).
def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _box(rev: RevisionPublic) -> str:
    b = rev.error90
    if b.ra_plus is None or b.dec_plus is None:
        return "—"
    return (f"RA +{b.ra_plus:.2f}/−{_fmt(b.ra_minus, '.2f')}, "
            f"Dec +{b.dec_plus:.2f}/−{_fmt(b.dec_minus, '.2f')}")


COLUMNS = (
    ("RA (°)", lambda r: _fmt(r.ra, ".3f")),
    ("Dec (°)", lambda r: _fmt(r.dec, "+.3f")),
    ("90 % errors (°)", _box),
    ("Energy (TeV)", lambda r: _fmt(r.energy_tev, ".0f")),
    ("Signalness", lambda r: _fmt(r.signalness, ".3f")),
    ("FAR (yr⁻¹)", lambda r: _fmt(r.far_per_year, ".3g")),
)


@dataclass(frozen=True, slots=True)
class RevisionRow:
    """A row of the revision table: the revision, its one-based position and its cells."""

    revision: RevisionPublic
    position: int
    cells: tuple[Cell, ...]


def revision_table(revisions: list[RevisionPublic]) -> tuple[RevisionRow, ...]:
    """Every revision's parameters, oldest first; a cell is ``changed`` when it differs from
    the same column of the revision before (a retraction changes nothing: it has none)."""
    rows: list[RevisionRow] = []
    before: tuple[str, ...] | None = None
    for i, rev in enumerate(revisions):
        texts = tuple(write(rev) for _, write in COLUMNS)
        retraction = rev.kind == "retraction"
        cells = tuple(Cell(t, changed=before is not None and not retraction and t != b)
                      for t, b in zip(texts, before or texts, strict=True))
        rows.append(RevisionRow(rev, i + 1, cells))
        if not retraction:
            before = texts
    return tuple(rows)
