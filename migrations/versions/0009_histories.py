"""catalog: one history per alert (status, event-time provenance, notice identity)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 05:30:00

Issue 14. New columns: ``events.status`` (live / retracted / likely_background) with its
reason and source, ``events.time_source`` / ``time_precision_s`` / ``conflicts``;
``revisions.event_time`` / ``time_precision_s`` / ``conflicts``; revision kind ``catalog``.

Existing data is re-keyed, merged and re-numbered here (not by a re-import):

* sources relabelled: ``amon-table`` -> ``gcn-amon``; IceCat-layout rows without CR_VETO
  (``icecat-layout:`` keys) -> ``third-party``; IceCat-1 rows become kind ``catalog``, issued
  at the catalogue's publication;
* a GCN notice's key becomes ``gcn:<stream>:<run>:<event>:<rev>`` whatever carried it; two
  revisions of one notice (an AMON table row and a VOEvent) become one: the first stored is
  kept, the other's source, values and old key go into its provenance (``merged``), its
  references (artifacts, DOIs, notices, scans) move to the kept revision, its tiles go;
* every event's revisions are numbered in history order, and its current revision, time
  and status set, by the rules of :mod:`catalog.storage.histories`.

The stored rows keep no per-revision event time, so each revision starts with its event's
(IceCat-1 rows: their EVENTMJD); re-importing the AMON tables fills each notice's own.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from catalog.storage import histories

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ICECAT1_PUBLISHED = datetime(2023, 11, 1, tzinfo=UTC)
_MJD0 = datetime(1858, 11, 17, tzinfo=UTC)

_OLD_COLUMNS = """
    e.id AS alert_id, e.name, e.observatory, e.run_id, e.event_id, r.stream, e.event_time,
    e.event_mjd, r.id AS revision_id, r.number AS revision, r.kind AS revision_kind, r.source,
    r.issued_at, r.ra, r.dec, r.hpx29,
    r.ra_err_plus_50, r.ra_err_minus_50, r.dec_err_plus_50, r.dec_err_minus_50,
    r.r50_deg AS r50, r.area50_deg2 AS area50,
    r.ra_err_plus_90, r.ra_err_minus_90, r.dec_err_plus_90, r.dec_err_minus_90,
    r.r90_deg AS r90, r.area90_deg2 AS area90,
    r.energy_tev AS energy, r.signalness, r.far_per_year AS far, r.ivorn,
    CAST(r.kind = 'retraction' AS integer)::smallint AS retracted, r.retraction_reason,
    'ivo://nufair/alerts?' || e.id || '/' || r.number AS obs_publisher_did"""

# Appended (CREATE OR REPLACE VIEW may only add columns at the end).
_NEW_COLUMNS = """,
    e.status, e.status_reason, e.status_source, e.time_precision_s AS event_time_precision,
    e.time_source AS event_time_source, CAST(e.conflicts AS text) AS event_conflicts,
    CAST(r.conflicts AS text) AS conflicts, r.region50_shape AS shape50,
    r.region90_shape AS shape90"""


def _views(columns: str) -> None:
    op.execute(f"CREATE OR REPLACE VIEW nufair.revisions AS SELECT {_OLD_COLUMNS},"
               " CAST(e.current_revision_pk = r.id AS integer)::smallint AS is_current"
               f"{columns} FROM public.revisions r JOIN public.events e ON e.id = r.event_pk")
    op.execute(f"CREATE OR REPLACE VIEW nufair.alerts AS SELECT {_OLD_COLUMNS}{columns}"
               " FROM public.events e JOIN public.revisions r ON r.id = e.current_revision_pk")


def _add_columns() -> None:
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    op.add_column('events', sa.Column('status', sa.Text(), server_default=sa.text("'live'"),
                                      nullable=False,
                                      comment='live, retracted or likely_background'))
    op.add_column('events', sa.Column('status_reason', sa.Text(), nullable=True,
                                      comment='Why the status is not live'))
    op.add_column('events', sa.Column('status_source', sa.Text(), nullable=True,
                                      comment='Source that set the status (its source key)'))
    op.add_column('events', sa.Column(
        'time_source', sa.Text(), nullable=True,
        comment='Source key of the revision event_time comes from'))
    op.add_column('events', sa.Column(
        'time_precision_s', sa.Double(), nullable=True,
        comment='Resolution of event_time as its source wrote it, s'))
    op.add_column('events', sa.Column(
        'conflicts', jsonb, server_default=sa.text("'[]'::jsonb"), nullable=False,
        comment='Event-level disagreements between sources (event time)'))
    op.create_check_constraint(
        'status', 'events', "status IN ('live', 'retracted', 'likely_background')")
    op.add_column('revisions', sa.Column(
        'event_time', postgresql.TIMESTAMP(timezone=True), nullable=True,
        comment="Event time as this revision's source gave it"))
    op.add_column('revisions', sa.Column('time_precision_s', sa.Double(), nullable=True,
                                         comment='Resolution of event_time, s'))
    op.add_column('revisions', sa.Column(
        'conflicts', jsonb, server_default=sa.text("'[]'::jsonb"), nullable=False,
        comment='Values the sources of this notice disagree on, per source'))
    op.execute('ALTER TABLE revisions DROP CONSTRAINT ck_revisions_kind')
    op.create_check_constraint(
        'kind', 'revisions', "kind IN ('initial', 'update', 'retraction', 'catalog')")
    op.alter_column('revisions', 'number', existing_type=sa.Integer(), comment=(
        '0, 1, 2, ... in the order of the notices (their Rev; a catalogue row by its '
        'publication date)'))


def _new_key(r: Any) -> tuple[str, str, str]:
    """(source, key, kind) of a stored revision under the new rules."""
    source, key, kind = r.source, r.source_key, r.kind
    rev = r.source_rev
    if source == 'amon-table':
        return 'gcn-amon', 'gcn:' + key.split(':', 1)[1], kind
    if source == 'gcn-voevent' and rev is not None:
        return source, f'gcn:{r.stream}:{r.run_id}:{r.event_id}:{rev}', kind
    if source == 'gcn-json' and rev is not None:
        return source, f'gcn:{r.stream}:{r.run_id}:{r.event_id}:{rev - 1}', kind
    if source == 'icecat-1' and key.startswith('icecat-layout:'):
        return 'third-party', 'third-party:' + key.split(':', 1)[1], 'catalog'
    if source == 'icecat-1':
        return source, key, 'catalog'
    return source, key, kind


def _values(r: Any, event_time: datetime) -> dict[str, Any]:
    circle50 = r.region50_shape == 'circle'
    circle90 = r.region90_shape == 'circle'
    return {'ra': r.ra, 'dec': r.dec, 'r50': r.r50_deg if circle50 else None,
            'r90': r.r90_deg if circle90 else None, 'energy_tev': r.energy_tev,
            'signalness': r.signalness, 'far_per_year': r.far_per_year,
            'event_time': event_time.isoformat(), 'time_precision_s': None,
            'issued_at': r.issued_at.isoformat() if r.issued_at else None}


def _merge(conn: sa.Connection, keep: Any, dups: list[Any], prov: dict[str, Any],
           times: dict[int, datetime]) -> None:
    """Fold the revisions ``dups`` of one notice into ``keep``."""
    values = dict(prov.get('values') or {keep.new_source: _values(keep, times[keep.id])})
    sources = set(prov.get('sources') or [keep.new_source])
    merged = list(prov.get('merged') or [])
    for dup in dups:
        values[dup.new_source] = _values(dup, times[dup.id])
        sources.add(dup.new_source)
        merged.append({'id': dup.id, 'source_key': dup.source_key, 'source': dup.new_source,
                       'provenance': dup.provenance})
        conn.execute(sa.text('DELETE FROM region_tiles WHERE revision_pk = :d'), {'d': dup.id})
        for table in ('artifacts', 'dois', 'notices', 'scans'):
            conn.execute(sa.text(f'UPDATE {table} SET revision_pk = :k WHERE revision_pk = :d'),
                         {'k': keep.id, 'd': dup.id})
        conn.execute(sa.text('DELETE FROM revisions WHERE id = :d'), {'d': dup.id})
    prov.update(values=values, sources=sorted(sources), merged=merged)
    conn.execute(sa.text(
        'UPDATE revisions SET provenance = CAST(:p AS jsonb), conflicts = CAST(:c AS jsonb), '
        'ivorn = coalesce(ivorn, :i), issued_at = coalesce(issued_at, :t) WHERE id = :k'),
        {'k': keep.id, 'p': _json(prov), 'c': _json(histories.notice_conflicts(values)),
            'i': next((d.ivorn for d in dups if d.ivorn), None),
            't': next((d.issued_at for d in dups if d.issued_at), None)})


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _rekey(conn: sa.Connection) -> None:
    rows = conn.execute(sa.text(
        'SELECT r.*, e.run_id, e.event_id, e.event_time AS ev_time FROM revisions r '
        'JOIN events e ON e.id = r.event_pk ORDER BY r.id')).all()
    times: dict[int, datetime] = {}
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        source, key, kind = _new_key(r)
        mjd = (r.provenance or {}).get('event_mjd')
        times[r.id] = (_MJD0 + timedelta(days=mjd)) if source == 'icecat-1' and mjd \
            else r.ev_time
        r2 = r._asdict() | {'new_source': source, 'new_key': key, 'new_kind': kind}
        groups[key].append(SimpleNamespace(**r2))
    conn.execute(sa.text("UPDATE revisions SET source_key = 'tmp:' || id"))
    for key, group in groups.items():
        keep, dups = group[0], group[1:]
        prov = dict(keep.provenance or {})
        if keep.new_source != keep.source:
            prov['source'] = keep.new_source
        if dups:
            _merge(conn, keep, dups, prov, times)
        conn.execute(sa.text(
            'UPDATE revisions SET source_key = :key, source = :s, kind = :kind, '
            'event_time = :t, time_precision_s = :p, provenance = CAST(:prov AS jsonb), '
            'issued_at = CASE WHEN :s = \'icecat-1\' THEN coalesce(issued_at, :pub) '
            'ELSE issued_at END WHERE id = :id'),
            {'key': key, 's': keep.new_source, 'kind': keep.new_kind, 't': times[keep.id],
             'p': 1e-6 if keep.new_source == 'icecat-1' else None, 'prov': _json(prov),
             'pub': _ICECAT1_PUBLISHED, 'id': keep.id})


def _rehistory(conn: sa.Connection) -> None:
    states: dict[int, list[histories.RevState]] = defaultdict(list)
    for r in conn.execute(sa.text(
            'SELECT id, event_pk, number, kind, source, source_rev, source_key, issued_at, '
            'event_time, time_precision_s, provenance, created_at, retraction_reason '
            'FROM revisions')):
        states[r.event_pk].append(histories.RevState(
            key=r.source_key, kind=r.kind, source=r.source, source_rev=r.source_rev,
            issued_at=r.issued_at, event_time=r.event_time,
            time_precision_s=r.time_precision_s, provenance=r.provenance or {},
            created_at=r.created_at, retraction_reason=r.retraction_reason, pk=r.id,
            number=r.number))
    conn.execute(sa.text('UPDATE revisions SET number = -1 - number'))
    for pk, history in states.items():
        ordered = histories.order(history)
        for number, s in enumerate(ordered):
            conn.execute(sa.text('UPDATE revisions SET number = :n WHERE id = :id'),
                         {'n': number, 'id': s.pk})
        now = histories.current(ordered)
        timed, conflicts = histories.event_time(ordered)
        status, reason, source = histories.status(ordered, now)
        assert timed.event_time is not None
        conn.execute(sa.text(
            'UPDATE events SET current_revision_pk = :cur, event_time = :t, '
            'event_mjd = extract(epoch FROM CAST(:t AS timestamptz)) / 86400.0 + 40587.0, '
            'time_source = :ts, time_precision_s = :tp, conflicts = CAST(:c AS jsonb), '
            'status = :st, status_reason = :sr, status_source = :ss WHERE id = :pk'),
            {'cur': now.pk, 't': timed.event_time, 'ts': timed.key,
             'tp': timed.time_precision_s, 'c': _json(conflicts), 'st': status, 'sr': reason,
             'ss': source, 'pk': pk})


_GRANT = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    GRANT SELECT ON nufair.alerts, nufair.revisions TO nufair_tap;
  END IF;
END $$;"""


_CIRCLE_EXTENTS = """
UPDATE revisions SET ra_err_plus_{l} = NULL, ra_err_minus_{l} = NULL,
    dec_err_plus_{l} = NULL, dec_err_minus_{l} = NULL WHERE region{l}_shape = 'circle'"""


def upgrade() -> None:
    _add_columns()
    conn = op.get_bind()
    for level in (50, 90):  # a circle is its radius; half-widths are for boxes only
        op.execute(_CIRCLE_EXTENTS.format(l=level))
    _rekey(conn)
    _rehistory(conn)
    _views(_NEW_COLUMNS)


def downgrade() -> None:
    op.execute('DROP VIEW nufair.alerts')
    op.execute('DROP VIEW nufair.revisions')
    _views('')
    op.execute(_GRANT)
    op.execute("UPDATE revisions SET kind = 'update' WHERE kind = 'catalog'")
    op.execute("UPDATE revisions SET source = 'amon-table' WHERE source = 'gcn-amon'")
    op.execute("UPDATE revisions SET source = 'icecat-1' WHERE source = 'third-party'")
    op.execute('ALTER TABLE revisions DROP CONSTRAINT ck_revisions_kind')
    op.create_check_constraint('kind', 'revisions', "kind IN ('initial', 'update', 'retraction')")
    for column in ('conflicts', 'time_precision_s', 'event_time'):
        op.drop_column('revisions', column)
    op.execute('ALTER TABLE events DROP CONSTRAINT ck_events_status')
    for column in ('conflicts', 'time_precision_s', 'time_source', 'status_source',
                   'status_reason', 'status'):
        op.drop_column('events', column)
