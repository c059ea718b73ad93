"""vo: point-in-region answered from indexes alone (tile index and region shapes covering)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 18:30:00

Issue 15 (point-in-region ≤ 1 ms in the database at 100 k alerts). ``CONTAINS(POINT,
moc90)`` (and ``region90``) probes the SP-GiST tile index, then tests the exact circle or
box on the revision's columns. At 100 k alerts the time went to pages read from outside
PostgreSQL's shared buffers (128 MB here), not to the arithmetic of the test: per point,
~70 heap pages of ``region_tiles`` (254 MB) for the ``level`` and ``revision_pk`` of
~85 tiles, and ~75 heap pages of ``revisions`` (195 MB, ~2.7 kB a row with its two drawn
polygons) for the shape columns of the same candidates.

- ``ix_region_tiles_hpx`` carries ``level`` and ``revision_pk`` (``INCLUDE``): the probe
  becomes an index-only scan (every query that filters a level and returns revisions reads
  the index alone once the visibility map is set, as VACUUM / autovacuum keep it).
- ``ix_revisions_region_shapes``: ``id`` with the columns of the exact test of both levels
  (centre, shape, radius, four extents; ~9 MB at 100 k circles), so the candidates are
  tested from a small, cached index and only those inside read anything else.

Answers do not change (indexes only). Each revision writes one more b-tree entry; the tile
index entries grow by 10 bytes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The revision columns the exact point / circle tests of a region read
#: (:mod:`vo.adql.regions`): the centre, then each level's shape, radius and extents.
SHAPE_COLUMNS = ["ra", "dec", *(c for lv in (50, 90) for c in (
    f"region{lv}_shape", f"r{lv}_deg", f"ra_err_plus_{lv}", f"ra_err_minus_{lv}",
    f"dec_err_plus_{lv}", f"dec_err_minus_{lv}"))]


def upgrade() -> None:
    """Rebuild the tile index with its level and revision, add the region shape index."""
    op.drop_index("ix_region_tiles_hpx", table_name="region_tiles", postgresql_using="spgist")
    op.create_index("ix_region_tiles_hpx", "region_tiles", ["hpx"], unique=False,
                    postgresql_using="spgist", postgresql_include=["level", "revision_pk"])
    op.create_index("ix_revisions_region_shapes", "revisions", ["id"], unique=False,
                    postgresql_include=SHAPE_COLUMNS)


def downgrade() -> None:
    """The tile index on ``hpx`` alone, no region shape index (0021)."""
    op.drop_index("ix_revisions_region_shapes", table_name="revisions")
    op.drop_index("ix_region_tiles_hpx", table_name="region_tiles", postgresql_using="spgist")
    op.create_index("ix_region_tiles_hpx", "region_tiles", ["hpx"], unique=False,
                    postgresql_using="spgist")
