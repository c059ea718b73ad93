"""Names in an ADQL query: FROM items, their columns, and expressions with their types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lark import Token

from vo.errors import AdqlError
from vo.tables import ColumnInfo, TableInfo

#: A node of the lark syntax tree (a Tree or a Token). lark's own types do not narrow
#: children, so the translator treats nodes dynamically and checks their shape at run time.
Node = Any


def quote(name: str) -> str:
    """A PostgreSQL delimited identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Ident:
    """An ADQL identifier: regular ones compare case-insensitively, delimited ones exactly."""

    text: str
    delimited: bool
    line: int | None = None
    column: int | None = None

    @classmethod
    def of(cls, tree: Node) -> Ident:
        """The identifier of an ``identifier`` syntax node, with its position."""
        tok = tree.children[0]
        assert isinstance(tok, Token)
        if tok.type == "DELIMITED_ID":
            return cls(tok[1:-1].replace('""', '"'), True, tok.line, tok.column)
        return cls(str(tok), False, tok.line, tok.column)

    def matches(self, name: str) -> bool:
        """Whether ``name`` is this identifier (exactly when delimited, else in any case)."""
        return name == self.text if self.delimited else name.lower() == self.text.lower()

    @property
    def output_name(self) -> str:
        """The name as a result column gets it (regular identifiers in lower case)."""
        return self.text if self.delimited else self.text.lower()


@dataclass(slots=True)
class Expr:
    """A translated value expression.

    ``kind`` is ``value`` or a geometry (``point``, ``circle``, ``polygon``) or ``moc``.
    Geometries keep their parts (SQL of each coordinate) so that predicates can use them;
    constants keep their Python value so that coverings can be computed.
    """

    sql: str
    kind: str = "value"
    meta: ColumnInfo | None = None
    parts: tuple[Expr, ...] = ()
    const: float | str | None = None
    hpx: str | None = None  # SQL of the order-29 index of a point, when there is one
    indexed: bool = False  # hpx is an indexed column (a pre-filter pays off)
    polygon: object | None = None  # vo.adql.geometry.ConvexPolygon for constant polygons
    moc: tuple[str, int] | None = None  # (revision id SQL, level) of a MOC or region column
    region: str | None = None  # SQL alias of the alert row whose columns give a MOC's shape
    exact: bool = False  # a region column: its overlaps are those of the published shape
    name: str | None = None  # default output name
    type: str | None = None  # number or string when known without metadata (adql_type)
    #: Arithmetic (``+ - * /``, unary ``+ -``): its operator and operands, kept so that a
    #: CIRCLE of uploaded columns can be evaluated per row (vo.adql.uploadcircles).
    arith: tuple[str, tuple[Expr, ...]] | None = None

    @property
    def is_const(self) -> bool:
        """Whether the value (or every part of a geometry) is a constant number."""
        return isinstance(self.const, float | int) or (
            bool(self.parts) and all(p.is_const for p in self.parts))


#: VOTable datatypes of numbers.
_NUMBERS = frozenset({"short", "int", "long", "float", "double", "unsignedByte"})


def adql_type(e: Expr) -> str | None:
    """What ``e`` is for the type rules of operators: ``number``, ``string``, ``timestamp``,
    a geometry kind, or None when unknown (NULL, arrays, booleans, CASE...)."""
    if e.kind != "value":
        return e.kind
    if e.type is not None:
        return e.type
    if isinstance(e.const, str):
        return "string"
    if isinstance(e.const, int | float):
        return "number"
    m = e.meta
    if m is None or (m.arraysize not in (None, "1") and m.datatype not in ("char",
                                                                            "unicodeChar")):
        return None
    if m.xtype == "timestamp":
        return "timestamp"
    if m.datatype in ("char", "unicodeChar"):
        return "string"
    return "number" if m.datatype in _NUMBERS else None


@dataclass(slots=True)
class RelColumn:
    """A column of a FROM item: its name, its SQL, metadata, kind; hidden ones are internal."""

    name: str
    sql: str
    meta: ColumnInfo | None = None
    kind: str = "value"
    hidden: bool = False


@dataclass(slots=True)
class Relation:
    """A FROM item: what names qualify it, its SQL alias and its columns."""

    alias: str  # SQL alias we generate
    adql_alias: Ident | None
    table: TableInfo | None
    table_name: str | None  # unqualified published/upload name when not aliased
    schema_name: str | None
    columns: list[RelColumn] = field(default_factory=list)
    point_hpx: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)

    def qualified_by(self, parts: list[Ident]) -> bool:
        """Whether ``parts`` (``alias``, ``table`` or ``schema.table``) names this item."""
        if self.adql_alias is not None:
            return len(parts) == 1 and parts[0].output_name == self.adql_alias.output_name
        if self.table_name is None:
            return False
        if len(parts) == 1:
            return parts[0].matches(self.table_name)
        if len(parts) == 2 and self.schema_name is not None:
            return parts[0].matches(self.schema_name) and parts[1].matches(self.table_name)
        return False

    def find(self, ident: Ident) -> RelColumn | None:
        """The column named ``ident``, or None."""
        hits = [c for c in self.columns if ident.matches(c.name)]
        return hits[0] if hits else None

    def column_expr(self, col: RelColumn) -> Expr:
        """The expression of a column: a MOC, a geometry with its parts, or a value."""
        table = self.table  # None for a derived table: a MOC arrives there as its ranges
        if col.meta is not None and col.meta.moc_level is not None and table and table.id_column:
            rev = f"{self.alias}.{quote(table.id_column)}"
            return Expr(sql=rev, kind="moc", meta=col.meta, moc=(rev, col.meta.moc_level),
                        region=self.alias, name=col.name)
        if col.meta is not None and col.meta.region_level is not None and table and \
                table.id_column:
            # a value (its polygon) that a region predicate reads as the published region
            rev = f"{self.alias}.{quote(table.id_column)}"
            return Expr(sql=col.sql, meta=col.meta, name=col.name,
                        moc=(rev, col.meta.region_level), region=self.alias)
        if col.kind in ("point", "circle", "polygon"):
            parts = tuple(Expr(f"({col.sql})[{i}]") for i in (1, 2, 3)[:2 if col.kind ==
                                                                       "point" else 3])
            return Expr(sql=col.sql, kind=col.kind, meta=col.meta, parts=parts, name=col.name)
        return Expr(sql=col.sql, meta=col.meta, name=col.name)


@dataclass(slots=True)
class Merged:
    """The one column a ``JOIN ... USING`` or NATURAL JOIN makes of same-named columns:
    an unqualified name means it, and ``*`` lists it once, first."""

    name: str
    expr: Expr
    relations: list[Relation]


class Scope:
    """The FROM items visible at one query level, with the enclosing levels behind it."""

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.relations: list[Relation] = []
        self.merged: list[Merged] = []

    def merge(self, name: str, expr: Expr, relations: list[Relation]) -> None:
        """Record a joined column; it replaces the joined columns it was made of."""
        self.merged = [m for m in self.merged if not (
            m.name == name and all(r in relations for r in m.relations))]
        self.merged.append(Merged(name, expr, relations))

    def _merged_hits(self, col: Ident) -> tuple[list[Expr], list[Relation]]:
        """Joined columns named ``col``, and the relations whose own column they hide."""
        hits = [m for m in self.merged if col.matches(m.name)]
        return [m.expr for m in hits], [r for m in hits for r in m.relations]

    def resolve(self, parts: list[Ident]) -> Expr:
        """The column named by ``parts`` (``col``, ``t.col``, ``s.t.col`` ...)."""
        *qual, col = parts
        if len(qual) > 2:  # catalog.schema.table.column: ignore the catalog
            qual = qual[-2:]
        scope: Scope | None = self
        while scope is not None:
            merged, hidden = scope._merged_hits(col) if not qual else ([], [])
            hits = []
            for rel in scope.relations:
                if (qual and not rel.qualified_by(qual)) or rel in hidden:
                    continue
                c = rel.find(col)
                if c is not None and not c.hidden:
                    hits.append((rel, c))
            if len(hits) + len(merged) > 1 and not qual:
                raise AdqlError(f"column {col.text!r} is ambiguous; qualify it",
                                col.line, col.column)
            if merged:
                return merged[0]
            if hits:
                rel, c = hits[0]
                return rel.column_expr(c)
            scope = scope.parent
        name = ".".join(p.text for p in parts)
        if qual and not any(r.qualified_by(qual) for r in self._all()):
            raise AdqlError(f"unknown table or alias {'.'.join(p.text for p in qual)!r}",
                            qual[0].line, qual[0].column)
        raise AdqlError(f"unknown column {name!r}", col.line, col.column)

    def _all(self) -> list[Relation]:
        out: list[Relation] = []
        scope: Scope | None = self
        while scope is not None:
            out += scope.relations
            scope = scope.parent
        return out

    def star(self, qual: list[Ident] | None = None) -> list[tuple[str, Expr]]:
        """The visible columns (name, expression) of ``*`` (or of ``qual.*``): the joined
        columns of USING and NATURAL once, first, then the others in FROM order."""
        rels = [r for r in self.relations if qual is None or r.qualified_by(qual)]
        if qual is not None and not rels:
            raise AdqlError(f"unknown table or alias {'.'.join(p.text for p in qual)!r}",
                            qual[0].line, qual[0].column)
        out = [(m.name, m.expr) for m in self.merged] if qual is None else []
        for r in rels:
            for c in r.columns:
                if c.hidden or (qual is None and any(
                        m.name == c.name and r in m.relations for m in self.merged)):
                    continue
                out.append((c.name, r.column_expr(c)))
        return out
