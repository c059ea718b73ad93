"""The GCN circulars index: alert names as the circulars use them.

A circulars index (CSV ``Circular ID,Subject,Date``; the bundled one is the IceCube subset
of nasa-gcn/circulars-nlp-paper) carries no notices, only names: subjects such as
"IceCube-240327B: Fermi-LAT ..." or "IceCube-Cascade 211128A: Upper limits ...". Each name
found becomes a :class:`NameClaim`; storage gives it to the event of that day and series
(:mod:`catalog.storage.names`). The letter orders a day's alerts of one series (A first), so
two events of one day are told apart by the circulars even where a source named both the
same.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from catalog.importers._common import ParseReport, RejectedRow
from catalog.notices.parsed import NameClaim

HEADER_START = "Circular ID,Subject,Date"
"""How a circulars index begins (used to detect the format)."""

# "IceCube-240327B", "ICECUBE-160427A", "IceCube 160427A", "IceCube-Cascade 211128A",
# "IceCubeCascade-210416a".
_NAME = re.compile(r"\bIce\s?Cube[- ]?(Cascade)?[- ]?(\d{2})(\d{2})(\d{2})([A-Za-z])\b",
                   re.IGNORECASE)


def claim_of(match: re.Match[str], circular: int) -> NameClaim | None:
    """The name claim of one match of :data:`_NAME` (``None`` for an impossible date)."""
    cascade, yy, mm, dd, letter = match.groups()
    try:
        day = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return None
    stem = f"{yy}{mm}{dd}{letter.upper()}"
    name = f"IceCube-Cascade-{stem}" if cascade else f"IceCube-{stem}"
    return NameClaim(name=name, cascade=bool(cascade), day=day, letter=letter.upper(),
                     source=f"gcn-circular:{circular}")


def read_circulars_index(text: str) -> ParseReport:
    """Every distinct alert name in the subjects of a circulars index, first circular first.

    Rows without a circular number are left out with their line number; subjects naming no
    IceCube alert are simply not claims.
    """
    report = ParseReport()
    seen: dict[str, NameClaim] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        number = (row.get("Circular ID") or "").strip()
        if not number.isdigit():
            report.rejected.append(RejectedRow(line, f"circular number {number!r} is not one"))
            continue
        for match in _NAME.finditer(row.get("Subject") or ""):
            claim = claim_of(match, int(number))
            if claim is not None and claim.name not in seen:
                seen[claim.name] = claim
    report.names.extend(seen.values())
    return report
