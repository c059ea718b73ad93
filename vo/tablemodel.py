"""The building blocks of the published-table description (:mod:`vo.tables`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One published column (TAP_SCHEMA.columns and VOTable FIELD metadata).

    ``moc_level`` marks a virtual MOC column: it has no column in the relation; its value
    is built from the region tiles of the row's revision (``revision_id``) at that level.
    ``region_level`` marks the polygon of a region: a region predicate on it
    (``CONTAINS(POINT, region90)``) answers for the published region at that level.
    """

    name: str
    datatype: str  # VOTable datatype: char, short, int, long, double, boolean
    description: str
    unit: str | None = None
    ucd: str | None = None
    utype: str | None = None
    xtype: str | None = None
    arraysize: str | None = None
    indexed: bool = False
    principal: bool = False
    std: bool = False
    moc_level: int | None = None
    region_level: int | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A foreign key of TAP_SCHEMA.keys: ``columns`` are (from, target) pairs."""

    key_id: str
    from_table: str
    target_table: str
    columns: tuple[tuple[str, str], ...]
    description: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One published table. ``relation`` is the SQL relation ADQL names translate to;
    ``point`` names (ra, dec, order-29 index) columns when positions are indexed."""

    schema: str
    name: str  # unqualified, lower case
    description: str
    columns: tuple[ColumnInfo, ...]
    relation: str | None = None
    table_type: str = "view"
    utype: str | None = None
    point: tuple[str, str, str] | None = None
    id_column: str | None = None

    @property
    def qualified(self) -> str:
        """``schema.name``, as ADQL and VOSI write it."""
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo | None:
        """The column called ``name`` (lower case), or None."""
        for c in self.columns:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One published schema and its tables."""

    name: str
    description: str
    tables: tuple[TableInfo, ...] = field(default_factory=tuple)


def column_info(name: str, datatype: str, description: str, **kw: object) -> ColumnInfo:
    """A :class:`ColumnInfo`; text (``char``) is variable-length unless told otherwise."""
    if datatype == "char" and "arraysize" not in kw:
        kw["arraysize"] = "*"
    return ColumnInfo(name, datatype, description, **kw)  # type: ignore[arg-type]
