"""What the parts of the ADQL translator share: its state, bind parameters and errors.

The translator is one class (:class:`vo.adql.translate.Translator`) put together from parts
by role: queries (``translate``), FROM items (``fromclause``), value expressions
(``values``), the function library (``functions``) and search conditions (``conditions``).
Each part reaches the others through the methods declared here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vo.adql.geomsql import GeometrySql
from vo.adql.scope import Expr, Node, Scope
from vo.adql.uploads import UploadTable
from vo.errors import AdqlError
from vo.tables import TILES_RELATION

#: A query's SQL, its output columns (name, expression) and its TOP.
QueryResult = tuple[str, list[tuple[str, Expr]], int | None]


class TranslatorBase:
    """State of one translation, and the steps every part of the translator calls."""

    def __init__(self, uploads: Sequence[UploadTable] = ()) -> None:
        self.params: dict[str, Any] = {}
        #: (type, value, cast) of a scalar bound already → its placeholder: the same
        #: constant written twice (in the select list and GROUP BY or ORDER BY) becomes the
        #: same parameter, so PostgreSQL sees the same expression in both places.
        self._bound: dict[tuple[type, Any, str | None], str] = {}
        self.uploads = {u.name.lower(): u for u in uploads}
        #: (ra SQL, dec SQL) of a position → (SQL of its order-29 index, indexed column?).
        self.point_index: dict[tuple[str, str], tuple[str, bool]] = {}
        self.geo = GeometrySql(self.bind, self.point_index)
        #: WITH clauses in scope, innermost last: name → (SQL name, output columns).
        self.ctes: list[dict[str, tuple[str, list[tuple[str, Expr]]]]] = []
        self.n_alias = 0
        #: Query expressions translated so far (the first is the whole query).
        self.n_queries = 0
        self.tables: list[str] = []
        #: Per SELECT being translated: FROM items and WHERE terms that MOC predicates add
        #: when they stand as top-level conjuncts (see ``ConditionsMixin.predicate_call``).
        self.hoists: list[tuple[list[str], list[str]]] = []
        #: Index columns of bulk uploads (matched against tiles by a scan of the tiles).
        self.bulk_points: set[str] = set()
        #: Scope of the SELECT last translated (ORDER BY may name its expressions).
        self._order_scope: Scope | None = None
        #: The FROM being translated has no outer join (an ON may hoist MOC predicates).
        self._inner_only = False

    # ------------------------------------------------------------------ basics
    def bind(self, value: Any, cast: str | None = None) -> str:
        """A bind parameter holding ``value`` (cast to the SQL type ``cast``); a scalar
        bound before with the same cast reuses its parameter."""
        # An uncast value (a string) is never shared: PostgreSQL deduces one type per
        # parameter, and '2020-01-01' may be a timestamp in one place and a text in another.
        key = (type(value), value, cast) if (
            cast is not None and isinstance(value, int | float | str)) else None
        if key is not None and key in self._bound:
            return self._bound[key]
        name = f"p{len(self.params)}"
        self.params[name] = value
        sql = f"CAST(:{name} AS {cast})" if cast else f":{name}"
        if key is not None:
            self._bound[key] = sql
        return sql

    def alias(self) -> str:
        """A new SQL alias for a FROM item (``t1``, ``t2``, ...)."""
        self.n_alias += 1
        return f"t{self.n_alias}"

    @staticmethod
    def comparable(e: Expr) -> str:
        """SQL of a value that ``=`` can compare: a MOC column as its sorted ranges."""
        if e.kind == "moc" and e.moc is not None:
            rev, level = e.moc
            return ("(SELECT array_agg(ARRAY[lower(m.hpx), upper(m.hpx)] ORDER BY lower(m.hpx))"
                    f" FROM {TILES_RELATION} m WHERE m.revision_pk = {rev}"
                    f" AND m.level = {int(level)})")
        return e.sql

    @staticmethod
    def where(tree: Node) -> tuple[int | None, int | None]:
        """(line, column) of a syntax tree node in the query text, when known."""
        meta = getattr(tree, "meta", None)
        if meta is None or getattr(meta, "empty", True):
            return None, None
        return meta.line, meta.column

    def fail(self, message: str, tree: Node) -> AdqlError:
        """An ADQL error located at ``tree``."""
        return AdqlError(message, *self.where(tree))

    # ------------------------------------------ steps defined by the other parts
    def query(self, tree: Node, parent: Scope | None,
              maxrec: int | None = None) -> QueryResult:
        """SQL of a query expression (``translate``)."""
        raise NotImplementedError

    def value(self, tree: Node, scope: Scope) -> Expr:
        """SQL of a value expression (``values``)."""
        raise NotImplementedError

    def condition(self, tree: Node, scope: Scope, top: bool = False) -> str:
        """SQL of a search condition (``conditions``)."""
        raise NotImplementedError

    def predicate_call(self, tree: Node, scope: Scope, hoist: bool = False) -> str:
        """SQL of CONTAINS or INTERSECTS (``conditions``)."""
        raise NotImplementedError

    def uploaded_moc(self, e: Expr, tree: Node) -> Expr:
        """``e`` as a MOC when it is an uploaded ``xtype="moc"`` column (``functions``)."""
        raise NotImplementedError
