"""The published regions as polygons, and ``ivoa.obscore`` (ObsCore 1.1), described.

The SQL is in migration ``0015_obscore`` (``nufair.region_polygon`` and the view); the
descriptions here say what the values are, as TAP_SCHEMA and VOSI publish them.
"""

from __future__ import annotations

from vo.tablemodel import ColumnInfo, TableInfo
from vo.tablemodel import column_info as _c

#: ObsCore 1.1's data model, as TAPRegExt declares it and TAP_SCHEMA.tables' utype.
OBSCORE_MODEL = ("ivo://ivoa.net/std/ObsCore#core-1.1", "ObsCore-1.1")

#: Vertices of the polygon drawn about a circle.
CIRCLE_VERTICES = 64

#: Most RA (degrees) between two vertices on a box's parallel edge.
BOX_STEP_DEG = 0.5

#: Largest distance (degrees) by which a box's polygon lies outside the box: a great-circle
#: chord of half-width h at latitude d bulges by atan(tan d / cos h) - d, at most
#: (1 / cos h - 1) / 2 rad for any d, with h = BOX_STEP_DEG / 2.
BOX_DEVIATION_DEG = 0.00028

#: Largest distance by which a circle's polygon lies outside the circle, as a fraction of
#: its radius: 1 / cos(pi / 64) - 1.
CIRCLE_DEVIATION = 0.00121


def region_description(level: int) -> str:
    """What a ``region{level}`` polygon is, and how far it may lie from the region."""
    return (f"The {level} % region drawn as a DALI polygon (RA, Dec vertex pairs, ICRS, "
            "counter-clockwise seen from inside, joined by great circles) that encloses it. "
            f"A circle is the regular {CIRCLE_VERTICES}-gon circumscribed about it: its edges "
            f"lie outside the circle by at most {CIRCLE_DEVIATION * 100:.3f} % of r{level}. "
            "An RA/Dec box is not a great-circle polygon (its Dec edges are parallels): they "
            f"are sampled every {BOX_STEP_DEG} degree of RA or less and each vertex moved "
            "off the parallel so that the chords stay outside the box, by at most "
            f"{BOX_DEVIATION_DEG} degree; a box reaching a pole is a sector with the pole as "
            "a vertex. A scan's region (the scan contour, the MOC tiles within the box) is "
            "drawn as its box. Null for a box 360 degrees wide. The polygon is for display "
            f"(TOPCAT, Aladin); the predicate 1 = CONTAINS(POINT(...), region{level}) (or "
            "INTERSECTS with a POINT) is exact: it tests the published region itself (the "
            "circle, the box, the scan contour; also where this column is null), not the "
            f"polygon, and answers as the one on moc{level} does. 1 = INTERSECTS(CIRCLE(...), "
            f"region{level}) (either order) is exact too: the circle meets the published "
            "circle or box (a scan's contour: its MOC tiles, as covered by the circle's "
            "tiles, within the box). 1 = CONTAINS(CIRCLE(...), "
            f"region{level}) is exact as well: the circle lies in the published circle or "
            f"box; and so are 1 = INTERSECTS(POLYGON(...), region{level}) (either order), "
            f"1 = CONTAINS(POLYGON(...), region{level}) (the polygon lies in the region), "
            f"1 = CONTAINS(region{level}, POLYGON(...)) and 1 = CONTAINS(region{level}, "
            "CIRCLE(...)) (the region lies in the shape), a BOX(...) being the polygon of its "
            "corners (a region without extents: decided by its MOC tiles against the shape's "
            "covering). The shapes must be constant, or for a CIRCLE its arguments arithmetic "
            "(+ - * /, constants) of the columns of one uploaded table (TAP_UPLOAD: a list "
            "of sources with error radii, e.g. s.err / 3600.0) in "
            f"1 = INTERSECTS(CIRCLE(...), region{level}) (either order) and 1 = CONTAINS("
            f"CIRCLE(...), region{level}), exact as well. 1 = INTERSECTS(region{level}, "
            "region50) (or region90, of another row: a self-join) is the exact overlap of "
            "the two published regions (two scan contours: their tiles), and 1 = CONTAINS("
            f"region{level}, region90) (or region50, of this row or another) is exact: the "
            "first region lies in the second. Overlaps with MOCs, POLYGONs of columns, and "
            f"a region inside a CIRCLE of columns are asked of moc{level}.")


def _obs(name: str, datatype: str, description: str, utype: str, ucd: str | None,
         **kw: object) -> ColumnInfo:
    return _c(name, datatype, description, utype=f"obscore:{utype}", ucd=ucd, std=True,
              **kw)


_OBSCORE_COLUMNS = (
    _obs("dataproduct_type", "char", "Data product type: image (a HEALPix skymap or a MOC).",
         "ObsDataset.dataProductType", "meta.code.class", principal=True),
    _obs("dataproduct_subtype", "char", "moc50 or moc90 (the region as a MOC 2.0), or "
         "skymap (the scan's likelihood skymap, HEALPix FITS).",
         "ObsDataset.dataProductSubtype", "meta.code.class"),
    _obs("calib_level", "short", "3 for a MOC (derived region), 2 for a skymap.",
         "ObsDataset.calibLevel", "meta.code;obs.calib", principal=True),
    _obs("obs_collection", "char", "Collection: IceCube realtime alerts.",
         "DataID.Collection", "meta.id", principal=True),
    _obs("obs_id", "char", "Alert name and revision, e.g. IceCube-200615A rev 1.",
         "DataID.observationID", "meta.id", principal=True),
    _obs("obs_publisher_did", "char", "Identifier of this product: the revision's DID "
         "(the DataLink ID, nufair.revisions.obs_publisher_did) with #moc50, #moc90 or "
         "#<skymap file name>.", "Curation.PublisherDID", "meta.ref.ivoid", principal=True),
    _obs("access_url", "char", "URL of the product: the MOC as MOC 2.0 FITS "
         "(/datalink/moc), or the skymap file under its landing page.",
         "Access.Reference", "meta.ref.url", principal=True),
    _obs("access_format", "char", "MIME type of the product.", "Access.Format",
         "meta.code.mime", principal=True),
    _obs("access_estsize", "long", "Size of the product (null for a MOC: made on request).",
         "Access.Size", "phys.size;meta.file", unit="kbyte"),
    _obs("target_name", "char", "Alert name.", "Target.Name", "meta.id;src", principal=True),
    _obs("s_ra", "double", "Best-fit right ascension of the revision (ICRS).",
         "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1", "pos.eq.ra",
         unit="deg", principal=True),
    _obs("s_dec", "double", "Best-fit declination of the revision (ICRS).",
         "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2", "pos.eq.dec",
         unit="deg", principal=True),
    _obs("s_fov", "double", "Diameter of the region: twice its radius (a box: the radius "
         "of the cap of equal area).", "Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
         "phys.angSize;instr.fov", unit="deg", principal=True),
    _obs("s_region", "char", "The product's region (a skymap: its revision's 90 % "
         "region) as an STC-S polygon that encloses it (the DALI polygon "
         "nufair.revisions.region50 / region90, which says how it is drawn and how far it "
         "may lie outside the region).",
         "Char.SpatialAxis.Coverage.Support.Area", "pos.outline;obs.field",
         xtype="adql:REGION", principal=True),
    _obs("s_resolution", "double", "Spatial resolution (not given).",
         "Char.SpatialAxis.Resolution.Refval.value", "pos.angResolution", unit="arcsec"),
    _obs("s_xel1", "long", "Pixels along the first axis (not given: HEALPix).",
         "Char.SpatialAxis.numBins1", "meta.number"),
    _obs("s_xel2", "long", "Pixels along the second axis (not given: HEALPix).",
         "Char.SpatialAxis.numBins2", "meta.number"),
    _obs("t_min", "double", "Time of the event (MJD, UTC).",
         "Char.TimeAxis.Coverage.Bounds.Limits.StartTime", "time.start;obs.exposure",
         unit="d", principal=True),
    _obs("t_max", "double", "Time of the event (MJD, UTC): one instant.",
         "Char.TimeAxis.Coverage.Bounds.Limits.StopTime", "time.end;obs.exposure",
         unit="d", principal=True),
    _obs("t_exptime", "double", "0: a neutrino event is one instant.",
         "Char.TimeAxis.Coverage.Support.Extent", "time.duration;obs.exposure", unit="s",
         principal=True),
    _obs("t_resolution", "double", "Resolution of the event time as its source wrote it.",
         "Char.TimeAxis.Resolution.Refval.value", "time.resolution", unit="s"),
    _obs("t_xel", "long", "Time bins (not given).", "Char.TimeAxis.numBins", "meta.number"),
    _obs("em_min", "double", "Shortest wavelength, hc/E, of a neutrino of IceCube's "
         "realtime alert energy range (E up to 10 PeV).",
         "Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit", "em.wl;stat.min", unit="m",
         principal=True),
    _obs("em_max", "double", "Longest wavelength, hc/E, of that range (E from 1 TeV).",
         "Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit", "em.wl;stat.max", unit="m",
         principal=True),
    _obs("em_res_power", "double", "Spectral resolving power (not given).",
         "Char.SpectralAxis.Resolution.ResolPower.refVal", "spect.resolution"),
    _obs("em_xel", "long", "Spectral bins (not given).", "Char.SpectralAxis.numBins",
         "meta.number"),
    _obs("o_ucd", "char", "UCD of what the product holds: pos.outline;obs.field (a MOC) or "
         "stat.probability (a skymap).", "Char.ObservableAxis.ucd", "meta.ucd",
         principal=True),
    _obs("pol_states", "char", "Polarisation states (none).",
         "Char.PolarizationAxis.stateList", "meta.code;phys.polarization"),
    _obs("pol_xel", "long", "Polarisation bins (none).", "Char.PolarizationAxis.numBins",
         "meta.number"),
    _obs("facility_name", "char", "IceCube.", "Provenance.ObsConfig.Facility.name",
         "meta.id;instr.tel", principal=True),
    _obs("instrument_name", "char", "IceCube in-ice array.",
         "Provenance.ObsConfig.Instrument.name", "meta.id;instr", principal=True),
    _c("alert_id", "long", "Archive key of the event (nufair.alerts).", ucd="meta.id"),
    _c("revision_id", "long", "Archive key of the revision (nufair.revisions).",
       ucd="meta.id"),
    _c("revision", "int", "Revision number of the event.", ucd="meta.version"),
)

OBSCORE = TableInfo(
    "ivoa", "obscore",
    "ObsCore 1.1: one row per published product of each alert revision (its 50 % and 90 % "
    "regions as MOCs, its scan's skymap files).", _OBSCORE_COLUMNS,
    relation="ivoa.obscore", utype="ivo://ivoa.net/std/obscore#table-1.1",
    point=None, id_column="revision_id")
