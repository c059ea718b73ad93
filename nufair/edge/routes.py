"""The routes guarded by a scope, found once by inspecting the app's routes.

FastAPI parses a JSON body before it runs the route's dependencies; the edge checks the
token of these routes before any byte of the body is read (see :mod:`nufair.edge.layers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from catalog.handlers.auth import SCOPE_ATTR


def route_entries(routes: Iterable[Any]) -> Iterator[tuple[Any, APIRoute]]:
    """(matcher, route) of every FastAPI route, through included routers.

    The matcher has the route's full ``path``, its ``methods`` and ``matches(scope)``.
    FastAPI ≥ 0.120 keeps included routers as branches (``iter_route_contexts`` walks
    them); older versions flatten them into ``app.routes``.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: the routes are flat
        for route in routes:
            if isinstance(route, APIRoute):
                yield route, route
        return
    for ctx in iter_route_contexts(list(routes)):
        if isinstance(ctx.original_route, APIRoute):
            yield ctx, ctx.original_route


def _required(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        scope: str | None = getattr(dep.call, SCOPE_ATTR, None)
        if scope is not None:
            return scope
        stack.extend(dep.dependencies)
    return None


def scoped_routes(routes: Iterable[Any]) -> list[tuple[Any, str]]:
    """The routes guarded by a :func:`catalog.handlers.auth.require_scope` dependency:
    (matcher, scope), the matcher as :func:`route_entries` gives it."""
    out: list[tuple[Any, str]] = []
    for matcher, route in route_entries(routes):
        needed = _required(route)
        if needed is not None:
            out.append((matcher, needed))
    return out


class ScopedRoutes:
    """The scope a request's route needs, from the app's routes inspected on first use
    (every router is included by then)."""

    def __init__(self) -> None:
        self._routes: list[tuple[Any, str]] | None = None

    def required(self, scope: Scope) -> str | None:
        """The scope the route of this request needs, or None for an unguarded route."""
        if self._routes is None:
            self._routes = scoped_routes(scope["app"].routes)
        for route, needed in self._routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return needed
        return None
