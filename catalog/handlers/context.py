"""The catalog's context: what its handlers need, built once by the app factory
(``nufair.context``) and read through typed dependencies.

The app that serves the catalog's routers is a :class:`CatalogHost`: it holds the context
built when it started. Handlers never look things up on ``app.state``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fastapi import Request

if TYPE_CHECKING:  # the context names them; their modules depend on this one
    from catalog.fair.browse import BuildGate
    from catalog.fair.http import FairContext
    from catalog.fair.oai import ServiceRecord
    from catalog.storage.events import CatalogStorage

#: A callable returning the current token table ({sha256 hex: scopes}); a callable, so that
#: tokens can be rotated without a restart.
TokenSource = Callable[[], Mapping[str, frozenset[str]]]


@dataclass(frozen=True, slots=True)
class CatalogContext:
    """What the catalog's handlers need: its storage, the FAIR context, the gate of the
    DCAT catalog builds, the token table of :func:`~catalog.handlers.auth.require_scope` and
    the resource records of whoever publishes services beside the catalog (harvested through
    OAI-PMH as ``ivo_vor``; none when the app has no VO layer)."""

    storage: CatalogStorage
    fair: FairContext
    gate: BuildGate
    tokens: TokenSource
    services: tuple[ServiceRecord, ...] = ()


class CatalogHost(Protocol):
    """An app serving the catalog: it holds the context built when it started."""

    @property
    def catalog_context(self) -> CatalogContext:
        """The catalog's context (available once the app has started)."""


def catalog_context(request: Request) -> CatalogContext:
    """A FastAPI dependency: the catalog's context of the app serving ``request``."""
    host: CatalogHost = request.app
    return host.catalog_context
