"""Translate an ADQL syntax tree into PostgreSQL text with bound parameters.

Every user value becomes a bind parameter; identifiers are resolved against the published
tables (``vo.tables``), uploaded tables and the query's own derived tables, and the SQL names
are generated (``t0``, ``t1``, ...), so nothing the user typed is pasted into the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lark import Token, Tree
from numpy.typing import NDArray

from vo.adql.functions import FunctionsMixin
from vo.adql.geomsql import GeometrySql
from vo.adql.parser import parse
from vo.adql.scope import Expr, Ident, Node, Relation, RelColumn, Scope, quote
from vo.errors import AdqlError, LimitExceeded
from vo.tables import ColumnInfo, find_table, tap_schema_rows

#: PostgreSQL column type of each VOTable datatype (the temporary tables of uploads).
PG_TYPE = {"char": "text", "unicodeChar": "text", "short": "smallint", "int": "integer",
           "long": "bigint", "float": "real", "double": "double precision", "boolean": "boolean",
           "unsignedByte": "smallint"}
_PG_ARRAY = {k: f"{v}[]" for k, v in PG_TYPE.items()}

#: Name of the order-29 HEALPix index column added to uploads that have positions.
UPLOAD_HPX = "_hpx29"


@dataclass(slots=True)
class UploadColumn:
    """One uploaded column: numpy values (objects for char) and where they are NULL."""

    name: str
    datatype: str  # VOTable datatype of the column
    values: NDArray[Any]
    nulls: NDArray[np.bool_]
    meta: ColumnInfo | None = None


@dataclass(slots=True)
class UploadTable:
    """A table uploaded with the query (TAP_UPLOAD.name); ``point`` names its (ra, dec).

    ``bulk`` marks a table large enough that matching it against region tiles should scan
    the tiles and look the sources up (a b-tree on the upload) rather than look each
    source up in the tiles' SP-GiST index (see ``vo.service.bulk_upload``).
    """

    name: str
    columns: list[UploadColumn]
    point: tuple[str, str] | None = None
    hpx: NDArray[np.int64] | None = None  # order-29 index of ``point`` per row
    hpx_nulls: NDArray[np.bool_] | None = None
    bulk: bool = False

    @property
    def rows(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    @property
    def relation(self) -> str:
        """The temporary table that holds the upload during its query."""
        return f'pg_temp."tap_upload_{self.name.lower()}"'


@dataclass(frozen=True, slots=True)
class OutputColumn:
    name: str
    kind: str  # value, point, circle, polygon, moc
    meta: ColumnInfo | None


@dataclass(slots=True)
class Translation:
    """SQL text, its parameters, and what each output column is."""

    sql: str
    params: dict[str, Any]
    columns: list[OutputColumn]
    top: int | None = None
    tables: list[str] = field(default_factory=list)


class Translator(FunctionsMixin):
    def __init__(self, uploads: Sequence[UploadTable] = ()) -> None:
        self.params: dict[str, Any] = {}
        self.uploads = {u.name.lower(): u for u in uploads}
        self.point_index: dict[tuple[str, str], tuple[str, bool]] = {}
        self.geo = GeometrySql(self.bind, self.point_index)
        self.ctes: list[dict[str, tuple[str, list[tuple[str, Expr]]]]] = []
        self.n_alias = 0
        self.tables: list[str] = []
        self.hoists = []
        #: Index columns of bulk uploads (matched against tiles by a scan of the tiles).
        self.bulk_points: set[str] = set()

    # ------------------------------------------------------------------ basics
    def bind(self, value: Any, cast: str | None = None) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {cast})" if cast else f":{name}"

    def alias(self) -> str:
        self.n_alias += 1
        return f"t{self.n_alias}"

    @staticmethod
    def where(tree: Node) -> tuple[int | None, int | None]:
        meta = getattr(tree, "meta", None)
        if meta is None or getattr(meta, "empty", True):
            return None, None
        return meta.line, meta.column

    def fail(self, message: str, tree: Node) -> AdqlError:
        return AdqlError(message, *self.where(tree))

    # ----------------------------------------------------------------- queries
    def query(self, tree: Node, parent: Scope | None,
              maxrec: int | None = None) -> tuple[str, list[tuple[str, Expr]], int | None]:
        """SQL of a query_expression and its output columns (name, expression)."""
        parts = {c.data: c for c in tree.children if isinstance(c, Tree)}
        with_sql = ""
        pushed = False
        if "with_clause" in parts:
            self.ctes.append({})
            pushed = True
            items = []
            for item in parts["with_clause"].children:
                assert isinstance(item, Tree)
                name = Ident.of(item.children[0])
                sub = item.children[-1]
                sql, cols, _ = self.query(sub, None)
                if isinstance(item.children[1], Tree) and item.children[1].data == "column_names":
                    names = [Ident.of(c).output_name for c in item.children[1].children]
                    if len(names) != len(cols):
                        raise self.fail("WITH column list does not match the query", item)
                    cols = [(n, e) for n, (_, e) in zip(names, cols, strict=True)]
                sql_name = f"w{len(self.ctes)}_{len(self.ctes[-1])}"
                self.ctes[-1][name.output_name] = (sql_name, cols)
                items.append(f"{sql_name}({', '.join(quote(n) for n, _ in cols)}) AS ({sql})")
            with_sql = "WITH " + ", ".join(items) + " "
        body = next(c for c in tree.children if isinstance(c, Tree)
                    and c.data in ("select", "union", "except_", "intersect"))
        top: int | None = None
        if body.data == "select":
            sql, cols, top = self.select(body, parent)
        else:
            sql, cols = self.set_operation(body, parent)
        tail = ""
        if "order_by" in parts:
            keys = [self.sort_key(k, cols, parent, body) for k in parts["order_by"].children]
            tail += " ORDER BY " + ", ".join(keys)
        limit = top
        if maxrec is not None:
            limit = maxrec + 1 if top is None else min(top, maxrec + 1)
        if limit is not None:
            tail += f" LIMIT {self.bind(limit, 'bigint')}"
        if "offset_clause" in parts:
            offset = int(str(parts["offset_clause"].children[0]))
            tail += f" OFFSET {self.bind(offset, 'bigint')}"
        if pushed:
            self.ctes.pop()
        return with_sql + sql + tail, cols, top

    def set_operation(self, tree: Node, parent: Scope | None,
                      ) -> tuple[str, list[tuple[str, Expr]]]:
        left, *mid, right = tree.children
        op = {"union": "UNION", "except_": "EXCEPT", "intersect": "INTERSECT"}[str(tree.data)]
        quant = ""
        for m in mid:
            if isinstance(m, Tree) and m.data == "set_all":
                quant = " " + str(m.children[0]).upper()
        sides = []
        cols: list[tuple[str, Expr]] = []
        for side in (left, right):
            assert isinstance(side, Tree)
            if side.data == "select":
                sql, c, _ = self.select(side, parent, inline_top=True)
            else:
                sql, c = self.set_operation(side, parent)
            if not cols:
                cols = c
            elif len(c) != len(cols):
                raise self.fail(f"{op} of queries with different numbers of columns", side)
            sides.append(f"({sql})")
        return f"{sides[0]} {op}{quant} {sides[1]}", cols

    def sort_key(self, key: Node, cols: list[tuple[str, Expr]], parent: Scope | None,
                 body: Node) -> str:
        expr_tree = key.children[0]
        direction = ""
        if len(key.children) > 1 and isinstance(key.children[1], Tree):
            direction = " " + str(key.children[1].children[0]).upper()
        assert isinstance(expr_tree, Tree)
        if expr_tree.data == "integer":
            n = int(str(expr_tree.children[0]))
            if not 1 <= n <= len(cols):
                raise self.fail(f"ORDER BY {n}: there are {len(cols)} columns", expr_tree)
            return f"{n}{direction}"
        if expr_tree.data == "column_reference" and len(expr_tree.children) == 1:
            ident = Ident.of(expr_tree.children[0])
            for name, _ in cols:
                if ident.matches(name) or ident.output_name == name:
                    return f"{quote(name)}{direction}"
        if body.data != "select" or self._order_scope is None:
            raise self.fail("ORDER BY of a set operation must name an output column", key)
        return f"{self.value(expr_tree, self._order_scope).sql}{direction}"

    _order_scope: Scope | None = None
    _inner_only = False

    def select(self, tree: Node, parent: Scope | None, inline_top: bool = False,
               ) -> tuple[str, list[tuple[str, Expr]], int | None]:
        kids = {c.data: c for c in tree.children if isinstance(c, Tree)}
        scope = Scope(parent)
        self.hoists.append(([], []))
        outer = any(isinstance(n, Tree) and n.data == "outer_join_type"
                    for n in kids["from_clause"].iter_subtrees())
        saved, self._inner_only = self._inner_only, not outer
        from_sql = ", ".join(self.table_reference(t, scope)
                             for t in kids["from_clause"].children)
        self._inner_only = saved
        cols = self.select_list(kids.get("select_list") or next(
            c for c in tree.children if isinstance(c, Tree) and c.data in (
                "select_all", "select_list")), scope)
        sql = "SELECT "
        if "set_quantifier" in kids:
            sql += str(kids["set_quantifier"].children[0]).upper() + " "
        sql += ", ".join(f"{self.output_sql(e)} AS {quote(n)}" for n, e in cols)
        where = [self.condition(kids["where"].children[0], scope, top=True)] \
            if "where" in kids else []
        froms, terms = self.hoists.pop()
        sql += " FROM " + ", ".join([from_sql, *froms])
        if where or terms:
            sql += " WHERE " + " AND ".join(where + terms)
        if "group_by" in kids:
            sql += " GROUP BY " + ", ".join(self.value(g, scope).sql
                                            for g in kids["group_by"].children)
        if "having" in kids:
            sql += " HAVING " + self.condition(kids["having"].children[0], scope)
        top = int(str(kids["top"].children[0])) if "top" in kids else None
        if inline_top and top is not None:
            sql += f" LIMIT {self.bind(top, 'bigint')}"
        self._order_scope = scope
        return sql, cols, top

    def output_sql(self, e: Expr) -> str:
        if e.kind == "moc" and e.moc is not None:
            rev, level = e.moc
            return ("(SELECT array_agg(ARRAY[lower(m.hpx), upper(m.hpx)] ORDER BY lower(m.hpx))"
                    f" FROM public.region_tiles m WHERE m.revision_pk = {rev}"
                    f" AND m.level = {int(level)})")
        return e.sql

    def select_list(self, tree: Node, scope: Scope) -> list[tuple[str, Expr]]:
        out: list[tuple[str, Expr]] = []
        items = [tree] if tree.data == "select_all" else tree.children
        for item in items:
            assert isinstance(item, Tree)
            if item.data == "select_all":
                out += [(c.name, rel.column_expr(c)) for rel, c in scope.star()]
            elif item.data == "select_qualified_all":
                qual = [Ident.of(t) for t in item.children if isinstance(t, Tree)]
                out += [(c.name, rel.column_expr(c)) for rel, c in scope.star(qual)]
            else:
                expr_tree = item.children[0]
                alias = item.children[-1] if len(item.children) > 1 else None
                assert isinstance(expr_tree, Tree)
                e = self.value(expr_tree, scope)
                name = Ident.of(alias).output_name if isinstance(alias, Tree) else (
                    e.name or f"col{len(out) + 1}")
                out.append((name, e))
        return out

    # ------------------------------------------------------------ FROM clause
    def table_reference(self, tree: Node, scope: Scope) -> str:
        data = tree.data
        if data == "table_ref":
            return self.named_table(tree, scope)
        if data == "derived_table":
            sub, corr = tree.children
            sql, cols, _ = self.query(sub, None)
            ident = Ident.of(corr.children[0])
            alias = self.alias()
            rel = Relation(alias, ident, None, None, None)
            for name, e in cols:
                rel.columns.append(RelColumn(name, f"{alias}.{quote(name)}", e.meta,
                                             "value" if e.kind == "moc" else e.kind))
            scope.relations.append(rel)
            return f"({sql}) AS {alias}"
        if data == "parenthesized_join":
            return "(" + self.table_reference(tree.children[0], scope) + ")"
        if data == "cross_join":
            left, right = tree.children
            return (f"{self.table_reference(left, scope)} CROSS JOIN "
                    f"{self.table_reference(right, scope)}")
        if data == "joined_table":
            return self.join(tree, scope)
        raise self.fail(f"unsupported FROM item {data}", tree)

    def join(self, tree: Node, scope: Scope) -> str:
        refs = [c for c in tree.children if isinstance(c, Tree) and c.data not in (
            "join_type", "join_on", "join_using")]
        left_sql = self.table_reference(refs[0], scope)
        right_sql = self.table_reference(refs[1], scope)
        natural = any(isinstance(c, Token) and c.type == "NATURAL" for c in tree.children)
        kind = "INNER"
        spec = ""
        for c in tree.children:
            if isinstance(c, Tree) and c.data == "join_type":
                words = [str(t) for t in c.scan_values(lambda v: isinstance(v, Token))]
                kind = " ".join(w.upper() for w in words)
            elif isinstance(c, Tree) and c.data == "join_on":
                inner = kind == "INNER" and not natural and self._inner_only
                spec = " ON " + self.condition(c.children[0], scope, top=inner)
            elif isinstance(c, Tree) and c.data == "join_using":
                names = [Ident.of(i).output_name for i in c.children]
                spec = " USING (" + ", ".join(quote(n) for n in names) + ")"
        if not natural and not spec:
            raise self.fail("JOIN needs ON or USING (or NATURAL)", tree)
        return f"{left_sql} {'NATURAL ' if natural else ''}{kind} JOIN {right_sql}{spec}"

    def named_table(self, tree: Node, scope: Scope) -> str:
        name_tree = tree.children[0]
        corr = tree.children[1] if len(tree.children) > 1 else None
        parts = [Ident.of(c) for c in name_tree.children]
        ident = Ident.of(corr.children[0]) if isinstance(corr, Tree) else None
        alias = self.alias()
        if len(parts) == 1:
            for level in reversed(self.ctes):
                hit = level.get(parts[0].output_name)
                if hit is not None:
                    sql_name, cols = hit
                    rel = Relation(alias, ident, None, parts[0].output_name, None)
                    for n, e in cols:
                        rel.columns.append(RelColumn(n, f"{alias}.{quote(n)}", e.meta,
                                                     "value" if e.kind == "moc" else e.kind))
                    scope.relations.append(rel)
                    return f"{sql_name} AS {alias}"
        schema = parts[-2].text.lower() if len(parts) >= 2 else None
        table = parts[-1].text.lower()
        if schema == "tap_upload":
            return self.upload_relation(table, alias, ident, scope, name_tree)
        info = find_table(schema, table)
        if info is None:
            shown = ".".join(p.text for p in parts)
            raise self.fail(f"unknown table {shown!r} (see TAP_SCHEMA.tables)", name_tree)
        self.tables.append(info.qualified)
        rel = Relation(alias, ident, info, info.name, info.schema)
        for c in info.columns:
            rel.columns.append(RelColumn(c.name, f"{alias}.{quote(c.name)}", c))
        if info.point is not None:
            ra, dec, hpx = info.point
            rel.columns.append(RelColumn(hpx, f"{alias}.{quote(hpx)}", hidden=True))
            self.point_index[(f"{alias}.{quote(ra)}", f"{alias}.{quote(dec)}")] = (
                f"{alias}.{quote(hpx)}", True)
        scope.relations.append(rel)
        if info.schema == "tap_schema":
            names, rows = tap_schema_rows(info.name)
            arrays = []
            for i, n in enumerate(names):
                meta = info.column(n)
                assert meta is not None
                arrays.append(self.bind([r[i] for r in rows], _PG_ARRAY[meta.datatype]))
            return (f"unnest({', '.join(arrays)}) AS {alias}"
                    f"({', '.join(quote(n) for n in names)})")
        return f"{info.relation} AS {alias}"

    def upload_relation(self, name: str, alias: str, ident: Ident | None, scope: Scope,
                        tree: Node) -> str:
        up = self.uploads.get(name)
        if up is None:
            raise self.fail(f"no uploaded table TAP_UPLOAD.{name}", tree)
        rel = Relation(alias, ident, None, name, "tap_upload")
        for c in up.columns:
            rel.columns.append(RelColumn(c.name, f"{alias}.{quote(c.name)}", c.meta))
        if up.point is not None and up.hpx is not None:
            hpx = f"{alias}.{UPLOAD_HPX}"
            rel.columns.append(RelColumn(UPLOAD_HPX, hpx, hidden=True))
            ra, dec = up.point
            self.point_index[(f"{alias}.{quote(ra)}", f"{alias}.{quote(dec)}")] = (hpx, False)
            if up.bulk:
                self.bulk_points.add(hpx)
        scope.relations.append(rel)
        return f"{up.relation} AS {alias}"


def translate(text: str, uploads: Sequence[UploadTable] = (),
              maxrec: int | None = None) -> Translation:
    """Parse, check and translate ADQL ``text``; ``maxrec`` caps rows at maxrec + 1."""
    tree = parse(text)
    t = Translator(uploads)
    try:
        sql, cols, top = t.query(tree, None, maxrec=maxrec)
    except RecursionError:
        # The parser bounds the tree's depth; this is the net under that bound.
        raise LimitExceeded("the query is nested too deeply to translate") from None
    out, seen = [], set()
    tried: dict[str, int] = {}  # suffix last tried per name: linear in the columns
    for name, e in cols:
        base, n = name, tried.get(name, 1)
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        tried[base] = n
        seen.add(name)
        out.append(OutputColumn(name, e.kind, e.meta))
    return Translation(sql, t.params, out, top, t.tables)
