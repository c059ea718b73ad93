"""counterparts: the Fermi-LAT 4FGL-DR4 catalogue and counterpart candidates per revision

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 05:40:00

Issue 19 item 1. Loads every catalogue of the registry (``catalog/counterparts/data``:
``fermi.fgl4`` and its ellipse tiles ``fermi.fgl4_tiles``, outside the catalog's metadata,
like the ``nufair`` views) from its bundled file, creates ``counterparts`` (one row per
revision, catalogue, level and source) and the ADQL view ``nufair.counterparts``, joinable
with ``nufair.alerts`` / ``nufair.revisions`` on ``revision_id`` and with ``fermi.fgl4`` on
``source_name``. Revisions stored before this migration get their candidates from ``nufair
counterparts refresh`` (the migration holds no catalog logic beyond loading the files).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from catalog.counterparts.loader import TAP_ROLE, install
from catalog.counterparts.registry import catalogues

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VIEW = """
CREATE VIEW nufair.counterparts AS
SELECT c.revision_pk AS revision_id, r.event_pk AS alert_id, c.catalogue, c.source_name,
       c.source_class, c.association, c.source_ra AS ra, c.source_dec AS dec,
       c.level AS region_level, c.match AS match_type, c.separation_deg AS separation
FROM public.counterparts c JOIN public.revisions r ON r.id = c.revision_pk
"""


def upgrade() -> None:
    op.create_table(
        'counterparts',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('revision_pk', sa.BigInteger(), nullable=False),
        sa.Column('catalogue', sa.Text(), nullable=False,
                  comment='catalogue key of the registry, e.g. 4fgl-dr4'),
        sa.Column('source_name', sa.Text(), nullable=False,
                  comment="the source's name in its catalogue"),
        sa.Column('level', sa.SmallInteger(), nullable=False,
                  comment='containment of the region, percent (50 or 90)'),
        sa.Column('match', sa.Text(), nullable=False,
                  comment='position (inside the region) or ellipse (overlaps)'),
        sa.Column('separation_deg', sa.Double(), nullable=False,
                  comment="deg, from the revision's best fit"),
        sa.Column('source_ra', sa.Double(), nullable=False,
                  comment='deg, ICRS (from the catalogue)'),
        sa.Column('source_dec', sa.Double(), nullable=False,
                  comment='deg, ICRS (from the catalogue)'),
        sa.Column('source_class', sa.Text(), nullable=True, comment='catalogue class'),
        sa.Column('association', sa.Text(), nullable=True,
                  comment='associated counterpart'),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint('level IN (50, 90)', name=op.f('ck_counterparts_level')),
        sa.CheckConstraint("match IN ('position', 'ellipse')", name=op.f('ck_counterparts_match')),
        sa.ForeignKeyConstraint(['revision_pk'], ['revisions.id'], ondelete='CASCADE',
                                name=op.f('fk_counterparts_revision_pk_revisions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_counterparts')),
        sa.UniqueConstraint('revision_pk', 'catalogue', 'level', 'source_name',
                            name='uq_counterparts_revision_pk'),
    )
    conn = op.get_bind()
    for cat in catalogues():
        install(conn, cat)
    op.execute(_VIEW)
    op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TAP_ROLE}') THEN
    GRANT SELECT ON nufair.counterparts TO {TAP_ROLE};
  END IF;
END $$""")


def downgrade() -> None:
    op.execute("DROP VIEW nufair.counterparts")
    op.drop_table('counterparts')
    for cat in catalogues():
        op.execute(f"DROP TABLE IF EXISTS {cat.schema}.{cat.tiles_table}, {cat.qualified}")
        op.execute(f"DROP SCHEMA IF EXISTS {cat.schema}")
