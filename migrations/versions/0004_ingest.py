"""ingest: outbox, raw events, scans

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:44:36.903837
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('raw_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('observatory', sa.Text(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('event_pk', sa.BigInteger(), nullable=True, comment='the catalog event made from it (NULL for a scan-only inline event)'),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='the raw event as received (schema-valid)'),
    sa.Column('sha256', sa.String(length=64), nullable=False, comment='of the canonical JSON body'),
    sa.Column('stream', sa.Text(), nullable=True, comment='selection outcome (gold ... none)'),
    sa.Column('selection', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False, comment='estimator values the selection used'),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['event_pk'], ['events.id'], name=op.f('fk_raw_events_event_pk_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_events')),
    sa.UniqueConstraint('observatory', 'run_id', 'event_id', name='uq_raw_events_identity')
    )
    op.create_index('ix_raw_events_event_pk', 'raw_events', ['event_pk'], unique=False)
    op.create_table('notices',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('revision_pk', sa.BigInteger(), nullable=False),
    sa.Column('sink', sa.Text(), nullable=False, comment='configured sink name, e.g. folder, webhook'),
    sa.Column('format', sa.Text(), nullable=False, comment='gcn-json, voevent or circular'),
    sa.Column('idempotency_key', sa.Text(), nullable=False, comment='stable per (revision, sink, format); sent with every attempt'),
    sa.Column('media_type', sa.Text(), nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False, comment='the exact bytes delivered'),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('attempt_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='not claimed before; also the claim lease'),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'delivered') = (delivered_at IS NOT NULL)", name=op.f('ck_notices_delivered')),
    sa.CheckConstraint("status IN ('pending', 'delivered')", name=op.f('ck_notices_status')),
    sa.ForeignKeyConstraint(['revision_pk'], ['revisions.id'], name=op.f('fk_notices_revision_pk_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('idempotency_key', name='uq_notices_idempotency_key'),
    sa.UniqueConstraint('revision_pk', 'sink', 'format', name='uq_notices_revision_sink_format')
    )
    op.create_index('ix_notices_due', 'notices', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('scans',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('raw_event_pk', sa.BigInteger(), nullable=False),
    sa.Column('priority', sa.Text(), nullable=False),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='reco ScanConfig as plain values'),
    sa.Column('labels', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('origin_scan_pk', sa.BigInteger(), nullable=True, comment='the scan this one re-runs (POST /scans/{id}/rescan)'),
    sa.Column('publish', sa.Text(), server_default=sa.text("'none'"), nullable=False, comment="'update': the final result becomes an update revision and notices"),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('claimed_by', sa.Text(), nullable=True, comment='worker that runs it now'),
    sa.Column('claims', sa.Integer(), server_default=sa.text('0'), nullable=False, comment='times a worker started it (>1: resumed after a restart)'),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('abort_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('revision_pk', sa.BigInteger(), nullable=True, comment='update revision made from the final result'),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('done', 'aborted', 'failed')", name=op.f('ck_scans_outcome')),
    sa.CheckConstraint("priority IN ('realtime', 'reprocessing')", name=op.f('ck_scans_priority')),
    sa.CheckConstraint('(finished_at IS NULL) = (outcome IS NULL)', name=op.f('ck_scans_finished')),
    sa.ForeignKeyConstraint(['origin_scan_pk'], ['scans.id'], name=op.f('fk_scans_origin_scan_pk_scans')),
    sa.ForeignKeyConstraint(['raw_event_pk'], ['raw_events.id'], name=op.f('fk_scans_raw_event_pk_raw_events')),
    sa.ForeignKeyConstraint(['revision_pk'], ['revisions.id'], name=op.f('fk_scans_revision_pk_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scans'))
    )
    op.create_index('ix_scans_queue', 'scans', ['priority', 'id'], unique=False, postgresql_where=sa.text('finished_at IS NULL'))
    op.create_index('ix_scans_raw_event_pk', 'scans', ['raw_event_pk'], unique=False)
    op.create_table('notice_attempts',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('notice_pk', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False, comment='1, 2, ... per notice'),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True, comment='HTTP status, when there is one'),
    sa.Column('detail', sa.Text(), nullable=True, comment='error message or receipt'),
    sa.Column('duration_s', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['notice_pk'], ['notices.id'], name=op.f('fk_notice_attempts_notice_pk_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_attempts')),
    sa.UniqueConstraint('notice_pk', 'number', name='uq_notice_attempts_notice_number')
    )
    op.create_table('scan_snapshots',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('scan_pk', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False, comment='1, 2, ... per scan'),
    sa.Column('kind', sa.Text(), nullable=False, comment='partial or final'),
    sa.Column('fraction', sa.Double(), nullable=False),
    sa.Column('pixels_done', sa.BigInteger(), nullable=False),
    sa.Column('pixels_total', sa.BigInteger(), nullable=False),
    sa.Column('rate', sa.Double(), nullable=False, comment='pixel fits per second'),
    sa.Column('eta_s', sa.Double(), nullable=True),
    sa.Column('best_ra', sa.Double(), nullable=True, comment='deg'),
    sa.Column('best_dec', sa.Double(), nullable=True, comment='deg'),
    sa.Column('best_llh', sa.Double(), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='final: the reco ScanResult as JSON'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('partial', 'final')", name=op.f('ck_scan_snapshots_kind')),
    sa.ForeignKeyConstraint(['scan_pk'], ['scans.id'], name=op.f('fk_scan_snapshots_scan_pk_scans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan_snapshots')),
    sa.UniqueConstraint('scan_pk', 'seq', name='uq_scan_snapshots_scan_seq')
    )
    op.create_index('uq_scan_snapshots_final', 'scan_snapshots', ['scan_pk'], unique=True, postgresql_where=sa.text("kind = 'final'"))


def downgrade() -> None:
    op.drop_index('uq_scan_snapshots_final', table_name='scan_snapshots', postgresql_where=sa.text("kind = 'final'"))
    op.drop_table('scan_snapshots')
    op.drop_table('notice_attempts')
    op.drop_index('ix_scans_raw_event_pk', table_name='scans')
    op.drop_index('ix_scans_queue', table_name='scans', postgresql_where=sa.text('finished_at IS NULL'))
    op.drop_table('scans')
    op.drop_index('ix_notices_due', table_name='notices', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('notices')
    op.drop_index('ix_raw_events_event_pk', table_name='raw_events')
    op.drop_table('raw_events')
