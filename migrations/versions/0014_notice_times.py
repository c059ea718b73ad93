"""catalog: each migrated notice takes its own event time from the bundled sources

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:30:00

Issue 14. The old schema kept no per-revision event time, so migration 0009 gave every
revision its event's time, with no precision: a database migrated from it kept the old
(wrong) event time of an alert whose first stored row was not its first notice
(IceCube-241113A: 14:38:33, the Rev 1 row's time, instead of Rev 0's 00:22:20.68), while a
fresh import was right.

Here each revision whose time has no precision (set by 0009, not by an importer) and whose
notice is in the bundled sources (``catalog.sample``: IceCat-1, the GCN AMON tables, the
VOEvents, read by the importers) takes its own source's time and precision; each source's
values in its provenance take theirs, and the notice's conflicts are recomputed. Then every
touched event's time, precision, conflicts, current revision and status are set again by
the rules of :mod:`catalog.storage.histories`, and its revisions renumbered in history order
unless a version DOI already names one (DOI versions never change,
:func:`catalog.storage.histories.numbering`). Revisions of notices that are not bundled keep
their event's time; re-importing their source sets it (the import fills a time without
precision).
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from catalog.importers import iter_paths, parse_document, sample_paths
from catalog.storage import histories

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bundled() -> dict[tuple[str, str], tuple[datetime, float]]:
    """(source key, source) -> (event time, precision) of every bundled notice."""
    out: dict[tuple[str, str], tuple[datetime, float]] = {}
    for path in iter_paths(sample_paths()):
        for rec in parse_document(path.read_bytes(), filename=path.name):
            if rec.time_precision_s is not None:
                out.setdefault((rec.source_key, rec.source.value),
                               (rec.event_time, rec.time_precision_s))
    return out


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _retime(conn: sa.Connection) -> set[int]:
    """Give migrated revisions of bundled notices their own times; the events touched."""
    rows = conn.execute(sa.text(
        'SELECT id, event_pk, source, source_key, provenance FROM revisions '
        'WHERE time_precision_s IS NULL ORDER BY id')).all()
    known = _bundled() if rows else {}
    touched: set[int] = set()
    for r in rows:
        own = known.get((r.source_key, r.source))
        prov = dict(r.provenance or {})
        values = {s: dict(v) for s, v in (prov.get('values') or {}).items()}
        for source, v in values.items():
            found = known.get((r.source_key, source))
            if found is not None and v.get('time_precision_s') is None:
                v.update(event_time=found[0].isoformat(), time_precision_s=found[1])
        if own is None and values == (prov.get('values') or {}):
            continue
        prov['values'] = values
        conn.execute(sa.text(
            'UPDATE revisions SET event_time = coalesce(:t, event_time), '
            'time_precision_s = :p, provenance = CAST(:prov AS jsonb), '
            'conflicts = CAST(:c AS jsonb) WHERE id = :id'),
            {'t': own[0] if own else None, 'p': own[1] if own else None, 'prov': _json(prov),
             'c': _json(histories.notice_conflicts(values)) if values else '[]',
             'id': r.id})
        touched.add(r.event_pk)
    return touched


def _states(conn: sa.Connection, pks: list[int]) -> dict[int, list[histories.RevState]]:
    states: dict[int, list[histories.RevState]] = defaultdict(list)
    for r in conn.execute(sa.text(
            'SELECT id, event_pk, number, kind, source, source_rev, source_key, issued_at, '
            'event_time, time_precision_s, provenance, created_at, retraction_reason, '
            'EXISTS (SELECT 1 FROM dois d WHERE d.revision_pk = revisions.id) AS has_doi '
            'FROM revisions WHERE event_pk = ANY(:pks)'), {'pks': pks}):
        states[r.event_pk].append(histories.RevState(
            key=r.source_key, kind=r.kind, source=r.source, source_rev=r.source_rev,
            issued_at=r.issued_at, event_time=r.event_time,
            time_precision_s=r.time_precision_s, provenance=r.provenance or {},
            created_at=r.created_at, retraction_reason=r.retraction_reason, pk=r.id,
            number=r.number, pinned=r.has_doi))
    return states


def _rehistory(conn: sa.Connection, pks: list[int]) -> None:
    for pk, history in _states(conn, pks).items():
        ordered = histories.order(history)
        moves = [(s.pk, n) for s, n in histories.numbering(ordered)
                 if s.pk is not None and s.number != n]
        for rev_pk, _ in moves:
            conn.execute(sa.text('UPDATE revisions SET number = -1 - number WHERE id = :id'),
                         {'id': rev_pk})
        for rev_pk, number in moves:
            conn.execute(sa.text('UPDATE revisions SET number = :n WHERE id = :id'),
                         {'n': number, 'id': rev_pk})
        now = histories.current(ordered)
        timed, conflicts = histories.event_time(ordered)
        conflicts += histories.identity_conflicts(ordered)
        status, reason, source = histories.status(ordered, now)
        conn.execute(sa.text(
            'UPDATE events SET current_revision_pk = :cur, event_time = :t, '
            'event_mjd = extract(epoch FROM CAST(:t AS timestamptz)) / 86400.0 + 40587.0, '
            'time_source = :ts, time_precision_s = :tp, conflicts = CAST(:c AS jsonb), '
            'status = :st, status_reason = :sr, status_source = :ss WHERE id = :pk'),
            {'cur': now.pk, 't': timed.event_time, 'ts': timed.key,
             'tp': timed.time_precision_s, 'c': _json(conflicts), 'st': status, 'sr': reason,
             'ss': source, 'pk': pk})


def upgrade() -> None:
    conn = op.get_bind()
    touched = _retime(conn)
    if touched:
        _rehistory(conn, sorted(touched))


def downgrade() -> None:
    # The times set here are the sources' own; the old ones were wrong. Nothing to undo.
    pass
