"""vo: the region polygons stored with each revision, not drawn per row by the views

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 11:45:00

Issue 12 (the floods). ``nufair.alerts`` / ``nufair.revisions`` drew ``region50`` /
``region90`` with the PL/pgSQL ``nufair.region_polygon`` (0015) for every row they
returned: 10 000 rows of the TAP cross join took 2.6 s with those columns against 0.12 s
without, and held the heavy TAP slots that long. The polygons are now generated columns of
``public.revisions`` (``region50_polygon``, ``region90_polygon``: ``GENERATED ALWAYS AS
(nufair.region_polygon(...)) STORED``, the function is immutable), so PostgreSQL draws each
once, when the row is written or its region columns change, and fills the existing rows
when the columns are added. The views read them under the same names and in the same
places (``region50``, ``region90``: ``CREATE OR REPLACE VIEW`` keeps ``ivoa.obscore``,
which reads them through ``nufair.revisions``, as it is).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The views' columns as 0015 left them (a migration never imports another one).
_COLUMNS = """
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

_HISTORY_COLUMNS = """,
    e.status, e.status_reason, e.status_source, e.time_precision_s AS event_time_precision,
    e.time_source AS event_time_source, CAST(e.conflicts AS text) AS event_conflicts,
    CAST(r.conflicts AS text) AS conflicts, r.region50_shape AS shape50,
    r.region90_shape AS shape90"""


def _drawn(level: int, prefix: str = "") -> str:
    """The call that draws the ``level`` % polygon (``prefix``: the table's alias and dot)."""
    args = (f"region{level}_shape", "ra", "dec", f"r{level}_deg", f"ra_err_plus_{level}",
            f"ra_err_minus_{level}", f"dec_err_plus_{level}", f"dec_err_minus_{level}")
    return f"nufair.region_polygon({', '.join(prefix + a for a in args)})"


_STORED = ",\n    r.region50_polygon AS region50, r.region90_polygon AS region90"
_DRAWN = f",\n    {_drawn(50, 'r.')} AS region50, {_drawn(90, 'r.')} AS region90"


def _views(regions: str) -> None:
    """Re-create both views with the same columns, their regions from ``regions``."""
    op.execute(f"CREATE OR REPLACE VIEW nufair.revisions AS SELECT {_COLUMNS},"
               " CAST(e.current_revision_pk = r.id AS integer)::smallint AS is_current"
               f"{_HISTORY_COLUMNS}{regions}"
               " FROM public.revisions r JOIN public.events e ON e.id = r.event_pk")
    op.execute(f"CREATE OR REPLACE VIEW nufair.alerts AS SELECT {_COLUMNS}"
               f"{_HISTORY_COLUMNS}{regions}"
               " FROM public.events e JOIN public.revisions r ON r.id = e.current_revision_pk")


def upgrade() -> None:
    # One ALTER: the table is rewritten once, every existing row drawn as it is.
    op.execute("ALTER TABLE public.revisions "
               f"ADD COLUMN region50_polygon float8[] GENERATED ALWAYS AS ({_drawn(50)}) STORED, "
               f"ADD COLUMN region90_polygon float8[] GENERATED ALWAYS AS ({_drawn(90)}) STORED")
    op.execute("COMMENT ON COLUMN public.revisions.region50_polygon IS "
               "'50 % region as a DALI polygon (nufair.region_polygon)'")
    op.execute("COMMENT ON COLUMN public.revisions.region90_polygon IS "
               "'90 % region as a DALI polygon (nufair.region_polygon)'")
    _views(_STORED)


def downgrade() -> None:
    _views(_DRAWN)
    op.execute("ALTER TABLE public.revisions DROP COLUMN region50_polygon, "
               "DROP COLUMN region90_polygon")
