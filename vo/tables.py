"""The one description of what the VO layer publishes.

Every published table and column is described once here; TAP_SCHEMA rows, the VOSI
``/tables`` documents, the ADQL checks (which tables and columns exist) and the VOTable
field metadata of query results all come from these objects.
"""

from __future__ import annotations

from catalog.counterparts.registry import Catalogue, catalogues
from vo.tablemodel import ColumnInfo as ColumnInfo
from vo.tablemodel import ForeignKey as ForeignKey
from vo.tablemodel import SchemaInfo as SchemaInfo
from vo.tablemodel import TableInfo as TableInfo
from vo.tablemodel import column_info as _c
from vo.tables_obscore import OBSCORE, region_description

#: The relation that holds each level's region tiles (the MOC columns' storage).
TILES_RELATION = "public.region_tiles"


def _moc_description(level: int) -> str:
    """What a MOC column is, and what a region predicate on it answers (issue 15)."""
    return (f"Covering of the {level} % region by HEALPix tiles at the region's tile order "
            "(ASCII MOC 2.0): an approximation, larger than the region. The region predicate "
            f"1 = CONTAINS(POINT(...), moc{level}) (or INTERSECTS with a POINT) is exact: it "
            "uses the tiles as an index and answers for the published region itself (the "
            f"circle of radius r{level}, or the RA/Dec box ra/dec_err_plus/minus_{level}), as "
            "/api/v1/regions/containing does.")


def _alert_columns(current: bool) -> tuple[ColumnInfo, ...]:
    what = "the current revision" if current else "this revision"
    cols = [
        _c("alert_id", "long", "Archive key of the event (stable).", ucd="meta.id",
           indexed=True, principal=True),
        _c("name", "char", "Alert name, e.g. IceCube-200615A.", ucd="meta.id;meta.main",
           indexed=True, principal=True),
        _c("observatory", "char", "Observatory that detected the event.",
           ucd="meta.id;instr.obsty"),
        _c("run_id", "long", "Detector run number.", ucd="meta.id;obs"),
        _c("event_id", "long", "Event number within the run.", ucd="meta.id"),
        _c("stream", "char", f"Alert stream of {what} (gold, bronze, cascade, hese, ehe, none).",
           ucd="meta.code.class", principal=True),
        _c("event_time", "char", "Time of the event (UTC).", xtype="timestamp",
           ucd="time.epoch", indexed=True, principal=True),
        _c("event_mjd", "double", "Time of the event as MJD (UTC).", unit="d",
           ucd="time.epoch"),
        _c("revision_id", "long", f"Archive key of {what}.", ucd="meta.id"),
        _c("revision", "int", "Revision number of the event: 0, 1, 2, ... in order of arrival.",
           ucd="meta.version", principal=True),
        _c("revision_kind", "char", "initial, update or retraction.", ucd="meta.code"),
        _c("source", "char", "Where the revision came from (gcn-voevent, gcn-json, "
           "icecat-1, amon-table, reco).", ucd="meta.ref"),
        _c("issued_at", "char", "When the source issued the revision (UTC).",
           xtype="timestamp", ucd="time.creation"),
        _c("ra", "double", "Best-fit right ascension (ICRS).", unit="deg",
           ucd="pos.eq.ra;meta.main", indexed=True, principal=True),
        _c("dec", "double", "Best-fit declination (ICRS).", unit="deg",
           ucd="pos.eq.dec;meta.main", indexed=True, principal=True),
    ]
    for level in (50, 90):
        cols += [
            _c(f"ra_err_plus_{level}", "double", f"{level} % region when it is a box "
               f"(shape{level} = 'box'): RA half-width above the best fit, as a coordinate "
               "difference (not on-sky); null for a circle.", unit="deg",
               ucd="stat.error;pos.eq.ra"),
            _c(f"ra_err_minus_{level}", "double", f"{level} % region when it is a box: RA "
               "half-width below the best fit (coordinate difference); null for a circle.",
               unit="deg", ucd="stat.error;pos.eq.ra"),
            _c(f"dec_err_plus_{level}", "double", f"{level} % region when it is a box: Dec "
               "half-width above the best fit; null for a circle.", unit="deg",
               ucd="stat.error;pos.eq.dec"),
            _c(f"dec_err_minus_{level}", "double", f"{level} % region when it is a box: Dec "
               "half-width below the best fit; null for a circle.", unit="deg",
               ucd="stat.error;pos.eq.dec"),
            _c(f"r{level}", "double", f"Radius of the {level} % region when it is a "
               f"circle (shape{level} = 'circle'); for a box, the radius of the cap of equal "
               "area (a summary, not the shape: the box is its four half-widths).",
               unit="deg", ucd="stat.error;pos.angDistance", principal=level == 90),
            _c(f"area{level}", "double", f"Area of the {level} % region.", unit="deg**2",
               ucd="phys.angArea"),
        ]
    cols += [
        _c("energy", "double", "Most probable neutrino energy.", unit="TeV",
           ucd="phys.energy", principal=True),
        _c("signalness", "double", "Probability that the event is astrophysical.",
           ucd="stat.probability", principal=True),
        _c("far", "double", "False-alarm rate.", unit="yr**-1", ucd="stat.falseAlarm"),
        _c("ivorn", "char", "IVORN of the GCN notice.", ucd="meta.ref.ivoid"),
        _c("retracted", "short", f"1 when {what} is a retraction, else 0.",
           ucd="meta.code.status"),
        _c("retraction_reason", "char", "Why the alert was retracted.", ucd="meta.note"),
        _c("status", "char", "What the alert is now: live, retracted (by IceCube), or "
           "likely_background (IceCat-1 CR_VETO: likely a cosmic-ray muon). Filter on "
           "status = 'live' for the alerts that still stand.", ucd="meta.code.status",
           indexed=False, principal=True),
        _c("status_reason", "char", "Why the status is not live.", ucd="meta.note"),
        _c("status_source", "char", "Source key of the revision that set the status.",
           ucd="meta.ref"),
        _c("event_time_precision", "double", "Resolution of event_time as its source wrote "
           "it (1e-06 for IceCat-1, 0.01 for GCN notices).", unit="s",
           ucd="stat.error;time.epoch"),
        _c("event_time_source", "char", "Source key of the revision event_time comes from "
           "(the most authoritative, most precise source).", ucd="meta.ref"),
        _c("event_conflicts", "char", "JSON list of sources that disagree with event_time "
           "beyond both precisions ([] when none).", ucd="meta.note"),
        _c("conflicts", "char", f"JSON list of the values the sources of {what} disagree on, "
           "with each source's value ([] when none).", ucd="meta.note"),
        _c("shape50", "char", "Shape of the 50 % region: circle (radius r50; the four "
           "extents are then all r50) or box (RA/Dec half-widths ra/dec_err_plus/minus_50).",
           ucd="meta.code"),
        _c("shape90", "char", "Shape of the 90 % region: circle (radius r90) or box (RA/Dec "
           "half-widths ra/dec_err_plus/minus_90, RA as a coordinate difference).",
           ucd="meta.code"),
        _c("obs_publisher_did", "char", "Publisher dataset identifier; the ID parameter of "
           "the DataLink service.", ucd="meta.ref.ivoid;meta.main"),
        _c("moc50", "char", _moc_description(50), xtype="moc", ucd="pos.outline;obs.field",
           moc_level=50),
        _c("moc90", "char", _moc_description(90), xtype="moc", ucd="pos.outline;obs.field",
           moc_level=90, principal=True),
        _c("region50", "double", region_description(50), xtype="polygon", arraysize="*",
           ucd="pos.outline;obs.field", region_level=50),
        _c("region90", "double", region_description(90), xtype="polygon", arraysize="*",
           ucd="pos.outline;obs.field", region_level=90),
    ]
    if not current:
        cols.append(_c("is_current", "short", "1 when this revision currently describes the "
                       "event, else 0.", ucd="meta.code"))
    return tuple(cols)


ALERTS = TableInfo(
    "nufair", "alerts",
    "Neutrino alerts: one row per event, described by its current revision.",
    _alert_columns(current=True), relation="nufair.alerts",
    point=("ra", "dec", "hpx29"), id_column="revision_id",
)
REVISIONS = TableInfo(
    "nufair", "revisions",
    "Every revision of every neutrino alert (initial notice, updates, retractions).",
    _alert_columns(current=False), relation="nufair.revisions",
    point=("ra", "dec", "hpx29"), id_column="revision_id",
)


def _ts_col(name: str, datatype: str, description: str, **kw: object) -> ColumnInfo:
    return _c(name, datatype, description, std=True, principal=True, **kw)


TS_SCHEMAS = TableInfo("tap_schema", "schemas", "Schemas published by this service.", (
    _ts_col("schema_name", "char", "Schema name"),
    _ts_col("utype", "char", "Schema utype"),
    _ts_col("description", "char", "Describes the schema"),
    _ts_col("schema_index", "int", "Recommended order of the schemas"),
), table_type="table")
TS_TABLES = TableInfo("tap_schema", "tables", "Tables published by this service.", (
    _ts_col("schema_name", "char", "Schema the table belongs to"),
    _ts_col("table_name", "char", "Fully qualified table name"),
    _ts_col("table_type", "char", "table or view"),
    _ts_col("utype", "char", "Table utype"),
    _ts_col("description", "char", "Describes the table"),
    _ts_col("table_index", "int", "Recommended order of the tables"),
), table_type="table")
TS_COLUMNS = TableInfo("tap_schema", "columns", "Columns of the published tables.", (
    _ts_col("table_name", "char", "Fully qualified table name"),
    _ts_col("column_name", "char", "Column name"),
    _ts_col("datatype", "char", "VOTable datatype"),
    _ts_col("arraysize", "char", "VOTable arraysize"),
    _ts_col("xtype", "char", "VOTable xtype"),
    _ts_col("size", "int", "Deprecated length of the column"),
    _ts_col("description", "char", "Describes the column"),
    _ts_col("utype", "char", "Column utype"),
    _ts_col("unit", "char", "Unit in VO standard format"),
    _ts_col("ucd", "char", "UCD of the column"),
    _ts_col("indexed", "int", "1 when the column is indexed"),
    _ts_col("principal", "int", "1 when the column is principal"),
    _ts_col("std", "int", "1 when the column is defined by a standard"),
    _ts_col("column_index", "int", "Recommended order of the columns"),
), table_type="table")
TS_KEYS = TableInfo("tap_schema", "keys", "Foreign keys between published tables.", (
    _ts_col("key_id", "char", "Key identifier"),
    _ts_col("from_table", "char", "Table with the foreign key"),
    _ts_col("target_table", "char", "Table with the primary key"),
    _ts_col("description", "char", "Describes the key"),
    _ts_col("utype", "char", "Key utype"),
), table_type="table")
TS_KEY_COLUMNS = TableInfo("tap_schema", "key_columns", "Columns of the foreign keys.", (
    _ts_col("key_id", "char", "Key identifier"),
    _ts_col("from_column", "char", "Column in the from_table"),
    _ts_col("target_column", "char", "Column in the target_table"),
), table_type="table")


# -- Counterpart candidates (issue 19): the registered catalogues (catalog.counterparts,
# one schema each, e.g. fermi.fgl4) and nufair.counterparts, joinable with the alerts on
# revision_id and with a catalogue on source_name.

#: VOTable datatype of each catalogue column type of the registry.
_CATALOGUE_DATATYPES = {"text": "char", "int": "int", "double": "double"}


def _catalogue_table(cat: Catalogue) -> TableInfo:
    """A registered catalogue as a published table (positions indexed by ``hpx29``)."""
    keys = {cat.name, cat.ra, cat.dec}
    main = keys | {cat.source_class, cat.association, cat.semi_major}
    cols = tuple(_c(c.name, _CATALOGUE_DATATYPES[c.type], c.description, unit=c.unit,
                    ucd=c.ucd, indexed=c.name in keys, principal=c.name in main)
                 for c in cat.columns)
    return TableInfo(cat.schema, cat.table, cat.description, cols, relation=cat.qualified,
                     table_type="table", point=(cat.ra, cat.dec, "hpx29"))


def _catalogue_schemas() -> tuple[SchemaInfo, ...]:
    """One published schema per catalogue schema of the registry, in its order."""
    by_schema: dict[str, list[Catalogue]] = {}
    for cat in catalogues():
        by_schema.setdefault(cat.schema, []).append(cat)
    return tuple(SchemaInfo(name, cats[0].schema_description,
                            tuple(_catalogue_table(c) for c in cats))
                 for name, cats in by_schema.items())


COUNTERPARTS = TableInfo(
    "nufair", "counterparts",
    "Counterpart candidates: catalogued sources whose position lies in a revision's 50 % or "
    "90 % region, or whose 95 % error ellipse overlaps it (exact region, as CONTAINS "
    "answers). Join with nufair.alerts or nufair.revisions on revision_id.", (
        _c("revision_id", "long", "Archive key of the revision (nufair.revisions).",
           ucd="meta.id", indexed=True, principal=True),
        _c("alert_id", "long", "Archive key of the event (nufair.alerts).", ucd="meta.id",
           principal=True),
        _c("catalogue", "char", "Catalogue key, e.g. 4fgl-dr4.", ucd="meta.id;meta.dataset",
           principal=True),
        _c("source_name", "char", "Source name in its catalogue (e.g. fermi.fgl4).",
           ucd="meta.id", principal=True),
        _c("source_class", "char", "Class of the source in its catalogue.", ucd="src.class",
           principal=True),
        _c("association", "char", "Associated counterpart named by the catalogue.",
           ucd="meta.id.assoc"),
        _c("ra", "double", "Right ascension of the source (ICRS).", unit="deg",
           ucd="pos.eq.ra"),
        _c("dec", "double", "Declination of the source (ICRS).", unit="deg",
           ucd="pos.eq.dec"),
        _c("region_level", "short", "Containment of the region, percent (50 or 90).",
           ucd="stat.confidenceLevel", principal=True),
        _c("match_type", "char", "position: the source's position lies in the region; ellipse: "
           "only its 95 % error ellipse overlaps it.", ucd="meta.code", principal=True),
        _c("separation", "double", "Angular distance from the revision's best fit.",
           unit="deg", ucd="pos.angDistance", principal=True),
    ), relation="nufair.counterparts")

CATALOGUE_SCHEMAS = _catalogue_schemas()

SCHEMAS: tuple[SchemaInfo, ...] = (
    SchemaInfo("nufair", "High-energy neutrino alerts: events, revisions and their "
               "localisation regions.", (ALERTS, REVISIONS, COUNTERPARTS)),
    SchemaInfo("tap_schema", "Metadata of the tables this TAP service publishes (TAP 1.1).",
               (TS_SCHEMAS, TS_TABLES, TS_COLUMNS, TS_KEYS, TS_KEY_COLUMNS)),
    SchemaInfo("ivoa", "IVOA standard tables: ObsCore 1.1.", (OBSCORE,)),
    *CATALOGUE_SCHEMAS,
)

KEYS: tuple[ForeignKey, ...] = (
    ForeignKey("revisions_alert", "nufair.revisions", "nufair.alerts",
               (("alert_id", "alert_id"),), "The event each revision belongs to."),
    ForeignKey("ts_tables_schema", "tap_schema.tables", "tap_schema.schemas",
               (("schema_name", "schema_name"),), "Schema of each table."),
    ForeignKey("ts_columns_table", "tap_schema.columns", "tap_schema.tables",
               (("table_name", "table_name"),), "Table of each column."),
    ForeignKey("ts_keys_from", "tap_schema.keys", "tap_schema.tables",
               (("from_table", "table_name"),), "Table holding the foreign key."),
    ForeignKey("ts_keys_target", "tap_schema.keys", "tap_schema.tables",
               (("target_table", "table_name"),), "Table the key points at."),
    ForeignKey("ts_key_columns_key", "tap_schema.key_columns", "tap_schema.keys",
               (("key_id", "key_id"),), "Key each column pair belongs to."),
)

#: Column names that are ADQL reserved words; TAP_SCHEMA and VOSI publish them delimited.
DELIMITED = frozenset({"size"})


def published_name(name: str) -> str:
    """The column name as TAP_SCHEMA.columns and /tables give it (TAP 1.1 section 4.3)."""
    return f'"{name}"' if name in DELIMITED else name


def all_tables() -> list[TableInfo]:
    """Every published table, schema by schema."""
    return [t for s in SCHEMAS for t in s.tables]


def find_table(schema: str | None, name: str) -> TableInfo | None:
    """The published table ``schema.name`` (case-insensitive), or None."""
    name = name.lower()
    hits = [t for t in all_tables()
            if t.name == name and (schema is None or t.schema == schema.lower())]
    return hits[0] if len(hits) == 1 else None


def tap_schema_rows(table: str) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and rows of one TAP_SCHEMA table, generated from the description."""
    if table == "schemas":
        return ["schema_name", "utype", "description", "schema_index"], [
            (s.name, None, s.description, i) for i, s in enumerate(SCHEMAS)]
    if table == "tables":
        rows: list[tuple[object, ...]] = []
        i = 0
        for s in SCHEMAS:
            for t in s.tables:
                rows.append((s.name, t.qualified, t.table_type, t.utype, t.description, i))
                i += 1
        return ["schema_name", "table_name", "table_type", "utype", "description",
                "table_index"], rows
    if table == "columns":
        rows = []
        for t in all_tables():
            for i, c in enumerate(t.columns):
                rows.append((t.qualified, published_name(c.name), c.datatype, c.arraysize,
                             c.xtype, None, c.description, c.utype, c.unit, c.ucd, int(c.indexed),
                             int(c.principal), int(c.std), i))
        return [c.name for c in TS_COLUMNS.columns], rows
    if table == "keys":
        return ["key_id", "from_table", "target_table", "description", "utype"], [
            (k.key_id, k.from_table, k.target_table, k.description, None) for k in KEYS]
    if table == "key_columns":
        return ["key_id", "from_column", "target_column"], [
            (k.key_id, f, t) for k in KEYS for f, t in k.columns]
    raise KeyError(table)
