"""The FROM clause of ADQL: published tables, TAP_SCHEMA, uploads, WITH names, derived
tables and joins, each given a generated SQL alias (``t1``, ``t2``, ...)."""

from __future__ import annotations

from lark import Token, Tree

from vo.adql.base import TranslatorBase
from vo.adql.scope import Expr, Ident, Node, Relation, RelColumn, Scope, quote
from vo.adql.uploads import PG_ARRAY, UPLOAD_HPX
from vo.errors import AdqlError
from vo.tables import TableInfo, find_table, tap_schema_rows


def _derived_columns(rel: Relation, cols: list[tuple[str, Expr]]) -> None:
    """Columns of a derived table or WITH name: a MOC column arrives as its ranges."""
    for name, e in cols:
        rel.columns.append(RelColumn(name, f"{rel.alias}.{quote(name)}", e.meta,
                                     "value" if e.kind == "moc" else e.kind))


class FromMixin(TranslatorBase):
    """FROM items; a part of :class:`vo.adql.translate.Translator`."""

    def table_reference(self, tree: Node, scope: Scope) -> str:
        """SQL of one FROM item; its columns are added to ``scope``."""
        data = tree.data
        if data == "table_ref":
            return self.named_table(tree, scope)
        if data == "derived_table":
            sub, corr = tree.children
            sql, cols, _ = self.query(sub, None)
            rel = Relation(self.alias(), Ident.of(corr.children[0]), None, None, None)
            _derived_columns(rel, cols)
            scope.relations.append(rel)
            return f"({sql}) AS {rel.alias}"
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
        """SQL of a JOIN with its type and ON, USING or NATURAL.

        USING and NATURAL are written as ON equalities, and the joined columns become one
        column each in ``scope`` (``Scope.merge``): PostgreSQL's own NATURAL would also
        match the hidden index columns, and its merged column is out of reach of the
        generated aliases.
        """
        refs = [c for c in tree.children if isinstance(c, Tree) and c.data not in (
            "join_type", "join_on", "join_using")]
        first = len(scope.relations)
        left_sql = self.table_reference(refs[0], scope)
        middle = len(scope.relations)
        right_sql = self.table_reference(refs[1], scope)
        left, right = scope.relations[first:middle], scope.relations[middle:]
        natural = any(isinstance(c, Token) and c.type == "NATURAL" for c in tree.children)
        kind = "INNER"
        spec = ""
        for c in tree.children:
            if isinstance(c, Tree) and c.data == "join_type":
                words = [str(t) for t in c.scan_values(lambda v: isinstance(v, Token))]
                kind = " ".join(w.upper() for w in words)
            elif isinstance(c, Tree) and c.data == "join_on":
                if natural:
                    raise self.fail("a NATURAL JOIN takes neither ON nor USING", c)
                inner = kind == "INNER" and self._inner_only
                spec = " ON " + self.condition(c.children[0], scope, top=inner)
            elif isinstance(c, Tree) and c.data == "join_using":
                if natural:
                    raise self.fail("a NATURAL JOIN takes neither ON nor USING", c)
                spec = self._join_using([Ident.of(i) for i in c.children], kind, scope,
                                        left, right, c)
        if natural:
            lcols, rcols = self._side(scope, left), self._side(scope, right)
            names = [Ident(n, True) for n in lcols if n in rcols]
            spec = self._join_using(names, kind, scope, left, right, tree)
        if not spec:
            raise self.fail("JOIN needs ON or USING (or NATURAL)", tree)
        return f"{left_sql} {kind} JOIN {right_sql}{spec}"

    def _join_using(self, names: list[Ident], kind: str, scope: Scope,
                    left: list[Relation], right: list[Relation], tree: Node) -> str:
        """ON clause of USING (names): each pair equal, each pair one column of ``scope``."""
        lcols, rcols = self._side(scope, left), self._side(scope, right)
        terms = []
        for ident in names:
            pair = []
            for side, cols in (("left", lcols), ("right", rcols)):
                hits = [(n, e) for n, es in cols.items() if ident.matches(n) for e in es]
                if len(hits) != 1:
                    what = "no" if not hits else "more than one"
                    raise AdqlError(f"USING ({ident.text}): the {side} side of the JOIN has "
                                    f"{what} column of that name",
                                    *((ident.line, ident.column) if ident.line
                                      else self.where(tree)))
                pair.append(hits[0])
            (name, le), (_, re) = pair
            lsql, rsql = self.comparable(le), self.comparable(re)
            terms.append(f"{lsql} = {rsql}")
            merged = le if le.kind != "value" else Expr(
                {"RIGHT": re.sql, "FULL": f"COALESCE({le.sql}, {re.sql})"}.get(
                    kind.split()[0], le.sql), meta=le.meta, name=name)
            scope.merge(name, merged, left + right)
        return " ON " + (" AND ".join(terms) if terms else "TRUE")

    @staticmethod
    def _side(scope: Scope, rels: list[Relation]) -> dict[str, list[Expr]]:
        """Visible columns (name → expressions) of one side of a JOIN: its joined columns,
        then its relations' own (a name of two columns on one side cannot be joined)."""
        out: dict[str, list[Expr]] = {}
        hidden: list[tuple[str, Relation]] = []
        for m in scope.merged:
            if all(r in rels for r in m.relations):
                out.setdefault(m.name, []).append(m.expr)
                hidden += [(m.name, r) for r in m.relations]
        for r in rels:
            for c in r.columns:
                if not c.hidden and (c.name, r) not in hidden:
                    out.setdefault(c.name, []).append(r.column_expr(c))
        return out

    def named_table(self, tree: Node, scope: Scope) -> str:
        """SQL of a table named in FROM: a WITH name, an upload or a published table."""
        name_tree = tree.children[0]
        corr = tree.children[1] if len(tree.children) > 1 else None
        parts = [Ident.of(c) for c in name_tree.children]
        ident = Ident.of(corr.children[0]) if isinstance(corr, Tree) else None
        alias = self.alias()
        if len(parts) == 1:
            with_sql = self._with_relation(parts[0], alias, ident, scope)
            if with_sql is not None:
                return with_sql
        schema = parts[-2].text.lower() if len(parts) >= 2 else None
        table = parts[-1].text.lower()
        if schema == "tap_upload":
            return self.upload_relation(table, alias, ident, scope, name_tree)
        info = find_table(schema, table)
        if info is None:
            shown = ".".join(p.text for p in parts)
            raise self.fail(f"unknown table {shown!r} (see TAP_SCHEMA.tables)", name_tree)
        return self._published_relation(info, alias, ident, scope)

    def _with_relation(self, name: Ident, alias: str, ident: Ident | None,
                       scope: Scope) -> str | None:
        """SQL of a WITH name in scope (innermost first), or None when there is none."""
        for level in reversed(self.ctes):
            hit = level.get(name.output_name)
            if hit is not None:
                sql_name, cols = hit
                rel = Relation(alias, ident, None, name.output_name, None)
                _derived_columns(rel, cols)
                scope.relations.append(rel)
                return f"{sql_name} AS {alias}"
        return None

    def _published_relation(self, info: TableInfo, alias: str, ident: Ident | None,
                            scope: Scope) -> str:
        """SQL of a published table; its position columns get their hidden index column."""
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
            return self._tap_schema_rows(info, alias)
        return f"{info.relation} AS {alias}"

    def _tap_schema_rows(self, info: TableInfo, alias: str) -> str:
        """A TAP_SCHEMA table as an ``unnest`` of bound arrays of its rows."""
        names, rows = tap_schema_rows(info.name)
        arrays = []
        for i, n in enumerate(names):
            meta = info.column(n)
            assert meta is not None
            arrays.append(self.bind([r[i] for r in rows], PG_ARRAY[meta.datatype]))
        return (f"unnest({', '.join(arrays)}) AS {alias}"
                f"({', '.join(quote(n) for n in names)})")

    def upload_relation(self, name: str, alias: str, ident: Ident | None, scope: Scope,
                        tree: Node) -> str:
        """SQL of TAP_UPLOAD.name; an upload with a position gets its hidden index."""
        up = self.uploads.get(name)
        if up is None:
            raise self.fail(f"no uploaded table TAP_UPLOAD.{name}", tree)
        rel = Relation(alias, ident, None, name, "tap_upload")
        for c in up.columns:
            rel.columns.append(RelColumn(c.name, f"{alias}.{quote(c.name)}", c.meta))
            self.geo.upload_columns[f"{alias}.{quote(c.name)}"] = (alias, c)
        if up.point is not None and up.hpx is not None:
            hpx = f"{alias}.{UPLOAD_HPX}"
            rel.columns.append(RelColumn(UPLOAD_HPX, hpx, hidden=True))
            ra, dec = up.point
            self.point_index[(f"{alias}.{quote(ra)}", f"{alias}.{quote(dec)}")] = (hpx, False)
            if up.bulk:
                self.bulk_points.add(hpx)
        scope.relations.append(rel)
        return f"{up.relation} AS {alias}"
