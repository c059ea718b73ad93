"""The ADQL function library: math, geometry constructors and functions, HEALPix UDFs.

A call is looked up by name in :data:`MATH` or in ``FunctionsMixin.CALLS`` (name → the
method that translates it); nothing the user typed chooses a method by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeGuard

import healpy as hp
from lark import Tree

from vo.adql import frames
from vo.adql import geometry as geo
from vo.adql.base import TranslatorBase
from vo.adql.conditions import PREDICATES
from vo.adql.mocsql import check_moc_values, moc_literal, shape_moc
from vo.adql.scope import Expr, Ident, Node, Scope
from vo.adql.stcs import parse_stcs
from vo.adql.uploads import UploadColumn
from vo.adql.values import tok
from vo.errors import AdqlError
from vo.tables import ColumnInfo

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
    "moc": "moc(asciiMoc VARCHAR) -> MOC",
}

#: What each UDF does, for the capabilities (TAPRegExt feature description).
UDF_DESCRIPTIONS = {
    "ivo_healpix_index": "The NESTED HEALPix index, at order hpxOrder (0 to 29), of the "
                         "cell that contains the point p (ICRS).",
    "ivo_healpix_center": "The centre (ICRS) of the NESTED HEALPix cell hpxIndex at order "
                          "hpxOrder (0 to 29), as a POINT.",
    "moc": "A MOC from its ASCII MOC 2.0 serialization: a string (MOC('5/1-3 7/')) or "
           "a text column of an uploaded table (MOC(u.moc), one MOC per row); also "
           "MOC(hpxOrder, shape): the covering of a constant CIRCLE or POLYGON at that "
           "order. A MOC is compared with INTERSECTS and CONTAINS to MOC columns "
           "(moc50, moc90), other MOCs, points and constant shapes, and has an AREA. "
           "An uploaded text column declared xtype=\"moc\" is a MOC without the call "
           "(INTERSECTS(a.moc90, u.m)), as ADQL 2.0 parsers accept it.",
}


#: Deepest HEALPix order (the region tiles are NESTED indices at order 29).
MAX_HPX_ORDER = 29


def _integer(value: object) -> TypeGuard[int]:
    """Whether a constant is an integer (not a bool, a float or a string)."""
    return isinstance(value, int) and not isinstance(value, bool)


#: A call's translation: (translator, lower-case name, arguments, call tree) → the
#: expression, or None when the number of arguments does not fit (an "unknown function").
CallRule = Callable[["FunctionsMixin", str, list[Expr], Node], Expr | None]


class FunctionsMixin(TranslatorBase):
    """Function calls and geometry constructors; a part of the translator."""

    #: Function name → its translation (filled in below the class).
    CALLS: ClassVar[dict[str, CallRule]] = {}

    # ----------------------------------------------------------- constructors
    def v_geometry_ctor(self, tree: Node, scope: Scope) -> Expr:
        """POINT, CIRCLE, BOX or POLYGON; coordinates of another frame converted to ICRS."""
        name_node, frame_tok, *args = tree.children
        kind = tok(name_node.children[0] if isinstance(name_node, Tree) else name_node).upper()
        vals = [self.value(a, scope) for a in args if a is not None]
        if frame_tok is not None:
            try:
                frame = frames.frame_of(tok(frame_tok)[1:-1].replace("''", "'"))
            except AdqlError as exc:
                raise AdqlError(exc.reason, frame_tok.line, frame_tok.column) from None
            if frames.FRAMES[frame] is not None:
                if kind == "BOX" and len(vals) == 4 and all(v.kind == "value" for v in vals):
                    # the box's edges follow the frame's axes: its corners are converted
                    kind, vals = "POLYGON", self._box_corners(*vals)
                vals = self._to_icrs(frame, kind, vals, tree)
        if kind == "POINT":
            if len(vals) != 2:
                raise self.fail("POINT takes two coordinates", tree)
            return self.geo.point(vals[0], vals[1])
        if kind == "CIRCLE":
            return self._circle(vals, tree)
        if kind == "BOX":
            return self._box(vals, tree)
        return self._polygon(vals, tree)

    def _to_icrs(self, frame: str, kind: str, vals: list[Expr], tree: Node) -> list[Expr]:
        """The arguments of a constructor with their positions converted to ICRS: the
        first pair (POINT, CIRCLE and BOX centres) or every pair (POLYGON vertices)."""
        pairs = len(vals) // 2 if kind == "POLYGON" else 1
        if kind == "POLYGON" and any(v.kind == "point" for v in vals):
            pairs = 0  # vertices given as POINTs carry their own frame
        if vals and vals[0].kind == "point":
            return vals
        out = list(vals)
        for i in range(pairs):
            if 2 * i + 1 >= len(vals):
                break
            lon, lat = vals[2 * i], vals[2 * i + 1]
            if isinstance(lon.const, int | float) and isinstance(lat.const, int | float):
                geo.check_position(float(lon.const), float(lat.const))
                ra, dec = frames.to_icrs(frame, float(lon.const), float(lat.const))
                out[2 * i] = Expr(self.bind(ra, "double precision"), const=ra)
                out[2 * i + 1] = Expr(self.bind(dec, "double precision"), const=dec)
            else:
                ra_sql, dec_sql = frames.to_icrs_sql(
                    frame, f"CAST({lon.sql} AS double precision)",
                    f"CAST({lat.sql} AS double precision)")
                out[2 * i], out[2 * i + 1] = Expr(ra_sql), Expr(dec_sql)
        return out

    def _box_corners(self, ra: Expr, dec: Expr, width: Expr, height: Expr) -> list[Expr]:
        """The corners of a BOX (centre ± half width and height, the latitude clamped to
        ±90), as the arguments of a POLYGON; constants stay constants."""
        out: list[Expr] = []
        for sa, sd in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            if all(isinstance(v.const, int | float) for v in (ra, dec, width, height)):
                a = float(ra.const) + sa * float(width.const) / 2  # type: ignore[arg-type]
                d = max(-90.0, min(90.0, float(dec.const)  # type: ignore[arg-type]
                                   + sd * float(height.const) / 2))  # type: ignore[arg-type]
                out += [Expr(self.bind(a % 360.0, "double precision"), const=a % 360.0),
                        Expr(self.bind(d, "double precision"), const=d)]
                continue
            op_a, op_d = ("+" if sa > 0 else "-"), ("+" if sd > 0 else "-")
            out += [Expr(f"({ra.sql} {op_a} CAST({width.sql} AS double precision) / 2.0)"),
                    Expr(f"GREATEST(-90.0, LEAST(90.0, {dec.sql} {op_d} "
                         f"CAST({height.sql} AS double precision) / 2.0))")]
        return out

    def _circle(self, vals: list[Expr], tree: Node) -> Expr:
        if len(vals) == 2 and vals[0].kind == "point":
            return self.geo.circle(vals[0], vals[1])
        if len(vals) != 3:
            raise self.fail("CIRCLE takes a centre and a radius", tree)
        return self.geo.circle(self.geo.point(vals[0], vals[1]), vals[2])

    def _box(self, vals: list[Expr], tree: Node) -> Expr:
        if len(vals) == 3 and vals[0].kind == "point":
            vals = [*vals[0].parts[:2], *vals[1:]]
        if len(vals) != 4 or any(v.kind != "value" for v in vals):
            raise self.fail("BOX takes a centre, a width and a height", tree)
        return self.geo.box_of(*vals)

    def _polygon(self, vals: list[Expr], tree: Node) -> Expr:
        coords: list[Expr] = []
        for v in vals:
            if v.kind not in ("point", "value"):
                raise self.fail(f"a POLYGON vertex cannot be a {v.kind.upper()}", tree)
            coords += v.parts[:2] if v.kind == "point" else [v]
        if len(coords) % 2:
            raise self.fail("POLYGON needs pairs of coordinates", tree)
        if len(coords) < 6:
            raise self.fail("a POLYGON needs at least three vertices", tree)
        return self.geo.polygon_of(list(zip(coords[::2], coords[1::2], strict=True)))

    # ------------------------------------------------------------------ calls
    def v_call(self, tree: Node, scope: Scope) -> Expr:
        """A function call: a predicate as 0/1, a math function, or one of ``CALLS``."""
        name_tree, *arg_trees = tree.children
        ident = Ident.of(name_tree)
        name = ident.text.lower()
        if name in PREDICATES:
            return Expr(f"CAST({self.predicate_call(tree, scope)} AS integer)", name=name)
        args = [self.value(a, scope) for a in arg_trees if a is not None]
        if name in MATH:
            fn, arity = MATH[name]
            if len(args) != arity:
                raise self.fail(f"{name.upper()} takes {arity} argument(s)", tree)
            return Expr(f"{fn}({', '.join(a.sql for a in args)})", name=name,
                        type="string" if name in ("lower", "upper") else "number",
                        meta=args[0].meta if name == "abs" else None)
        rule = self.CALLS.get(name)
        e = rule(self, name, args, tree) if rule is not None else None
        if e is None:
            raise self.fail(f"unknown function {ident.text}() or wrong number of arguments",
                            tree)
        return e

    def call_round(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """ROUND and TRUNCATE, to an optional number of digits."""
        if len(args) not in (1, 2):
            return None
        fn = "round" if name == "round" else "trunc"
        digits = args[1].sql if len(args) == 2 else "0"
        return Expr(f"CAST({fn}(CAST({args[0].sql} AS numeric), {digits}) AS double "
                    "precision)", name=name)

    def call_rand(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """RAND (a seed is accepted and ignored)."""
        return Expr("random()", name=name) if len(args) <= 1 else None

    def call_coalesce(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """COALESCE, keeping the first argument's metadata."""
        if not args:
            return None
        return Expr(f"COALESCE({', '.join(a.sql for a in args)})", meta=args[0].meta,
                    name="coalesce")

    def call_distance(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """DISTANCE of two POINTs or of four numbers."""
        if len(args) == 4:
            args = [self.geo.point(args[0], args[1]), self.geo.point(args[2], args[3])]
        if len(args) != 2:
            raise self.fail("DISTANCE takes two POINTs or four numbers", tree)
        return self.geo.distance(*args)

    def call_geometry(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """COORD1, COORD2, COORDSYS, AREA and CENTROID of one geometry."""
        if len(args) != 1:
            return None
        if name in ("coord1", "coord2"):
            return self.geo.coord(args[0], int(name[-1]) - 1)
        if name == "coordsys":
            return Expr(self.bind("ICRS"), name="coordsys")
        if name == "area":
            return self.geo.area(args[0])
        return self.geo.centroid(args[0])

    def call_healpix_index(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """ivo_healpix_index(order, POINT) or (order, ra, dec): the NESTED index."""
        if len(args) == 3:
            args = [args[0], self.geo.point(args[1], args[2])]
        if len(args) != 2 or args[1].kind != "point" or args[0].kind != "value":
            raise self.fail("ivo_healpix_index takes an order and a POINT", tree)
        shift = self.healpix_shift(args[0], tree)
        return Expr(f"(CAST({args[1].hpx} AS bigint) >> {shift})", name=name, meta=ColumnInfo(
            name, "long", "NESTED HEALPix index.", ucd="pos.healpix"))

    def call_healpix_center(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """ivo_healpix_center(order, index) of constants: the cell's centre as a POINT."""
        if len(args) != 2:
            return None
        order, index = args
        if not (_integer(order.const) and _integer(index.const)):
            raise self.fail("ivo_healpix_center takes a constant integer order (0 to "
                            f"{MAX_HPX_ORDER}) and a constant integer index", tree)
        if (not 0 <= order.const <= MAX_HPX_ORDER
                or not 0 <= index.const < 12 * 4**order.const):
            raise self.fail("ivo_healpix_center: no such HEALPix cell", tree)
        ra, dec = hp.pix2ang(2**order.const, index.const, nest=True, lonlat=True)
        pr, pd = float(ra), float(dec)
        return self.geo.point(Expr(self.bind(pr), const=pr), Expr(self.bind(pd), const=pd))

    def call_moc(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """MOC('ASCII MOC'), MOC(text column of an uploaded table) or MOC(order, constant
        CIRCLE or POLYGON): a MOC value."""
        if len(args) == 1 and isinstance(args[0].const, str):
            return self.geo.mocs.literal(moc_literal(args[0].const))
        if len(args) == 1 and (column := self._uploaded_text(args[0])) is not None:
            try:
                check_moc_values(column.name, column.values.tolist())
            except AdqlError as exc:
                raise self.fail(exc.reason, tree) from None
            return self.geo.mocs.text_moc(args[0].sql)
        if len(args) == 2 and _integer(args[0].const) and args[1].kind != "value":
            if not 0 <= args[0].const <= MAX_HPX_ORDER:
                raise self.fail(f"MOC: the order must be an integer from 0 to "
                                f"{MAX_HPX_ORDER}", tree)
            return self.geo.mocs.literal(shape_moc(args[1], order=args[0].const))
        raise self.fail("MOC takes an ASCII MOC string, a text column of an uploaded table, "
                        "or an order and a constant CIRCLE or POLYGON", tree)

    def uploaded_moc(self, e: Expr, tree: Node) -> Expr:
        """``e`` as a MOC when it names an uploaded text column declared ``xtype="moc"``
        (DALI's ASCII MOC), else ``e`` itself: a geometry operand that ADQL 2.0 parsers
        (a column reference, not a function call) accept where ``MOC(u.m)`` is ADQL 2.1."""
        column = self._uploaded_text(e) if e.kind == "value" else None
        if column is None or column.meta is None or column.meta.xtype != "moc":
            return e
        try:
            check_moc_values(column.name, column.values.tolist())
        except AdqlError as exc:
            raise self.fail(exc.reason, tree) from None
        return self.geo.mocs.text_moc(e.sql)

    def _uploaded_text(self, e: Expr) -> UploadColumn | None:
        """The uploaded text column that ``e`` names, if it names one (its values can be
        checked before the query runs)."""
        for up in self.uploads.values():
            for c in up.columns:
                if c.meta is not None and c.meta is e.meta and e.name == c.name \
                        and c.datatype in ("char", "unicodeChar"):
                    return c
        return None

    def call_region(self, name: str, args: list[Expr], tree: Node) -> Expr | None:
        """REGION('STC-S'): a Position, Circle, Box or Polygon in ICRS (:mod:`stcs`)."""
        if len(args) != 1:
            return None
        if not isinstance(args[0].const, str):
            raise self.fail("REGION takes a constant STC-S string", tree)
        try:
            shape = parse_stcs(args[0].const)
            nums = [Expr(self.bind(v, "double precision"), const=v) for v in shape.numbers]
            if shape.kind == "point":
                return self.geo.point(*nums)
            if shape.kind == "circle":
                return self.geo.circle(self.geo.point(nums[0], nums[1]), nums[2])
            if shape.kind == "box":
                return self.geo.box_of(*nums)
            return self.geo.polygon_of(list(zip(nums[::2], nums[1::2], strict=True)))
        except AdqlError as exc:
            raise self.fail(exc.reason, tree) from None

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


FunctionsMixin.CALLS.update({
    "round": FunctionsMixin.call_round, "truncate": FunctionsMixin.call_round,
    "rand": FunctionsMixin.call_rand, "coalesce": FunctionsMixin.call_coalesce,
    "distance": FunctionsMixin.call_distance,
    **dict.fromkeys(("coord1", "coord2", "coordsys", "area", "centroid"),
                    FunctionsMixin.call_geometry),
    "ivo_healpix_index": FunctionsMixin.call_healpix_index,
    "ivo_healpix_center": FunctionsMixin.call_healpix_center,
    "moc": FunctionsMixin.call_moc, "region": FunctionsMixin.call_region,
})

__all__ = ["MATH", "MAX_HPX_ORDER", "UDFS", "FunctionsMixin"]
