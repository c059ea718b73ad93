"""ADQL value expressions: literals, columns, arithmetic, CASE, CAST, aggregates, IN_UNIT."""

from __future__ import annotations

import astropy.units as u
from lark import Tree

from vo.adql.base import TranslatorBase
from vo.adql.scope import Expr, Ident, Node, Scope, adql_type
from vo.errors import AdqlError
from vo.tables import ColumnInfo

#: ADQL CAST target types and their PostgreSQL spelling.
_CASTS = {"SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint", "REAL": "real",
          "DOUBLE PRECISION": "double precision", "TIMESTAMP": "timestamp",
          "CHAR": "char", "VARCHAR": "varchar"}


#: ADQL words for the types of :func:`vo.adql.scope.adql_type`.
_WORDS = {"number": "number", "string": "VARCHAR", "timestamp": "TIMESTAMP",
          "point": "POINT", "circle": "CIRCLE", "polygon": "POLYGON", "moc": "MOC", "": "value"}


def _unit_of(op: str, a: Expr, b: Expr) -> ColumnInfo | None:
    """Metadata (a unit) of ``a op b`` where it follows from the operands': a sum or
    difference of one unit, or a product or quotient by a plain number."""
    ua = a.meta.unit if a.meta is not None else None
    ub = b.meta.unit if b.meta is not None else None
    unit: str | None = None
    same = op in "+-" and ua == ub
    scaled = op in "*/" and b.meta is None and adql_type(b) == "number"
    if ua and (same or scaled):
        unit = ua
    elif op == "*" and ub and a.meta is None and adql_type(a) == "number":
        unit = ub
    return ColumnInfo("expr", "double", "", unit=unit) if unit else None


def tok(node: object) -> str:
    """Text of a token (or of any node, as lark prints it)."""
    return str(node)


class ValuesMixin(TranslatorBase):
    """Value expressions; a part of :class:`vo.adql.translate.Translator`."""

    def value(self, tree: Node, scope: Scope) -> Expr:
        """SQL of a value expression: the ``v_<rule>`` method of its grammar rule."""
        if not isinstance(tree, Tree):
            raise AdqlError(f"unexpected {tree!s}")
        handler = getattr(self, f"v_{tree.data}", None)
        if handler is None:
            raise self.fail(f"{tree.data} is not allowed here", tree)
        e: Expr = handler(tree, scope)
        return e

    def v_column_reference(self, tree: Node, scope: Scope) -> Expr:
        """A column, resolved against the FROM items in scope."""
        return scope.resolve([Ident.of(c) for c in tree.children])

    def v_integer(self, tree: Node, scope: Scope) -> Expr:
        """An integer literal (bound as integer, or bigint when it needs 64 bits)."""
        v = int(tok(tree.children[0]))
        return Expr(self.bind(v, "bigint" if abs(v) > 2**31 - 1 else "integer"), const=v)

    def v_hex_integer(self, tree: Node, scope: Scope) -> Expr:
        """A hexadecimal integer literal (bound as bigint)."""
        v = int(tok(tree.children[0]), 16)
        return Expr(self.bind(v, "bigint"), const=v)

    def v_float(self, tree: Node, scope: Scope) -> Expr:
        """A floating-point literal."""
        v = float(tok(tree.children[0]))
        return Expr(self.bind(v, "double precision"), const=v)

    def v_string(self, tree: Node, scope: Scope) -> Expr:
        """A string literal ('' inside stands for one quote)."""
        v = "".join(tok(t)[1:-1].replace("''", "'") for t in tree.children)
        return Expr(self.bind(v), const=v)

    def v_null(self, tree: Node, scope: Scope) -> Expr:
        """NULL."""
        return Expr("NULL")

    def v_unary(self, tree: Node, scope: Scope) -> Expr:
        """Unary + or -; the minus of a constant is folded into the constant."""
        op, arg = tree.children
        e = self.value(arg, scope)
        if tok(op) == "-" and isinstance(e.const, int | float):
            v = -e.const
            return Expr(self.bind(v, "double precision" if isinstance(v, float) else "bigint"),
                        const=v)
        return Expr(f"({tok(op)}{e.sql})", meta=e.meta if tok(op) == "+" else None,
                    arith=(tok(op), (e,)))

    def v_binary(self, tree: Node, scope: Scope) -> Expr:
        """Arithmetic on two numbers (a geometry is refused)."""
        a, op, b = tree.children
        ea, eb = self.value(a, scope), self.value(b, scope)
        for e in (ea, eb):
            if e.kind != "value":
                raise self.fail(f"arithmetic on a {e.kind.upper()}", tree)
            if adql_type(e) in ("string", "timestamp"):
                raise self.fail(f"arithmetic ({tok(op)}) on a {_WORDS[adql_type(e) or '']}; "
                                "CAST it to a number", tree)
        return Expr(f"({ea.sql} {tok(op)} {eb.sql})", meta=_unit_of(tok(op), ea, eb),
                    type="number", arith=(tok(op), (ea, eb)))

    def v_concat(self, tree: Node, scope: Scope) -> Expr:
        """String concatenation (||)."""
        a, b = (self.value(c, scope) for c in tree.children)
        for e in (a, b):
            t = adql_type(e)
            if t is not None and t != "string":
                raise self.fail(f"|| joins strings, not a {_WORDS.get(t, t.upper())}; CAST it "
                                "to VARCHAR", tree)
        return Expr(f"({a.sql} || {b.sql})", type="string")

    def v_scalar_subquery(self, tree: Node, scope: Scope) -> Expr:
        """A subquery of one column used as a value."""
        sql, cols, _ = self.query(tree.children[0], scope)
        if len(cols) != 1:
            raise self.fail("a subquery used as a value must return one column", tree)
        return Expr(f"({sql})")

    def v_searched_case(self, tree: Node, scope: Scope) -> Expr:
        """CASE WHEN condition THEN value ... [ELSE value] END."""
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
        """CASE subject WHEN value THEN value ... [ELSE value] END."""
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
        """COUNT(*)."""
        return Expr("count(*)", name="count", type="number")

    def v_aggregate(self, tree: Node, scope: Scope) -> Expr:
        """An aggregate (AVG, MIN, MAX, SUM, COUNT) with an optional DISTINCT/ALL."""
        name_node, *middle, arg = tree.children
        name = tok(name_node.children[0] if isinstance(name_node, Tree) else name_node).lower()
        q = ""
        for quant in middle:
            if isinstance(quant, Tree) and quant.data == "set_quantifier":
                q = tok(quant.children[0]).upper() + " "
        e = self.value(arg, scope)
        if name in ("min", "max"):
            meta = e.meta
        elif name in ("avg", "sum") and e.meta is not None and e.meta.unit:
            meta = ColumnInfo(name, "double", f"{name.upper()} of {e.meta.name}",
                              unit=e.meta.unit)
        else:
            meta = None
        if name in ("avg", "sum") and adql_type(e) in ("string", "timestamp"):
            raise self.fail(f"{name.upper()} of a {_WORDS[adql_type(e) or '']}", tree)
        return Expr(f"{name}({q}{e.sql})", meta=meta, name=name,
                    type="number" if name in ("count", "avg", "sum") else None)

    def v_cast(self, tree: Node, scope: Scope) -> Expr:
        """CAST to one of the ADQL types, with an optional length."""
        arg, type_tree = tree.children
        e = self.value(arg, scope)
        assert isinstance(type_tree, Tree)
        word = " ".join(tok(type_tree.children[0]).upper().split())
        if word not in _CASTS:
            raise self.fail(f"CAST to {word} is not supported", type_tree)
        target = _CASTS[word]
        if len(type_tree.children) > 1 and type_tree.children[1] is not None:
            target += f"({int(tok(type_tree.children[1]))})"
        return Expr(f"CAST({e.sql} AS {target})", name="cast")

    def v_in_unit(self, tree: Node, scope: Scope) -> Expr:
        """IN_UNIT(value, 'unit'): the value times the factor from its column's unit."""
        arg, unit_tok = tree.children
        e = self.value(arg, scope)
        target = tok(unit_tok)[1:-1]
        source = e.meta.unit if e.meta is not None else None
        if not source:
            raise self.fail("IN_UNIT needs a value whose unit is known (a column with a unit)",
                            tree)
        try:
            factor = u.Unit(source, format="vounit").to(u.Unit(target, format="vounit"))
        except (ValueError, u.UnitsError) as exc:
            raise self.fail(f"IN_UNIT: cannot convert {source} to {target!r}: {exc}",
                            tree) from None
        meta = ColumnInfo(e.name or "in_unit", "double",
                          f"{e.meta.description if e.meta else ''} (in {target})".strip(),
                          unit=target, ucd=e.meta.ucd if e.meta else None)
        return Expr(f"({e.sql} * {self.bind(float(factor), 'double precision')})",
                    name=e.name, meta=meta, type="number")
