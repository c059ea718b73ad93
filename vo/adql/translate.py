"""Translate an ADQL syntax tree into PostgreSQL text with bound parameters.

Every user value becomes a bind parameter; identifiers are resolved against the published
tables (``vo.tables``), uploaded tables and the query's own derived tables, and the SQL names
are generated (``t0``, ``t1``, ...), so nothing the user typed is pasted into the SQL.
This module holds queries (WITH, SELECT, set operations, ORDER BY, TOP/OFFSET); the
translator's other parts are in ``fromclause``, ``values``, ``functions`` and
``conditions``, its shared state in ``base``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lark import Tree

from vo.adql.base import QueryResult, TranslatorBase
from vo.adql.conditions import ConditionsMixin
from vo.adql.fromclause import FromMixin
from vo.adql.functions import FunctionsMixin
from vo.adql.parser import parse
from vo.adql.scope import Expr, Ident, Node, Scope, quote
from vo.adql.uploads import PG_TYPE, UPLOAD_HPX, UploadColumn, UploadTable
from vo.adql.values import ValuesMixin
from vo.errors import AdqlError, LimitExceeded
from vo.tables import ColumnInfo

__all__ = ["PG_TYPE", "UPLOAD_HPX", "OutputColumn", "Translation", "Translator",
           "UploadColumn", "UploadTable", "translate"]


@dataclass(frozen=True, slots=True)
class OutputColumn:
    """One column of the answer: its name, its ADQL kind and its published metadata."""

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


class Translator(FromMixin, ConditionsMixin, FunctionsMixin, ValuesMixin, TranslatorBase):
    """One translation of one query: its parts put together (see the module docstring)."""

    def query(self, tree: Node, parent: Scope | None,
              maxrec: int | None = None) -> QueryResult:
        """SQL of a query_expression and its output columns (name, expression)."""
        parts = {c.data: c for c in tree.children if isinstance(c, Tree)}
        pushed = "with_clause" in parts
        self.n_queries += 1
        if pushed and self.n_queries > 1:
            raise self.fail("WITH may only begin the whole query (ADQL 2.1), not a subquery",
                            parts["with_clause"])
        with_sql = self._with_clause(parts["with_clause"]) if pushed else ""
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
        tail += self._limit_offset(parts, top, maxrec)
        if pushed:
            self.ctes.pop()
        return with_sql + sql + tail, cols, top

    def _with_clause(self, clause: Node) -> str:
        """SQL of WITH; its names stay in scope (``self.ctes``) until the query ends."""
        self.ctes.append({})
        items = []
        for item in clause.children:
            assert isinstance(item, Tree)
            name = Ident.of(item.children[0])
            sql, cols, _ = self.query(item.children[-1], None)
            if isinstance(item.children[1], Tree) and item.children[1].data == "column_names":
                names = [Ident.of(c).output_name for c in item.children[1].children]
                if len(names) != len(cols):
                    raise self.fail("WITH column list does not match the query", item)
                cols = [(n, e) for n, (_, e) in zip(names, cols, strict=True)]
            sql_name = f"w{len(self.ctes)}_{len(self.ctes[-1])}"
            self.ctes[-1][name.output_name] = (sql_name, cols)
            items.append(f"{sql_name}({', '.join(quote(n) for n, _ in cols)}) AS ({sql})")
        return "WITH " + ", ".join(items) + " "

    def _limit_offset(self, parts: dict[str, Node], top: int | None,
                      maxrec: int | None) -> str:
        """LIMIT (TOP, capped at maxrec + 1 to detect overflow) and OFFSET."""
        tail = ""
        limit = top
        if maxrec is not None:
            limit = maxrec + 1 if top is None else min(top, maxrec + 1)
        if limit is not None:
            tail += f" LIMIT {self.bind(limit, 'bigint')}"
        if "offset_clause" in parts:
            offset = int(str(parts["offset_clause"].children[0]))
            tail += f" OFFSET {self.bind(offset, 'bigint')}"
        return tail

    def set_operation(self, tree: Node, parent: Scope | None,
                      ) -> tuple[str, list[tuple[str, Expr]]]:
        """SQL of UNION, EXCEPT or INTERSECT [ALL] of two queries, and its columns."""
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
        """SQL of one ORDER BY key: a column number, an output name or an expression."""
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

    def select(self, tree: Node, parent: Scope | None, inline_top: bool = False,
               ) -> QueryResult:
        """SQL of a SELECT, its output columns and TOP (a LIMIT when ``inline_top``)."""
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
            sql += " GROUP BY " + ", ".join(self.group_key(g, cols, scope)
                                            for g in kids["group_by"].children)
        if "having" in kids:
            sql += " HAVING " + self.condition(kids["having"].children[0], scope)
        top = int(str(kids["top"].children[0])) if "top" in kids else None
        if inline_top and top is not None:
            sql += f" LIMIT {self.bind(top, 'bigint')}"
        self._order_scope = scope
        return sql, cols, top

    def group_key(self, key: Node, cols: list[tuple[str, Expr]], scope: Scope) -> str:
        """SQL of one GROUP BY key: a column number, a column, a select-list alias or an
        expression (constants bound as in the select list, so PostgreSQL matches them)."""
        if key.data == "integer":
            n = int(str(key.children[0]))
            if not 1 <= n <= len(cols):
                raise self.fail(f"GROUP BY {n}: there are {len(cols)} columns", key)
            return str(n)
        if key.data == "column_reference" and len(key.children) == 1:
            ident = Ident.of(key.children[0])
            try:
                return self.value(key, scope).sql
            except AdqlError:
                for n, (name, _) in enumerate(cols, 1):
                    if ident.output_name == name or ident.matches(name):
                        return str(n)
                raise
        return self.value(key, scope).sql

    def output_sql(self, e: Expr) -> str:
        """SQL of a selected expression; a MOC column is selected as its ranges."""
        if e.kind == "moc":
            return self.comparable(e)
        return e.sql

    def select_list(self, tree: Node, scope: Scope) -> list[tuple[str, Expr]]:
        """Output columns (name, expression) of a select list, ``*`` expanded."""
        out: list[tuple[str, Expr]] = []
        items = [tree] if tree.data == "select_all" else tree.children
        for item in items:
            assert isinstance(item, Tree)
            if item.data == "select_all":
                out += scope.star()
            elif item.data == "select_qualified_all":
                qual = [Ident.of(t) for t in item.children if isinstance(t, Tree)]
                out += scope.star(qual)
            else:
                expr_tree = item.children[0]
                alias = item.children[-1] if len(item.children) > 1 else None
                assert isinstance(expr_tree, Tree)
                e = self.value(expr_tree, scope)
                name = Ident.of(alias).output_name if isinstance(alias, Tree) else (
                    e.name or f"col{len(out) + 1}")
                out.append((name, e))
        return out


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
