"""Bearer tokens with scopes. Tokens are compared by SHA-256 digest, never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request

from catalog.errors import Forbidden, Unauthorized

#: Where the app factory puts a callable returning {sha256 hex: scopes}; a callable, so that
#: tokens can be rotated without a restart.
TOKENS_STATE = "token_scopes"

#: Attribute of a :func:`require_scope` dependency naming its scope (read by the
#: authentication-first middleware in ``catalog.handlers.edge``).
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


def token_table(app: Any) -> Mapping[str, frozenset[str]]:
    """The app's current token table ({sha256 hex: scopes})."""
    table: Mapping[str, frozenset[str]] = getattr(app.state, TOKENS_STATE)()
    return table


def require_scope(scope: str) -> Callable[[Request], str]:
    """A FastAPI dependency: the request must carry a bearer token with ``scope``.

    Returns the token's digest prefix (for audit logs). 401 without a valid token, 403 with a
    token that lacks the scope. The dependency is marked with its scope (:data:`SCOPE_ATTR`)
    so that the middleware can check the token before the body is parsed.
    """

    def dependency(request: Request) -> str:
        return check_bearer(request.headers.get("authorization", ""),
                            token_table(request.app), scope)

    setattr(dependency, SCOPE_ATTR, scope)
    return dependency
