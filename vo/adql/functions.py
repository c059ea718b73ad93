"""Value expressions, search conditions and the ADQL function library."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeGuard

import astropy.units as u
import healpy as hp
from lark import Token, Tree

from vo.adql.scope import Expr, Ident, Node, Scope
from vo.errors import AdqlError

if TYPE_CHECKING:
    from vo.adql.geomsql import GeometrySql

#: ADQL math functions with one SQL spelling each: name → (PostgreSQL name, arity).
MATH = {
    "abs": ("abs", 1), "ceiling": ("ceil", 1), "degrees": ("degrees", 1), "exp": ("exp", 1),
    "floor": ("floor", 1), "log": ("ln", 1), "log10": ("log", 1), "radians": ("radians", 1),
    "sqrt": ("sqrt", 1), "sin": ("sin", 1), "cos": ("cos", 1), "tan": ("tan", 1),
    "cot": ("cot", 1), "asin": ("asin", 1), "acos": ("acos", 1), "atan": ("atan", 1),
    "atan2": ("atan2", 2), "mod": ("mod", 2), "power": ("power", 2), "pi": ("pi", 0),
    "lower": ("lower", 1), "upper": ("upper", 1),
}

#: User-defined functions this service offers (TAPRegExt ivo://ivoa.net/std/TAPRegExt#features-udf).
UDFS = {
    "ivo_healpix_index": "ivo_healpix_index(hpxOrder INTEGER, p POINT) -> BIGINT",
    "ivo_healpix_center": "ivo_healpix_center(hpxOrder INTEGER, hpxIndex BIGINT) -> POINT",
}

_CASTS = {"SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint", "REAL": "real",
          "DOUBLE PRECISION": "double precision", "TIMESTAMP": "timestamp",
          "CHAR": "char", "VARCHAR": "varchar"}

_COMP = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


#: Deepest HEALPix order (the region tiles are NESTED indices at order 29).
MAX_HPX_ORDER = 29


def _integer(value: object) -> TypeGuard[int]:
    """Whether a constant is an integer (not a bool, a float or a string)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _tok(node: object) -> str:
    return str(node)


class FunctionsMixin:
    """Expression translation; mixed into :class:`vo.adql.translate.Translator`."""

    geo: GeometrySql
    #: Per SELECT being translated: FROM items and WHERE terms that MOC predicates add
    #: when they stand as top-level conjuncts (see :meth:`predicate_call`).
    hoists: list[tuple[list[str], list[str]]]
    bulk_points: set[str]

    def bind(self, value: Any, cast: str | None = None) -> str:
        raise NotImplementedError

    def fail(self, message: str, tree: Node) -> AdqlError:
        raise NotImplementedError

    def query(self, tree: Node, parent: Scope | None, maxrec: int | None = None,
              ) -> tuple[str, list[tuple[str, Expr]], int | None]:
        raise NotImplementedError

    # ---------------------------------------------------------------- values
    def value(self, tree: Node, scope: Scope) -> Expr:
        if not isinstance(tree, Tree):
            raise AdqlError(f"unexpected {tree!s}")
        handler = getattr(self, f"v_{tree.data}", None)
        if handler is None:
            raise self.fail(f"{tree.data} is not allowed here", tree)
        e: Expr = handler(tree, scope)
        return e

    def v_column_reference(self, tree: Node, scope: Scope) -> Expr:
        return scope.resolve([Ident.of(c) for c in tree.children])

    def v_integer(self, tree: Node, scope: Scope) -> Expr:
        v = int(_tok(tree.children[0]))
        return Expr(self.bind(v, "bigint" if abs(v) > 2**31 - 1 else "integer"), const=v)

    def v_hex_integer(self, tree: Node, scope: Scope) -> Expr:
        v = int(_tok(tree.children[0]), 16)
        return Expr(self.bind(v, "bigint"), const=v)

    def v_float(self, tree: Node, scope: Scope) -> Expr:
        v = float(_tok(tree.children[0]))
        return Expr(self.bind(v, "double precision"), const=v)

    def v_string(self, tree: Node, scope: Scope) -> Expr:
        v = "".join(_tok(t)[1:-1].replace("''", "'") for t in tree.children)
        return Expr(self.bind(v), const=v)

    def v_null(self, tree: Node, scope: Scope) -> Expr:
        return Expr("NULL")

    def v_unary(self, tree: Node, scope: Scope) -> Expr:
        op, arg = tree.children
        e = self.value(arg, scope)
        if _tok(op) == "-" and isinstance(e.const, int | float):
            v = -e.const
            return Expr(self.bind(v, "double precision" if isinstance(v, float) else "bigint"),
                        const=v)
        return Expr(f"({_tok(op)}{e.sql})", meta=e.meta if _tok(op) == "+" else None)

    def v_binary(self, tree: Node, scope: Scope) -> Expr:
        a, op, b = tree.children
        ea, eb = self.value(a, scope), self.value(b, scope)
        for e in (ea, eb):
            if e.kind != "value":
                raise self.fail(f"arithmetic on a {e.kind.upper()}", tree)
        return Expr(f"({ea.sql} {_tok(op)} {eb.sql})")

    def v_concat(self, tree: Node, scope: Scope) -> Expr:
        a, b = (self.value(c, scope) for c in tree.children)
        return Expr(f"({a.sql} || {b.sql})")

    def v_scalar_subquery(self, tree: Node, scope: Scope) -> Expr:
        sql, cols, _ = self.query(tree.children[0], scope)
        if len(cols) != 1:
            raise self.fail("a subquery used as a value must return one column", tree)
        return Expr(f"({sql})")

    def v_searched_case(self, tree: Node, scope: Scope) -> Expr:
        sql = "CASE"
        for c in tree.children:
            assert isinstance(c, Tree)
            if c.data == "when_clause":
                cond, val = c.children
                sql += f" WHEN {self.condition(cond, scope)} THEN {self.value(val, scope).sql}"
            else:
                sql += f" ELSE {self.value(c.children[0], scope).sql}"
        return Expr(sql + " END")

    def v_simple_case(self, tree: Node, scope: Scope) -> Expr:
        subject, *rest = tree.children
        sql = f"CASE {self.value(subject, scope).sql}"
        for c in rest:
            assert isinstance(c, Tree)
            if c.data == "simple_when":
                w, val = (self.value(x, scope).sql for x in c.children)
                sql += f" WHEN {w} THEN {val}"
            else:
                sql += f" ELSE {self.value(c.children[0], scope).sql}"
        return Expr(sql + " END")

    def v_count_all(self, tree: Node, scope: Scope) -> Expr:
        return Expr("count(*)", name="count")

    def v_aggregate(self, tree: Node, scope: Scope) -> Expr:
        name_node, *middle, arg = tree.children
        name = _tok(name_node.children[0] if isinstance(name_node, Tree) else name_node).lower()
        q = ""
        for quant in middle:
            if isinstance(quant, Tree) and quant.data == "set_quantifier":
                q = _tok(quant.children[0]).upper() + " "
        e = self.value(arg, scope)
        meta = e.meta if name in ("min", "max") else None
        return Expr(f"{name}({q}{e.sql})", meta=meta, name=name)

    def v_cast(self, tree: Node, scope: Scope) -> Expr:
        arg, type_tree = tree.children
        e = self.value(arg, scope)
        assert isinstance(type_tree, Tree)
        word = " ".join(_tok(type_tree.children[0]).upper().split())
        if word not in _CASTS:
            raise self.fail(f"CAST to {word} is not supported", type_tree)
        target = _CASTS[word]
        if len(type_tree.children) > 1 and type_tree.children[1] is not None:
            target += f"({int(_tok(type_tree.children[1]))})"
        return Expr(f"CAST({e.sql} AS {target})", name="cast")

    def v_in_unit(self, tree: Node, scope: Scope) -> Expr:
        arg, unit_tok = tree.children
        e = self.value(arg, scope)
        target = _tok(unit_tok)[1:-1]
        source = e.meta.unit if e.meta is not None else None
        if not source:
            raise self.fail("IN_UNIT needs a value whose unit is known (a column with a unit)",
                            tree)
        try:
            factor = u.Unit(source, format="vounit").to(u.Unit(target, format="vounit"))
        except (ValueError, u.UnitsError) as exc:
            raise self.fail(f"IN_UNIT: cannot convert {source} to {target!r}: {exc}",
                            tree) from None
        return Expr(f"({e.sql} * {self.bind(float(factor), 'double precision')})",
                    name=e.name)

    def v_geometry_ctor(self, tree: Node, scope: Scope) -> Expr:
        name_node, _frame, *args = tree.children
        kind = _tok(name_node.children[0] if isinstance(name_node, Tree) else name_node).upper()
        vals = [self.value(a, scope) for a in args if a is not None]
        if kind == "POINT":
            if len(vals) != 2:
                raise self.fail("POINT takes two coordinates", tree)
            return self.geo.point(vals[0], vals[1])
        if kind == "CIRCLE":
            if len(vals) == 2 and vals[0].kind == "point":
                return self.geo.circle(vals[0], vals[1])
            if len(vals) != 3:
                raise self.fail("CIRCLE takes a centre and a radius", tree)
            return self.geo.circle(self.geo.point(vals[0], vals[1]), vals[2])
        if kind == "BOX":
            if len(vals) == 3 and vals[0].kind == "point":
                vals = [*vals[0].parts[:2], *vals[1:]]
            if len(vals) != 4:
                raise self.fail("BOX takes a centre, a width and a height", tree)
            return self.geo.box(*vals)
        coords: list[float] = []
        for v in vals:
            parts = v.parts if v.kind == "point" else (v,)
            for p in parts:
                if not isinstance(p.const, int | float):
                    raise self.fail("POLYGON needs constant vertices", tree)
                coords.append(float(p.const))
        if len(coords) % 2:
            raise self.fail("POLYGON needs pairs of coordinates", tree)
        return self.geo.polygon(list(zip(coords[::2], coords[1::2], strict=True)))

    def v_call(self, tree: Node, scope: Scope) -> Expr:
        name_tree, *arg_trees = tree.children
        ident = Ident.of(name_tree)
        name = ident.text.lower()
        if name in ("contains", "intersects"):
            return Expr(f"CAST({self.predicate_call(tree, scope)} AS integer)", name=name)
        args = [self.value(a, scope) for a in arg_trees if a is not None]
        if name in MATH:
            fn, arity = MATH[name]
            if len(args) != arity:
                raise self.fail(f"{name.upper()} takes {arity} argument(s)", tree)
            return Expr(f"{fn}({', '.join(a.sql for a in args)})", name=name)
        if name in ("round", "truncate") and len(args) in (1, 2):
            fn = "round" if name == "round" else "trunc"
            digits = args[1].sql if len(args) == 2 else "0"
            return Expr(f"CAST({fn}(CAST({args[0].sql} AS numeric), {digits}) AS double "
                        "precision)", name=name)
        if name == "rand" and len(args) <= 1:
            return Expr("random()", name=name)
        if name == "coalesce" and args:
            return Expr(f"COALESCE({', '.join(a.sql for a in args)})", meta=args[0].meta,
                        name="coalesce")
        if name == "distance":
            if len(args) == 4:
                args = [self.geo.point(args[0], args[1]), self.geo.point(args[2], args[3])]
            if len(args) != 2:
                raise self.fail("DISTANCE takes two POINTs or four numbers", tree)
            return self.geo.distance(*args)
        if name in ("coord1", "coord2") and len(args) == 1:
            return self.geo.coord(args[0], int(name[-1]) - 1)
        if name == "coordsys" and len(args) == 1:
            return Expr(self.bind("ICRS"), name="coordsys")
        if name == "area" and len(args) == 1:
            return self.geo.area(args[0])
        if name == "centroid" and len(args) == 1:
            return self.geo.centroid(args[0])
        if name == "ivo_healpix_index":
            if len(args) == 3:
                args = [args[0], self.geo.point(args[1], args[2])]
            if len(args) != 2 or args[1].kind != "point" or args[0].kind != "value":
                raise self.fail("ivo_healpix_index takes an order and a POINT", tree)
            shift = self.healpix_shift(args[0], tree)
            return Expr(f"(CAST({args[1].hpx} AS bigint) >> {shift})", name=name)
        if name == "ivo_healpix_center" and len(args) == 2:
            order, index = args
            if not (_integer(order.const) and _integer(index.const)):
                raise self.fail("ivo_healpix_center needs constant arguments", tree)
            if (not 0 <= order.const <= MAX_HPX_ORDER
                    or not 0 <= index.const < 12 * 4**order.const):
                raise self.fail("ivo_healpix_center: no such HEALPix cell", tree)
            ra, dec = hp.pix2ang(2**order.const, index.const, nest=True, lonlat=True)
            pr, pd = float(ra), float(dec)
            return self.geo.point(Expr(self.bind(pr), const=pr), Expr(self.bind(pd), const=pd))
        raise self.fail(f"unknown function {ident.text}() or wrong number of arguments", tree)

    def healpix_shift(self, order: Expr, tree: Node) -> str:
        """SQL of the bit shift from order 29 to ``order`` (ivo_healpix_index).

        A constant order must be an integer in 0..29 (an ADQL error otherwise: a shift by
        a negative or too large count gave numbers that are no HEALPix index); an order
        that varies per row gives NULL where it is out of range.
        """
        if order.const is not None or order.is_const:
            if not _integer(order.const) or not 0 <= int(order.const) <= MAX_HPX_ORDER:
                raise self.fail(f"ivo_healpix_index: the order must be an integer from 0 to "
                                f"{MAX_HPX_ORDER}, not {order.const!r}", tree)
            return f"{2 * (MAX_HPX_ORDER - int(order.const))}"
        o = f"CAST({order.sql} AS integer)"
        return (f"(CASE WHEN {o} BETWEEN 0 AND {MAX_HPX_ORDER} "
                f"THEN 2 * ({MAX_HPX_ORDER} - {o}) END)")

    # ------------------------------------------------------------ conditions
    def predicate_call(self, tree: Node, scope: Scope, hoist: bool = False) -> str:
        name_tree, *arg_trees = tree.children
        args = [self.value(a, scope) for a in arg_trees if a is not None]
        if len(args) != 2:
            raise self.fail("CONTAINS and INTERSECTS take two geometries", tree)
        name = Ident.of(name_tree).text.lower()
        point, region = args if args[0].kind == "point" else args[::-1]
        if (hoist and self.hoists and point.kind == "point" and region.kind == "moc"
                and region.moc is not None and not point.is_const
                and (name == "intersects" or args[0] is point)):
            # A point that varies per row (an uploaded source list, a column) against MOC
            # columns: join the tiles, so that each point probes the SP-GiST index once,
            # instead of a correlated EXISTS per (point, region) pair. Tiles of one region
            # are disjoint, so the join adds no rows.
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
            return "TRUE"
        try:
            if name == "contains":
                return self.geo.contains(*args)
            return self.geo.intersects(*args)
        except AdqlError as exc:
            if exc.line is None:
                raise self.fail(exc.reason, tree) from None
            raise

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
        neg = any(isinstance(c, Token) and c.type == "NOT" for c in tree.children)
        kids = [c for c in tree.children if not (isinstance(c, Token) and c.type == "NOT")]
        not_ = "NOT " if neg else ""
        if d == "between":
            x, lo, hi = (self.value(c, scope).sql for c in kids)
            return f"({x} {not_}BETWEEN {lo} AND {hi})"
        if d == "like":
            subject, op, pat = kids
            word = _tok(op.children[0]).upper() if isinstance(op, Tree) else "LIKE"
            return (f"({self.value(subject, scope).sql} {not_}{word} "
                    f"{self.value(pat, scope).sql})")
        if d == "null_test":
            return f"({self.value(kids[0], scope).sql} IS {not_}NULL)"
        if d == "in_predicate":
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
        if d == "exists":
            sql, _, _ = self.query(tree.children[0], scope)
            return f"(EXISTS ({sql}))"
        raise self.fail(f"{d} is not a condition", tree)

    def comparison(self, tree: Node, scope: Scope, top: bool = False) -> str:
        a, op, b = tree.children
        sym = _COMP[_tok(op)]
        # 1 = CONTAINS(...) and friends: an indexable predicate, not an integer compare.
        for lit, call in ((a, b), (b, a)):
            if (isinstance(lit, Tree) and lit.data == "integer" and isinstance(call, Tree)
                    and call.data == "call" and sym in ("=", "<>")
                    and Ident.of(call.children[0]).text.lower()
                    in ("contains", "intersects")):
                value = int(_tok(lit.children[0]))
                truth = (value == 1) == (sym == "=")
                pred = self.predicate_call(call, scope, hoist=top and truth and value == 1)
                if value not in (0, 1):
                    return "FALSE" if sym == "=" else f"({pred} IS NOT NULL)"
                return pred if truth else f"(NOT {pred})"
        ea, eb = self.value(a, scope), self.value(b, scope)
        for e in (ea, eb):
            if e.kind != "value":
                raise self.fail(f"a {e.kind.upper()} cannot be compared", tree)
        return f"({ea.sql} {sym} {eb.sql})"


__all__ = ["MATH", "UDFS", "FunctionsMixin", "math"]
