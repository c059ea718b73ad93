"""catalog: one alert per real event in databases loaded before the identity fix

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 12:00:00

Issue 14. The importer now moves a record whose source misprinted its event number to its
event (:mod:`catalog.storage.identities`: the GCN AMON table files IceCube-201221A's Rev 0
under event 2917585, its Rev 1 and IceCat-1 under 29175858). A database loaded before that
holds such an alert as two events. Here, per run with more than one event, the stored
revisions' claims are matched by the importer's own rules
(:func:`catalog.storage.identities.canonical_ids`, stored claims ranked as at import), and
each event whose number is a misprint is merged into the event that keeps its number:

* its revisions move to the kept event: the key takes the kept number, the provenance keeps
  the source's claim (``event_id_claimed``, ``source_key_claimed``, the merged event's row
  as ``merged_event``), and the event lists the disagreement among its ``conflicts``; a
  revision whose notice the kept event already holds is folded into that one (its source,
  values and old key recorded in ``merged``, its references moved, as migration 0009 does);
* its artifacts, raw events and version DOIs move with it; its concept DOI (and the version
  DOI of a folded revision, when the kept one has its own) goes to ``doi_aliases`` and
  resolves to the kept event's record, so every DOI minted stays resolvable;
* the kept event takes the merged event's name when it had none; the merged event row is
  deleted (it is recorded in its revisions' provenance);
* the kept event's revisions are numbered by the history rules
  (:func:`catalog.storage.histories.numbering`: in notice order, unless a version DOI already
  names one of its own revisions, whose numbers then stay), and its current revision, time,
  conflicts and status set again; every DOI of it gets a new ``updated_at`` (its metadata
  changed), so providers and harvesters see the merge.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from catalog.storage import histories, identities

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose rows follow a revision folded into another.
_REVISION_REFS = ('artifacts', 'notices', 'scans')


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _create_aliases() -> None:
    op.create_table(
        'doi_aliases',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('created_at', postgresql.TIMESTAMP(timezone=True),
                  server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True),
                  server_default=sa.text('now()'), nullable=False),
        sa.Column('doi', sa.Text(), nullable=False, comment='prefix/suffix, lower case'),
        sa.Column('suffix', sa.Text(), nullable=False,
                  comment='opaque suffix; its landing page shows the target'),
        sa.Column('kind', sa.Text(), nullable=False,
                  comment='what it named: concept (an event) or version'),
        sa.Column('target_pk', sa.BigInteger(), nullable=False,
                  comment='the DOI whose record this one now resolves to'),
        sa.Column('provider', sa.Text(), nullable=False, comment='local or datacite'),
        sa.Column('state', sa.Text(), nullable=False,
                  comment='its state at the provider when it was merged'),
        sa.Column('minted_at', postgresql.TIMESTAMP(timezone=True), nullable=False,
                  comment='when the DOI was minted'),
        sa.Column('registered_at', postgresql.TIMESTAMP(timezone=True), nullable=True,
                  comment='last synchronisation with the provider'),
        sa.Column('reason', sa.Text(), nullable=False,
                  comment="why its record was merged into the target's"),
        sa.Column('merged_from', postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                  comment='the event (and revision) it named, as stored before the merge'),
        sa.CheckConstraint("kind IN ('concept', 'version')", name=op.f('ck_doi_aliases_kind')),
        sa.ForeignKeyConstraint(['target_pk'], ['dois.id'],
                                name=op.f('fk_doi_aliases_target_pk_dois')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_doi_aliases')),
        sa.UniqueConstraint('doi', name='uq_doi_aliases_doi'),
        sa.UniqueConstraint('suffix', name='uq_doi_aliases_suffix'),
    )
    op.create_index('ix_doi_aliases_target_pk', 'doi_aliases', ['target_pk'])


def _merges(conn: sa.Connection) -> list[tuple[int, int]]:
    """(merged event pk, kept event pk) of every event whose number is a misprint."""
    rows = conn.execute(sa.text(
        'SELECT e.id AS pk, e.observatory, e.run_id, e.event_id, '
        'coalesce(r.event_time, e.event_time) AS rev_time, r.time_precision_s, r.ra, r.dec, '
        'r.r90_deg, r.source, r.source_rev FROM events e JOIN revisions r ON r.event_pk = e.id '
        'WHERE (e.observatory, e.run_id) IN (SELECT observatory, run_id FROM events '
        'GROUP BY observatory, run_id HAVING count(*) > 1) ORDER BY e.id, r.id')).all()
    claims: dict[tuple[str, int], list[identities.Claim]] = defaultdict(list)
    pk_of: dict[tuple[str, int, int], int] = {}
    for r in rows:
        pk_of[(r.observatory, r.run_id, r.event_id)] = r.pk
        claims[(r.observatory, r.run_id)].append(identities.Claim(
            r.event_id, r.rev_time, r.time_precision_s, r.ra, r.dec, r.r90_deg, stored=True,
            icecat=r.source == 'icecat-1', rev=r.source_rev if r.source_rev is not None else -1))
    out = []
    for (obs, run), run_claims in claims.items():
        for lost, kept in identities.canonical_ids(run_claims).items():
            out.append((pk_of[(obs, run, lost)], pk_of[(obs, run, kept)]))
    return sorted(out)


def _alias(conn: sa.Connection, doi_pk: int, target_pk: int, reason: str,
           merged_from: dict[str, Any]) -> None:
    """Move DOI ``doi_pk`` to ``doi_aliases``, resolving to DOI ``target_pk``."""
    conn.execute(sa.text(
        'INSERT INTO doi_aliases (doi, suffix, kind, target_pk, provider, state, minted_at, '
        'registered_at, reason, merged_from) SELECT doi, suffix, kind, :t, provider, state, '
        'created_at, registered_at, :why, CAST(:m AS jsonb) FROM dois WHERE id = :d'),
        {'t': target_pk, 'why': reason, 'm': _json(merged_from), 'd': doi_pk})
    conn.execute(sa.text('DELETE FROM dois WHERE id = :d'), {'d': doi_pk})


def _fold(conn: sa.Connection, dup: Any, keep: Any, claim: dict[str, Any]) -> None:
    """Fold revision ``dup`` (of the merged event) into ``keep``, of the same notice."""
    prov = dict(keep.provenance or {})
    dup_prov = dict(dup.provenance or {})
    values = dict(prov.get('values') or {})
    for source, v in (dup_prov.get('values') or {}).items():
        values.setdefault(source, v)
    merged = [*(prov.get('merged') or []),
              {'id': dup.id, 'source_key': dup.source_key, 'source': dup.source,
               'provenance': dup_prov, **claim}]
    sources = {*(prov.get('sources') or [keep.source]), *(dup_prov.get('sources') or [dup.source])}
    # The source's claim where the importer keeps a further source's (the event's conflicts).
    extras = dict(prov.get('extra_by_source') or {})
    extras[dup.source] = {**(extras.get(dup.source) or {}),
                          **{k: v for k, v in claim.items() if k != 'merged_event'}}
    prov.update(values=values, merged=merged, sources=sorted(sources), extra_by_source=extras)
    conn.execute(sa.text(
        'UPDATE revisions SET provenance = CAST(:p AS jsonb), conflicts = CAST(:c AS jsonb), '
        'ivorn = coalesce(ivorn, :i), issued_at = coalesce(issued_at, :t) WHERE id = :k'),
        {'p': _json(prov), 'c': _json(histories.notice_conflicts(values)), 'i': dup.ivorn,
         't': dup.issued_at, 'k': keep.id})
    mine = conn.execute(sa.text('SELECT id FROM dois WHERE revision_pk = :k'),
                        {'k': keep.id}).scalar()
    theirs = conn.execute(sa.text('SELECT id FROM dois WHERE revision_pk = :d'),
                          {'d': dup.id}).scalar()
    if theirs is not None and mine is not None:
        _alias(conn, theirs, mine, 'the same notice, stored under a misprinted event number',
               {'revision': dup.id, 'source_key': dup.source_key, **claim})
    for table in (*_REVISION_REFS, 'dois'):
        conn.execute(sa.text(f'UPDATE {table} SET revision_pk = :k WHERE revision_pk = :d'),
                     {'k': keep.id, 'd': dup.id})
    # Tiles and counterparts are derived from the region, which the kept revision has.
    conn.execute(sa.text('DELETE FROM region_tiles WHERE revision_pk = :d'), {'d': dup.id})
    conn.execute(sa.text('DELETE FROM counterparts WHERE revision_pk = :d'), {'d': dup.id})
    conn.execute(sa.text('DELETE FROM revisions WHERE id = :d'), {'d': dup.id})


def _move_revisions(conn: sa.Connection, lost: Any, kept: Any) -> set[int]:
    """Move (or fold) the revisions of event ``lost`` into event ``kept``; the pks moved."""
    event_row = {k: v for k, v in lost._asdict().items()
                 if k in ('id', 'observatory', 'run_id', 'event_id', 'name', 'stream',
                          'created_at', 'status')}
    old, new = f':{lost.run_id}:{lost.event_id}', f':{lost.run_id}:{kept.event_id}'
    moved: set[int] = set()
    for r in conn.execute(sa.text('SELECT * FROM revisions WHERE event_pk = :e ORDER BY id'),
                          {'e': lost.id}).all():
        key = r.source_key.replace(old, new, 1) if old in r.source_key else r.source_key
        claim = {'event_id_claimed': lost.event_id, 'event_id_kept': kept.event_id,
                 'source_key_claimed': r.source_key}
        twin = conn.execute(sa.text('SELECT * FROM revisions WHERE source_key = :k AND id <> :i'),
                            {'k': key, 'i': r.id}).first()
        if twin is not None:
            _fold(conn, r, twin, {**claim, 'merged_event': event_row})
            continue
        prov = {**dict(r.provenance or {}), **claim, 'merged_event': event_row}
        conn.execute(sa.text(
            'UPDATE revisions SET event_pk = :k, number = -1 - id, source_key = :key, '
            'provenance = CAST(:p AS jsonb) WHERE id = :i'),
            {'k': kept.id, 'key': key, 'p': _json(prov), 'i': r.id})
        moved.add(r.id)
    return moved


def _move_event_rows(conn: sa.Connection, lost: Any, kept: Any) -> None:
    """Artifacts, raw events and DOIs of event ``lost`` go to ``kept``; ``lost`` goes."""
    for table in ('artifacts', 'raw_events'):
        conn.execute(sa.text(f'UPDATE {table} SET event_pk = :k WHERE event_pk = :l'),
                     {'k': kept.id, 'l': lost.id})
    conn.execute(sa.text("UPDATE dois SET event_pk = :k WHERE event_pk = :l AND kind = 'version'"),
                 {'k': kept.id, 'l': lost.id})
    concepts: dict[int, int | None] = {e: conn.execute(sa.text(
        "SELECT id FROM dois WHERE event_pk = :e AND kind = 'concept'"), {'e': e}).scalar()
        for e in (lost.id, kept.id)}
    theirs, mine = concepts[lost.id], concepts[kept.id]
    if theirs is not None and mine is not None:
        _alias(conn, theirs, mine,
               f'event {lost.event_id} of run {lost.run_id} is a misprint of event '
               f'{kept.event_id}: one alert', {'event': {
                   'id': lost.id, 'observatory': lost.observatory, 'run_id': lost.run_id,
                   'event_id': lost.event_id, 'name': lost.name}})
    elif theirs is not None:
        conn.execute(sa.text('UPDATE dois SET event_pk = :k WHERE id = :d'),
                     {'k': kept.id, 'd': theirs})
    conn.execute(sa.text('DELETE FROM events WHERE id = :l'), {'l': lost.id})
    if kept.name is None and lost.name is not None:
        conn.execute(sa.text('UPDATE events SET name = :n WHERE id = :k'),
                     {'n': lost.name, 'k': kept.id})


def _rehistory(conn: sa.Connection, pk: int, moved: set[int]) -> None:
    """Number event ``pk``'s revisions and set its current revision, time and status."""
    states = [histories.RevState(
        key=r.source_key, kind=r.kind, source=r.source, source_rev=r.source_rev,
        issued_at=r.issued_at, event_time=r.event_time, time_precision_s=r.time_precision_s,
        provenance=r.provenance or {}, created_at=r.created_at,
        retraction_reason=r.retraction_reason, pk=r.id,
        number=None if r.id in moved else r.number, pinned=r.has_doi and r.id not in moved)
        for r in conn.execute(sa.text(
            'SELECT r.*, EXISTS (SELECT 1 FROM dois d WHERE d.revision_pk = r.id) AS has_doi '
            'FROM revisions r WHERE event_pk = :e'), {'e': pk})]
    ordered = histories.order(states)
    numbers = histories.numbering(ordered)
    conn.execute(sa.text('UPDATE revisions SET number = -1 - id WHERE event_pk = :e'), {'e': pk})
    for s, n in numbers:
        conn.execute(sa.text('UPDATE revisions SET number = :n WHERE id = :i'),
                     {'n': n, 'i': s.pk})
    now = histories.current(ordered)
    timed, conflicts = histories.event_time(ordered)
    conflicts += histories.identity_conflicts(ordered)
    status, reason, source = histories.status(ordered, now)
    conn.execute(sa.text(
        'UPDATE events SET current_revision_pk = :cur, event_time = :t, '
        'event_mjd = extract(epoch FROM CAST(:t AS timestamptz)) / 86400.0 + 40587.0, '
        'time_source = :ts, time_precision_s = :tp, conflicts = CAST(:c AS jsonb), '
        'status = :st, status_reason = :sr, status_source = :ss, updated_at = now() '
        'WHERE id = :pk'),
        {'cur': now.pk, 't': timed.event_time, 'ts': timed.key, 'tp': timed.time_precision_s,
         'c': _json(conflicts), 'st': status, 'sr': reason, 'ss': source, 'pk': pk})
    conn.execute(sa.text('UPDATE dois SET updated_at = clock_timestamp() WHERE event_pk = :e'),
                 {'e': pk})


def upgrade() -> None:
    _create_aliases()
    conn = op.get_bind()
    moved: dict[int, set[int]] = defaultdict(set)
    for lost_pk, kept_pk in _merges(conn):
        lost, kept = (conn.execute(sa.text('SELECT * FROM events WHERE id = :e'), {'e': e}).one()
                      for e in (lost_pk, kept_pk))
        conn.execute(sa.text('UPDATE events SET current_revision_pk = NULL WHERE id = :e'),
                     {'e': lost.id})
        moved[kept.id] |= _move_revisions(conn, lost, kept)
        _move_event_rows(conn, lost, kept)
    for kept_pk, revs in sorted(moved.items()):
        _rehistory(conn, kept_pk, revs)


def downgrade() -> None:
    # The merged events were one alert; splitting them again would re-create the error, and
    # dropping the aliases would leave minted DOIs unresolvable: refused once there are any.
    if op.get_bind().execute(sa.text('SELECT EXISTS (SELECT 1 FROM doi_aliases)')).scalar():
        raise RuntimeError('0017 merged alerts whose DOIs are now aliases (doi_aliases); '
                           'a downgrade would leave those DOIs unresolvable')
    op.drop_index('ix_doi_aliases_target_pk', table_name='doi_aliases')
    op.drop_table('doi_aliases')
