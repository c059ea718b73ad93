"""Bearer tokens with scopes. Tokens are compared by SHA-256 digest, never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from fastapi import Request

from catalog.errors import Forbidden, Unauthorized
from catalog.handlers.context import catalog_context

#: Where the app factory also puts the token table (a callable returning {sha256 hex:
#: scopes}) for the VO job service, which reads it there; the catalog's handlers read it
#: from their context (:class:`~catalog.handlers.context.CatalogContext`).
TOKENS_STATE = "token_scopes"

#: Attribute of a :func:`require_scope` dependency naming its scope (read by the
#: authentication-first step of the edge, ``nufair.edge``).
SCOPE_ATTR = "nufair_required_scope"


def check_bearer(authorization: str, table: Mapping[str, frozenset[str]], scope: str) -> str:
    """Check an ``Authorization`` header value against the token table for ``scope``.

    Returns the token's digest prefix (for audit logs). Raises :class:`Unauthorized` (401)
    without a valid token and :class:`Forbidden` (403) with a token that lacks the scope;
    both carry the RFC 6750 ``WWW-Authenticate`` header.
    """
    kind, _, token = authorization.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required for this endpoint")
    digest = hashlib.sha256(token.strip().encode("utf-8", errors="replace")).hexdigest()
    scopes = next((s for d, s in table.items() if hmac.compare_digest(d, digest)), None)
    if scopes is None:
        raise Unauthorized("unknown token", headers={
            "WWW-Authenticate": 'Bearer realm="nufair", error="invalid_token"'})
    if scope not in scopes:
        raise Forbidden(f"this token lacks the {scope!r} scope",
                        details={"required_scope": scope})
    return digest[:12]


def require_scope(scope: str) -> Callable[[Request], str]:
    """A FastAPI dependency: the request must carry a bearer token with ``scope``.

    Returns the token's digest prefix (for audit logs). 401 without a valid token, 403 with a
    token that lacks the scope. The dependency is marked with its scope (:data:`SCOPE_ATTR`)
    so that the middleware can check the token before the body is parsed.
    """

    def dependency(request: Request) -> str:
        return check_bearer(request.headers.get("authorization", ""),
                            catalog_context(request).tokens(), scope)

    setattr(dependency, SCOPE_ATTR, scope)
    return dependency
