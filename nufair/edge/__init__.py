"""The edge of every path: the one error contract, the request-body limit, authentication
before the body is read, input hygiene, the security headers, CORS and request metrics
(``/healthz`` is answered before it, by :class:`nufair.context.NufairApp`).

Error contract: every refusal is ``{"error": {"code", "message", "details"}}`` (JSON), except
under the IVOA prefixes (``/tap``, ``/scs``, ``/datalink``: a VOTable with
``QUERY_STATUS=ERROR``) and bad arguments to ``/oai`` (an OAI-PMH ``badArgument`` error;
OAI-PMH reports errors with HTTP 200, as the rest of ``/oai`` does). Each shape is its
package's renderer, composed here (:func:`~nufair.edge.shapes.house_shapes`). Input the
database or XML cannot hold is a 4xx wherever it is found; anything else unexpected is a 500
in the same shape.

From the outside in: :class:`~nufair.edge.layers.FrontLayer` (metrics, security headers)
→ CORS (when origins are configured) → :class:`~nufair.edge.layers.GuardLayer`
(authentication first, body limit, input hygiene, error contract) → whatever was added
before :func:`install_edge` (the VO fast path) → the routes.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from catalog.handlers.context import TokenSource
from catalog.handlers.metrics import Metrics
from nufair.edge.handlers import document_error_responses, install_error_handlers
from nufair.edge.headers import SecurityHeaders
from nufair.edge.layers import FrontLayer, GuardLayer
from nufair.edge.shapes import error_json, house_shapes
from vo.error_shape import VO_PATHS

__all__ = ["error_json", "install_edge"]


def _add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    app.add_middleware(
        CORSMiddleware, allow_origins=list(origins),
        allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Accept", "Authorization", "Content-Type"],
        expose_headers=["Link", "Content-Digest", "Content-Location", "Location",
                        "Retry-After"],
        max_age=3600)


def install_edge(app: FastAPI, *, public_base_url: str, cors_origins: Sequence[str],
                 max_body_bytes: int, tokens: TokenSource, metrics: Metrics,
                 sky_survey: str | None = None) -> None:
    """Install the error handlers, the edge layers and the error contract of the OpenAPI
    document. Call after every other ``add_middleware`` that should sit *below* the edge
    (the VO fast path). ``sky_survey``: the HiPS the pages' CSP lets them fetch."""
    shapes = house_shapes(public_base_url)
    install_error_handlers(app, shapes)
    app.add_middleware(GuardLayer, tokens=tokens, max_body_bytes=max_body_bytes,
                       shapes=shapes)
    if cors_origins:
        _add_cors(app, cors_origins)
    app.add_middleware(FrontLayer, metrics=metrics,
                       headers=SecurityHeaders(public_base_url, sky_survey))
    document_error_responses(app, VO_PATHS)
