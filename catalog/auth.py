"""Bearer tokens with scopes. Tokens are compared by SHA-256 digest, never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from fastapi import Request

from catalog.errors import Forbidden, Unauthorized

#: Where the app factory puts a callable returning {sha256 hex: scopes}; a callable, so that
#: tokens can be rotated without a restart.
TOKENS_STATE = "token_scopes"


def require_scope(scope: str) -> Callable[[Request], str]:
    """A FastAPI dependency: the request must carry a bearer token with ``scope``.

    Returns the token's digest prefix (for audit logs). 401 without a valid token, 403 with a
    token that lacks the scope.
    """

    def dependency(request: Request) -> str:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required for this endpoint")
        digest = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
        table: Mapping[str, frozenset[str]] = getattr(request.app.state, TOKENS_STATE)()
        scopes = next((s for d, s in table.items() if hmac.compare_digest(d, digest)), None)
        if scopes is None:
            raise Unauthorized("unknown token")
        if scope not in scopes:
            raise Forbidden(f"this token lacks the {scope!r} scope",
                            details={"required_scope": scope})
        return digest[:12]

    return dependency
