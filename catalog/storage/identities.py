"""One event per real event when sources disagree on its event number.

A source can misprint an event number: the GCN AMON table files IceCube-201221A's Rev 0
under event 2917585, its Rev 1 and IceCat-1 under 29175858 (a digit lost). Two claimed
identities of one run are the same event when one number is the other with one digit lost,
their times agree within the sources' precision (two alerts of one run within 10 ms are
one event) and their directions within the larger 90 % radius. The event then keeps one
number:

1. the number of an event already stored (its DOIs and pages exist);
2. else the number IceCat-1 gives (the reviewed catalogue);
3. else the number of the latest notice (a later notice corrects an earlier one);
4. else the number claimed by more records, then the larger one.

A record moved to another number keeps its own claim in its provenance
(``event_id_claimed``); the event lists the disagreement among its ``conflicts``
(:func:`catalog.storage.histories.identity_conflicts`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from catalog.notices.parsed import NoticeRecord

#: The smallest direction tolerance (deg) when neither claim gives a 90 % radius.
MIN_POSITION_TOLERANCE_DEG = 1.0


@dataclass(frozen=True, slots=True)
class Claim:
    """One record's (or one stored revision's) claim of an event identity."""

    event_id: int
    time: datetime
    precision_s: float | None
    ra: float | None
    dec: float | None
    r90_deg: float | None
    stored: bool = False
    icecat: bool = False
    rev: int = -1


def claim_of(rec: NoticeRecord) -> Claim:
    """The identity ``rec`` claims, with what matching it needs."""
    r90 = rec.region(0.9)
    return Claim(rec.event_id, rec.event_time, rec.time_precision_s, rec.ra, rec.dec,
                 r90.radius_deg if r90 is not None else None,
                 icecat=rec.source.value == "icecat-1",
                 rev=rec.source_rev if rec.source_rev is not None else -1)


def _separation_deg(a: Claim, b: Claim) -> float:
    if a.ra is None or a.dec is None or b.ra is None or b.dec is None:
        return 0.0
    ra1, de1, ra2, de2 = map(math.radians, (a.ra, a.dec, b.ra, b.dec))
    h = (math.sin((de2 - de1) / 2) ** 2
         + math.cos(de1) * math.cos(de2) * math.sin((ra2 - ra1) / 2) ** 2)
    return math.degrees(2 * math.atan2(math.sqrt(h), math.sqrt(max(0.0, 1 - h))))


def same_event(a: Claim, b: Claim) -> bool:
    """Whether two claims of one run describe one event (see the module docstring)."""
    tol_s = max(a.precision_s or 1.0, b.precision_s or 1.0) + 1e-6
    if abs((a.time - b.time).total_seconds()) > tol_s:
        return False
    radii = [r for r in (a.r90_deg, b.r90_deg) if r is not None]
    return _separation_deg(a, b) <= max([*radii, MIN_POSITION_TOLERANCE_DEG])


def _rank(event_id: int, claims: list[Claim]) -> tuple[bool, bool, int, int, int]:
    mine = [c for c in claims if c.event_id == event_id]
    return (any(c.stored for c in mine), any(c.icecat for c in mine),
            max(c.rev for c in mine), len(mine), event_id)


def _dropped_digit(event_id: int) -> set[int]:
    """The numbers ``event_id`` becomes with one of its digits lost."""
    digits = str(event_id)
    return {int(digits[:k] + digits[k + 1:]) for k in range(len(digits)) if len(digits) > 1}


def _same_events(by_id: dict[int, list[Claim]]) -> list[list[int]]:
    """The numbers of ``by_id`` that name one event, in groups of two or more."""
    parent = {i: i for i in by_id}

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for longer in by_id:
        for shorter in _dropped_digit(longer) & by_id.keys():
            if any(same_event(a, b) for a in by_id[longer] for b in by_id[shorter]):
                parent[root(shorter)] = root(longer)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in by_id:
        groups[root(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def canonical_ids(claims: Sequence[Claim]) -> dict[int, int]:
    """Claimed event number -> the number its event keeps, for the claims of one run
    (numbers that keep their own are left out). Only a number that is another with one
    digit lost is a misprint (``29175858`` -> ``2917585``); a changed digit is another
    event."""
    by_id: dict[int, list[Claim]] = defaultdict(list)
    for c in claims:
        by_id[c.event_id].append(c)
    out = {}
    for members in _same_events(by_id) if len(by_id) > 1 else []:
        keep = max(members, key=lambda m: _rank(m, list(claims)))
        out.update({m: keep for m in members if m != keep})
    return out


def renumbered(rec: NoticeRecord, event_id: int) -> NoticeRecord:
    """``rec`` under event number ``event_id``, its own claim kept in its provenance."""
    old = f":{rec.run_id}:{rec.event_id}"
    key = rec.source_key
    if old in key:
        key = key.replace(old, f":{rec.run_id}:{event_id}", 1)
    return replace(rec, event_id=event_id, source_key=key,
                   extra={**rec.extra, "event_id_claimed": rec.event_id,
                          "event_id_kept": event_id, "source_key_claimed": rec.source_key})


def reconcile(records: Sequence[NoticeRecord],
              stored: dict[tuple[str, int], list[Claim]]) -> list[NoticeRecord]:
    """``records`` with every misnumbered one moved to its event's number; ``stored``: the
    stored revisions' claims of the records' runs, by (observatory, run)."""
    by_run: dict[tuple[str, int], list[Claim]] = defaultdict(list)
    for rec in records:
        by_run[(rec.observatory, rec.run_id)].append(claim_of(rec))
    moves: dict[tuple[str, int], dict[int, int]] = {}
    for run, claims in by_run.items():
        everything = claims + stored.get(run, [])
        if len({c.event_id for c in everything}) > 1:
            moves[run] = canonical_ids(everything)
    if not any(moves.values()):
        return list(records)
    out = []
    for rec in records:
        target = moves.get((rec.observatory, rec.run_id), {}).get(rec.event_id)
        out.append(rec if target is None else renumbered(rec, target))
    return out
