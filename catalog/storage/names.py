"""Alert names from name claims (the GCN circulars index): each to the event it names.

A claim names the alert of one UTC day and series (tracks, or ``IceCube-Cascade``) with a
letter that orders that day's alerts, A first. The claims of a day are given to the day's
events in time order when they are as many as the events (or the one event of a day that
has one claim); otherwise the day is ambiguous and left as it is, and said so (a claimed
name one of that day's alerts already holds is confirmed, not reported). An event that
already has a name keeps it; a name already held by another event is not given twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from catalog.notices.parsed import NameClaim
from catalog.schema.events import events


@dataclass(slots=True)
class Naming:
    """What :func:`assign_names` did: names given, confirmed, and claims left unused (why)."""

    assigned: list[tuple[str, int]] = field(default_factory=list)
    confirmed: int = 0
    unused: list[tuple[str, str]] = field(default_factory=list)


_DayEvents = dict[tuple[bool, date], list[tuple[datetime, int, str | None]]]


def _events_of_days(conn: Connection, days: list[date]) -> _DayEvents:
    """(time, pk, name) of the events from the first to the last of ``days``, by (series,
    UTC day)."""
    lo = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC)
    hi = datetime.combine(days[-1], datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    found: _DayEvents = defaultdict(list)
    for row in conn.execute(select(events.c.id, events.c.name, events.c.stream,
                                   events.c.event_time)
                            .where(events.c.event_time >= lo, events.c.event_time < hi)):
        t = row.event_time.astimezone(UTC)
        found[(row.stream == "cascade", t.date())].append((t, row.id, row.name))
    return found


def assign_names(conn: Connection, claims: Sequence[NameClaim]) -> Naming:
    """Give each claimed name to the event it names (see the module docstring)."""
    out = Naming()
    if not claims:
        return out
    by_day: dict[tuple[bool, date], dict[str, NameClaim]] = defaultdict(dict)
    for claim in claims:
        by_day[(claim.cascade, claim.day)].setdefault(claim.letter, claim)
    found = _events_of_days(conn, sorted({d for _, d in by_day}))
    taken = set(conn.execute(select(events.c.name).where(
        events.c.name.in_([c.name for c in claims]))).scalars())
    changes = []
    for key, letters in sorted(by_day.items()):
        day_events = sorted(found.get(key, []))
        if len(letters) != len(day_events):
            why = (f"{len(letters)} name(s) claimed for {len(day_events)} alert(s) of "
                   f"{key[1]} in this series")
            held = {name for _, _, name in day_events}
            out.confirmed += sum(c.name in held for c in letters.values())
            out.unused += [(c.name, why) for c in letters.values() if c.name not in held]
            continue
        for (_, pk, name), letter in zip(day_events, sorted(letters), strict=True):
            claim = letters[letter]
            if name == claim.name:
                out.confirmed += 1
            elif name is not None:
                out.unused.append((claim.name, f"the alert is already named {name}"))
            elif claim.name in taken:
                out.unused.append((claim.name, "another alert holds this name"))
            else:
                taken.add(claim.name)
                changes.append({"pk": pk, "name": claim.name})
                out.assigned.append((claim.name, pk))
    if changes:
        conn.execute(update(events).where(events.c.id == bindparam("pk"))
                     .values(name=bindparam("name")), changes)
    return out
