"""vo: the nufair schema of ADQL-facing views, the order-29 HEALPix function, a read-only role

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 12:00:00

Views and functions live in their own schema ``nufair`` (Alembic's ``check`` compares only
tables of the default schema, so they do not disturb it). The role ``nufair_tap`` (NOLOGIN)
is what TAP queries run as (``SET LOCAL ROLE``); it can read the two views and the region
tiles and nothing else. Roles belong to the whole server: where the migrating user may not
create roles, the step is skipped with a NOTICE and queries fall back to read-only
transactions (see ``vo/storage.py``).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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

# HEALPix NESTED ang2pix at order 29, after healpix_base.cc (loc2pix, xyf2nest), so that an
# ADQL POINT built from any two columns can be looked up in the order-29 region tiles.
_HPX29 = """
CREATE FUNCTION nufair.spread_bits(v bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  -- Interleave zeros between the low 32 bits of v (Morton order of the NESTED scheme).
  v := (v | (v << 16)) & 281470681808895;       -- 0x0000FFFF0000FFFF
  v := (v | (v << 8)) & 71777214294589695;      -- 0x00FF00FF00FF00FF
  v := (v | (v << 4)) & 1085102592571150095;    -- 0x0F0F0F0F0F0F0F0F
  v := (v | (v << 2)) & 3689348814741910323;    -- 0x3333333333333333
  v := (v | (v << 1)) & 6148914691236517205;    -- 0x5555555555555555
  RETURN v;
END $$;

CREATE FUNCTION nufair.hpx29(ra double precision, "dec" double precision) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  nside CONSTANT bigint := 536870912;
  z double precision := sin(radians("dec"));
  za double precision := abs(z);
  tt double precision := (ra - 360.0 * floor(ra / 360.0)) / 90.0;
  face bigint; ix bigint; iy bigint; jp bigint; jm bigint; ntt bigint;
  tp double precision; tmp double precision;
BEGIN
  IF "dec" < -90 OR "dec" > 90 THEN RETURN NULL; END IF;
  IF tt >= 4 THEN tt := 0; END IF;
  IF za <= 2.0 / 3.0 THEN
    jp := floor(nside * (0.5 + tt) - nside * (z * 0.75));
    jm := floor(nside * (0.5 + tt) + nside * (z * 0.75));
    IF (jp >> 29) = (jm >> 29) THEN face := (jp >> 29) | 4;
    ELSIF (jp >> 29) < (jm >> 29) THEN face := jp >> 29;
    ELSE face := (jm >> 29) + 8;
    END IF;
    ix := jm & (nside - 1);
    iy := nside - (jp & (nside - 1)) - 1;
  ELSE
    ntt := least(floor(tt), 3);
    tp := tt - ntt;
    tmp := nside * cos(radians("dec")) * sqrt(3.0 / (1.0 + za));
    jp := least(floor(tp * tmp), nside - 1);
    jm := least(floor((1.0 - tp) * tmp), nside - 1);
    IF z >= 0 THEN face := ntt; ix := nside - jm - 1; iy := nside - jp - 1;
    ELSE face := ntt + 8; ix := jp; iy := jm;
    END IF;
  END IF;
  RETURN (face << 58) + nufair.spread_bits(ix) + (nufair.spread_bits(iy) << 1);
END $$;
"""

_ROLE = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    CREATE ROLE nufair_tap NOLOGIN;
  END IF;
  IF NOT pg_has_role(current_user, 'nufair_tap', 'MEMBER') THEN
    EXECUTE format('GRANT nufair_tap TO %I', current_user);
  END IF;
EXCEPTION
  WHEN insufficient_privilege OR duplicate_object OR unique_violation THEN
    RAISE NOTICE 'role nufair_tap not set up: TAP runs in read-only transactions only';
END $$;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    GRANT USAGE ON SCHEMA nufair TO nufair_tap;
    GRANT SELECT ON nufair.alerts, nufair.revisions, public.region_tiles TO nufair_tap;
  END IF;
END $$;
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA nufair")
    op.execute(f"CREATE VIEW nufair.revisions AS SELECT {_COLUMNS},"
               " CAST(e.current_revision_pk = r.id AS integer)::smallint AS is_current"
               " FROM public.revisions r JOIN public.events e ON e.id = r.event_pk")
    op.execute(f"CREATE VIEW nufair.alerts AS SELECT {_COLUMNS}"
               " FROM public.events e JOIN public.revisions r ON r.id = e.current_revision_pk")
    op.execute(_HPX29)
    op.execute(_ROLE)


def downgrade() -> None:
    op.execute("""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    REVOKE SELECT ON public.region_tiles FROM nufair_tap;
  END IF;
END $$;""")
    op.execute("DROP SCHEMA nufair CASCADE")
