"""ADQL search conditions: AND/OR/NOT, comparisons, BETWEEN, LIKE, IN, EXISTS, and the
geometric predicates CONTAINS and INTERSECTS (an indexable ``1 = CONTAINS(...)``)."""

from __future__ import annotations

from lark import Token, Tree

from vo.adql.base import TranslatorBase
from vo.adql.regions import published_regions
from vo.adql.scope import Expr, Ident, Node, Scope, adql_type
from vo.adql.values import tok
from vo.errors import AdqlError
from vo.tables import TILES_RELATION

#: Comparison operators of ADQL and their PostgreSQL spelling.
_COMP = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">="}

#: ADQL words of value types in messages.
_WORD = {"number": "number", "string": "VARCHAR", "timestamp": "TIMESTAMP"}

#: Functions that are predicates (they yield 0 or 1 in ADQL, a boolean in SQL).
PREDICATES = ("contains", "intersects")


class ConditionsMixin(TranslatorBase):
    """Search conditions; a part of :class:`vo.adql.translate.Translator`."""

    def predicate_call(self, tree: Node, scope: Scope, hoist: bool = False) -> str:
        """SQL boolean of CONTAINS or INTERSECTS; ``hoist``: it is a top-level conjunct."""
        name_tree, *arg_trees = tree.children
        args = [self.uploaded_moc(self.value(a, scope), tree) for a in arg_trees
                if a is not None]
        if len(args) != 2:
            raise self.fail("CONTAINS and INTERSECTS take two geometries", tree)
        name = Ident.of(name_tree).text.lower()
        try:
            args = published_regions(args, name)
        except AdqlError as exc:
            raise self.fail(exc.reason, tree) from None
        point, region = args if args[0].kind == "point" else args[::-1]
        if (hoist and self.hoists and point.kind == "point" and region.kind == "moc"
                and region.moc is not None and not point.is_const
                and (name == "intersects" or args[0] is point)):
            return self._hoist_moc_join(point, region)
        try:
            if name == "contains":
                return self.geo.contains(*args)
            return self.geo.intersects(*args)
        except AdqlError as exc:
            if exc.line is None:
                raise self.fail(exc.reason, tree) from None
            raise

    def _hoist_moc_join(self, point: Expr, region: Expr) -> str:
        # A point that varies per row (an uploaded source list, a column) against MOC
        # columns: join the tiles, so that each point probes the SP-GiST index once,
        # instead of a correlated EXISTS per (point, region) pair. Tiles of one region
        # are disjoint, so the join adds no rows.
        assert region.moc is not None
        froms, terms = self.hoists[-1]
        alias = f"m{sum(len(f) for f, _ in self.hoists)}_{len(self.hoists)}"
        rev, level = region.moc
        froms.append(f"public.region_tiles AS {alias}")
        if point.hpx in self.bulk_points:
            # A large upload: the same test written as bounds, which the SP-GiST index
            # cannot serve, so PostgreSQL scans the tiles and finds the sources of each
            # in the upload's b-tree. A 100 k-source upload against 10 k regions took
            # ~4.6 s as 100 k index probes (~45 µs each) and ~1 s as 195 k b-tree range
            # scans (~4 µs each), measured for issue 5.
            inside = (f"CAST({point.hpx} AS bigint) >= lower({alias}.hpx) AND "
                      f"CAST({point.hpx} AS bigint) < upper({alias}.hpx)")
        else:
            inside = f"{alias}.hpx @> CAST({point.hpx} AS bigint)"
        terms.append(f"({alias}.revision_pk = {rev} AND {alias}.level = {int(level)} "
                     f"AND {inside})")
        # The tiles only cover the region: the exact shape refines the joined candidates.
        return self.geo.in_region(point, region)

    def condition(self, tree: Node, scope: Scope, top: bool = False) -> str:
        """SQL of a search condition; ``top``: it is a conjunct of a WHERE (or inner ON)."""
        assert isinstance(tree, Tree)
        d = tree.data
        if d == "or_":
            return f"({self.condition(tree.children[0], scope)} OR " \
                   f"{self.condition(tree.children[1], scope)})"
        if d == "and_":
            return f"({self.condition(tree.children[0], scope, top)} AND " \
                   f"{self.condition(tree.children[1], scope, top)})"
        if d == "not_":
            return f"(NOT {self.condition(tree.children[0], scope)})"
        if d == "comparison":
            return self.comparison(tree, scope, top)
        if d == "exists":
            sql, _, _ = self.query(tree.children[0], scope)
            return f"(EXISTS ({sql}))"
        return self._negatable(tree, scope)

    def _negatable(self, tree: Node, scope: Scope) -> str:
        """BETWEEN, LIKE, IS NULL and IN, each with its optional NOT."""
        d = tree.data
        neg = any(isinstance(c, Token) and c.type == "NOT" for c in tree.children)
        kids = [c for c in tree.children if not (isinstance(c, Token) and c.type == "NOT")]
        not_ = "NOT " if neg else ""
        if d == "between":
            x, lo, hi = (self.value(c, scope).sql for c in kids)
            return f"({x} {not_}BETWEEN {lo} AND {hi})"
        if d == "like":
            subject, op, pat = kids
            word = tok(op.children[0]).upper() if isinstance(op, Tree) else "LIKE"
            return (f"({self.value(subject, scope).sql} {not_}{word} "
                    f"{self.value(pat, scope).sql})")
        if d == "null_test":
            return self._null_test(self.value(kids[0], scope), not_)
        if d == "in_predicate":
            return self._in_predicate(kids, scope, not_)
        raise self.fail(f"{d} is not a condition", tree)

    def _null_test(self, e: Expr, not_: str) -> str:
        """IS [NOT] NULL of any value: a MOC is NULL when its region has no tiles (no such
        region), a geometry when one of its coordinates is NULL."""
        if e.kind == "moc" and e.moc is not None:
            rev, level = e.moc
            return (f"({'' if not_ else 'NOT '}EXISTS (SELECT 1 FROM {TILES_RELATION} m"
                    f" WHERE m.revision_pk = {rev} AND m.level = {int(level)}))")
        if e.parts:
            return "(" + (" AND " if not_ else " OR ").join(
                f"{p.sql} IS {not_}NULL" for p in e.parts) + ")"
        return f"({e.sql} IS {not_}NULL)"

    def _in_predicate(self, kids: list[Node], scope: Scope, not_: str) -> str:
        subject, what = kids
        left = self.value(subject, scope).sql
        assert isinstance(what, Tree)
        if what.data == "value_list":
            items = ", ".join(self.value(v, scope).sql for v in what.children)
            return f"({left} {not_}IN ({items}))"
        sql, cols, _ = self.query(what, scope)
        if len(cols) != 1:
            raise self.fail("IN (subquery) needs a subquery with one column", what)
        return f"({left} {not_}IN ({sql}))"

    def comparison(self, tree: Node, scope: Scope, top: bool = False) -> str:
        """SQL of ``a <op> b``; ``1 = CONTAINS(...)`` becomes the indexable predicate."""
        a, op, b = tree.children
        sym = _COMP[tok(op)]
        # 1 = CONTAINS(...) and friends: an indexable predicate, not an integer compare.
        for lit, call in ((a, b), (b, a)):
            if (isinstance(lit, Tree) and lit.data == "integer" and isinstance(call, Tree)
                    and call.data == "call" and sym in ("=", "<>")
                    and Ident.of(call.children[0]).text.lower() in PREDICATES):
                value = int(tok(lit.children[0]))
                truth = (value == 1) == (sym == "=")
                pred = self.predicate_call(call, scope, hoist=top and truth and value == 1)
                if value not in (0, 1):
                    return "FALSE" if sym == "=" else f"({pred} IS NOT NULL)"
                return pred if truth else f"(NOT {pred})"
        ea, eb = self.value(a, scope), self.value(b, scope)
        for e in (ea, eb):
            if e.kind != "value":
                raise self.fail(f"a {e.kind.upper()} cannot be compared", tree)
        ta, tb = adql_type(ea), adql_type(eb)
        if ta and tb and ta != tb and {ta, tb} != {"timestamp", "string"}:
            raise self.fail(f"a {_WORD[ta]} cannot be compared with a {_WORD[tb]}; CAST one "
                            "side", tree)
        return f"({ea.sql} {sym} {eb.sql})"
