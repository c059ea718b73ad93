"""vo: regions as DALI polygons (region50, region90) and the ObsCore 1.1 view ivoa.obscore

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 08:45:00

Issue 15, items 1 and 5. ``nufair.region_polygon`` draws a published region as a DALI
polygon (a flat ``double precision[]`` of RA, Dec vertex pairs, counter-clockwise seen from
inside the sphere, vertices joined by great circles) that encloses the region:

* a circle of radius r: a regular 64-gon circumscribed about it (vertices at the radius R
  with tan R = tan r / cos(pi/64)); its edges lie outside the circle by at most R - r,
  below 0.121 % of r;
* an RA/Dec box: its meridian edges are great circles (exact); its parallel edges are not,
  so they are sampled every 0.5 degree of RA or less, and each vertex is moved off the
  parallel so that the great-circle chord between two vertices stays outside the box (at
  latitude d, a chord of half-width h bulges towards the nearer pole by
  atan(tan d / cos h) - d): the edges lie outside the box by at most 0.00028 degree. A box
  that reaches a pole becomes a sector with the pole as a vertex; a box of RA width 360 (a
  band) has no polygon (NULL).

Computed in the views (the function is immutable; a query that does not select the column
does not call it). Measured over 10 000 rows at load average 13 on 2 cores (to be re-run
quietly): 0.09 ms a row for a 4.9-degree box, 0.64 ms for a circle (64 plpgsql loop steps);
a set-based SQL body or a stored column would be the next step if that matters.

``ivoa.obscore`` (``s_region``: the same polygon as an STC-S string, ObsCore 1.1's
``adql:REGION``) has one row per published product of each revision: its MOCs (50 % and
90 %, from the region tiles, served by ``/datalink/moc`` as MOC 2.0 FITS) and its skymap
files (with a minted version DOI: their URL is under its landing page). URLs start with the
``nufair.base_url`` setting, which every TAP transaction sets (:mod:`vo.tapsession`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POLYGON = r"""
CREATE FUNCTION nufair.region_polygon(shape text, ra0 float8, dec0 float8, r float8,
    ra_plus float8, ra_minus float8, dec_plus float8, dec_minus float8)
RETURNS float8[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  poly float8[] := '{}';
  n int; step float8; h float8; lat float8; rr float8; th float8; phi float8;
  dlon float8; west float8; width float8; top float8; bottom float8; x float8;
BEGIN
  IF ra0 IS NULL OR dec0 IS NULL THEN RETURN NULL; END IF;
  IF shape = 'circle' THEN
    IF r IS NULL OR r <= 0 OR r >= 89 THEN RETURN NULL; END IF;
    rr := atan(tan(radians(r)) / cos(pi() / 64));
    FOR i IN 0..63 LOOP
      th := 2 * pi() * i / 64;  -- bearing from north through east
      phi := asin(sin(radians(dec0)) * cos(rr) + cos(radians(dec0)) * sin(rr) * cos(th));
      dlon := atan2(sin(th) * sin(rr) * cos(radians(dec0)),
                    cos(rr) - sin(radians(dec0)) * sin(phi));
      x := ra0 + degrees(dlon);
      poly := poly || ARRAY[x - 360.0 * floor(x / 360.0), degrees(phi)];
    END LOOP;
    RETURN poly;
  END IF;
  IF ra_plus IS NULL OR ra_minus IS NULL OR dec_plus IS NULL OR dec_minus IS NULL THEN
    RETURN NULL;
  END IF;
  width := ra_plus + ra_minus;
  top := dec0 + dec_plus;
  bottom := dec0 - dec_minus;
  IF width >= 360 OR width <= 0 OR top <= bottom OR (top >= 90 AND bottom <= -90) THEN
    RETURN NULL;
  END IF;
  n := greatest(1, ceil(width / 0.5)::int);
  step := width / n;
  h := radians(step / 2);
  west := ra0 - ra_minus;
  -- north edge, west to east: the chords must stay north of the parallel
  IF top >= 90 THEN
    poly := ARRAY[ra0, 90.0];
  ELSE
    lat := greatest(top, degrees(atan(tan(radians(top)) * cos(h))));
    FOR i IN 0..n LOOP
      x := west + i * step;
      poly := poly || ARRAY[x - 360.0 * floor(x / 360.0), lat];
    END LOOP;
  END IF;
  -- south edge, east to west: the chords must stay south of the parallel
  IF bottom <= -90 THEN
    poly := poly || ARRAY[ra0, -90.0];
  ELSE
    lat := least(bottom, degrees(atan(tan(radians(bottom)) * cos(h))));
    FOR i IN REVERSE n..0 LOOP
      x := west + i * step;
      poly := poly || ARRAY[x - 360.0 * floor(x / 360.0), lat];
    END LOOP;
  END IF;
  RETURN poly;
END $$
"""

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

_HISTORY_COLUMNS = """,
    e.status, e.status_reason, e.status_source, e.time_precision_s AS event_time_precision,
    e.time_source AS event_time_source, CAST(e.conflicts AS text) AS event_conflicts,
    CAST(r.conflicts AS text) AS conflicts, r.region50_shape AS shape50,
    r.region90_shape AS shape90"""


def _region(level: int) -> str:
    return (f"nufair.region_polygon(r.region{level}_shape, r.ra, r.dec, r.r{level}_deg, "
            f"r.ra_err_plus_{level}, r.ra_err_minus_{level}, r.dec_err_plus_{level}, "
            f"r.dec_err_minus_{level})")


# Appended (CREATE OR REPLACE VIEW may only add columns at the end).
_REGION_COLUMNS = f""",
    {_region(50)} AS region50, {_region(90)} AS region90"""


def _views(columns: str) -> None:
    op.execute(f"CREATE OR REPLACE VIEW nufair.revisions AS SELECT {_OLD_COLUMNS},"
               " CAST(e.current_revision_pk = r.id AS integer)::smallint AS is_current"
               f"{_HISTORY_COLUMNS}{columns}"
               " FROM public.revisions r JOIN public.events e ON e.id = r.event_pk")
    op.execute(f"CREATE OR REPLACE VIEW nufair.alerts AS SELECT {_OLD_COLUMNS}"
               f"{_HISTORY_COLUMNS}{columns}"
               " FROM public.events e JOIN public.revisions r ON r.id = e.current_revision_pk")


#: Planck constant times the speed of light, eV m: a neutrino of energy E "has" the
#: wavelength hc / E in ObsCore's em_min / em_max (metres). The band is that of IceCube's
#: realtime alerts, 1 TeV to 10 PeV.
_HC_EV_M = 1.23984198e-6
_EM_MIN = _HC_EV_M / 1e16
_EM_MAX = _HC_EV_M / 1e12

_BASE = "coalesce(current_setting('nufair.base_url', true), '')"

#: Columns every product of a revision shares (``v`` is the nufair.revisions row).
_COMMON = f"""
    'IceCube realtime alerts'::text AS obs_collection,
    coalesce(v.name, 'alert ' || v.alert_id) || ' rev ' || v.revision AS obs_id,
    coalesce(v.name, 'alert ' || v.alert_id) AS target_name,
    'IceCube'::text AS facility_name, 'IceCube in-ice array'::text AS instrument_name,
    v.ra AS s_ra, v.dec AS s_dec,
    NULL::float8 AS s_resolution, NULL::bigint AS s_xel1, NULL::bigint AS s_xel2,
    v.event_mjd AS t_min, v.event_mjd AS t_max, 0.0::float8 AS t_exptime,
    v.event_time_precision AS t_resolution, NULL::bigint AS t_xel,
    {_EM_MIN!r}::float8 AS em_min, {_EM_MAX!r}::float8 AS em_max,
    NULL::float8 AS em_res_power, NULL::bigint AS em_xel,
    NULL::text AS pol_states, NULL::bigint AS pol_xel,
    v.alert_id, v.revision_id, v.revision"""

_OBSCORE = f"""
CREATE VIEW ivoa.obscore AS
SELECT 'image'::text AS dataproduct_type, 'moc' || l.level AS dataproduct_subtype,
    3::smallint AS calib_level,
    v.obs_publisher_did || '#moc' || l.level AS obs_publisher_did,
    {_BASE} || '/datalink/moc?ID=' || v.obs_publisher_did || '&LEVEL=' || l.level
        || '&RESPONSEFORMAT=fits' AS access_url,
    'application/fits'::text AS access_format, NULL::bigint AS access_estsize,
    'Polygon ICRS ' || array_to_string(l.region, ' ') AS s_region, 2.0 * l.r AS s_fov, 'pos.outline;obs.field'::text AS o_ucd,
    {_COMMON}
FROM nufair.revisions v
CROSS JOIN LATERAL (VALUES (50, v.region50, v.r50), (90, v.region90, v.r90))
    AS l(level, region, r)
WHERE EXISTS (SELECT 1 FROM public.region_tiles t
              WHERE t.revision_pk = v.revision_id AND t.level = l.level)
UNION ALL
SELECT 'image'::text, 'skymap', 2::smallint,
    v.obs_publisher_did || '#' || a.filename,
    {_BASE} || '/records/' || replace(d.suffix, '/', '%2F') || '/files/' || a.filename,
    a.media_type, ceil(a.size_bytes / 1024.0)::bigint,
    'Polygon ICRS ' || array_to_string(v.region90, ' '), 2.0 * v.r90,
    'stat.probability'::text,
    {_COMMON}
FROM public.artifacts a
JOIN nufair.revisions v ON v.revision_id = a.revision_pk
JOIN public.dois d ON d.revision_pk = a.revision_pk
WHERE a.role IN ('skymap-fits', 'skymap-multiorder')
"""

_GRANT = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    GRANT USAGE ON SCHEMA ivoa TO nufair_tap;
    GRANT SELECT ON nufair.alerts, nufair.revisions, ivoa.obscore TO nufair_tap;
  END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(_POLYGON)
    _views(_REGION_COLUMNS)
    op.execute("CREATE SCHEMA IF NOT EXISTS ivoa")
    op.execute(_OBSCORE)
    op.execute(_GRANT)


def downgrade() -> None:
    op.execute("DROP VIEW ivoa.obscore")
    op.execute("DROP SCHEMA IF EXISTS ivoa")
    # A view loses columns only by being dropped and created again.
    op.execute("DROP VIEW nufair.alerts")
    op.execute("DROP VIEW nufair.revisions")
    _views("")
    op.execute("""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    GRANT SELECT ON nufair.alerts, nufair.revisions TO nufair_tap;
  END IF;
END $$;
""")
    op.execute("DROP FUNCTION nufair.region_polygon")
