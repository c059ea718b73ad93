"""catalog: each counterpart catalogue's tiles listed per order-6 cell (faster search)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 12:50:00

Issue 14 (import rate). :meth:`catalog.storage.counterparts.CounterpartStore.compute_for`
finds the catalogue tiles that overlap a region's tiles by an equi-join on the HEALPix
order-6 cells both touch (:func:`catalog.counterparts.loader.cells_table`) instead of one
SP-GiST probe per region tile; this builds that table, from the tiles table already there,
for each registered catalogue that is installed. Answers do not change: two ranges overlap
only if they share a cell, and the join still tests ``&&``.
"""
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from catalog.counterparts.loader import TAP_ROLE, cells_table, install_cells
from catalog.counterparts.registry import catalogues

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    for cat in catalogues():
        tiles = f"{cat.schema}.{cat.tiles_table}"
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": tiles}).scalar() is None:
            continue
        install_cells(conn, cat)
        op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TAP_ROLE}') THEN
    GRANT SELECT ON {cells_table(cat)} TO {TAP_ROLE};
  END IF;
END $$""")


def downgrade() -> None:
    for cat in catalogues():
        op.execute(f"DROP TABLE IF EXISTS {cells_table(cat)}")
