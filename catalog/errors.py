"""Domain errors: each carries a machine-readable code and an HTTP status.

One handler (in the app factory) renders them as ``{"error": {"code", "message", ...}}``.
"""

from __future__ import annotations

from typing import Any


class NufairError(Exception):
    """Base of every domain error."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers: dict[str, str] = {**self.default_headers(), **(headers or {})}

    def default_headers(self) -> dict[str, str]:
        """Response headers every error of this kind carries (none by default)."""
        return {}


class InvalidInput(NufairError):
    """Input that could not be parsed or that breaks a contract."""

    code = "invalid_input"
    status = 422


class NotANeutrinoAlert(InvalidInput):
    """A well-formed notice that is not a neutrino alert we archive (LVK, ANTARES v1.1, ...)."""

    code = "not_a_neutrino_alert"


class InconsistentNotice(InvalidInput):
    """A notice whose parts contradict each other (e.g. IVORN vs. parameters)."""

    code = "inconsistent_notice"


class UnsupportedFormat(NufairError):
    """A document or media type nufair does not read."""

    code = "unsupported_format"
    status = 415


class PayloadTooLarge(NufairError):
    """A request body over the configured limit."""

    code = "payload_too_large"
    status = 413


class NotFound(NufairError):
    """No such resource."""

    code = "not_found"
    status = 404


class Unauthorized(NufairError):
    """No valid bearer token: the answer names the scheme (RFC 6750 ``WWW-Authenticate``)."""

    code = "unauthorized"
    status = 401

    def default_headers(self) -> dict[str, str]:
        """The RFC 6750 challenge naming the scheme."""
        return {"WWW-Authenticate": 'Bearer realm="nufair"'}


class Forbidden(NufairError):
    """A valid token without the scope the endpoint needs (RFC 6750 ``insufficient_scope``)."""

    code = "forbidden"
    status = 403

    def default_headers(self) -> dict[str, str]:
        """The RFC 6750 challenge naming the missing scope."""
        scope = self.details.get("required_scope")
        extra = f', scope="{scope}"' if scope else ""
        return {"WWW-Authenticate": f'Bearer realm="nufair", error="insufficient_scope"{extra}'}


class Conflict(NufairError):
    """The request contradicts what is stored."""

    code = "conflict"
    status = 409


class ServiceUnavailable(NufairError):
    """The database could not be reached (after retries); the request may be repeated."""

    code = "database_unavailable"
    status = 503


class Busy(NufairError):
    """Too many expensive requests at once; the answer says when to try again."""

    code = "busy"
    status = 503

    def default_headers(self) -> dict[str, str]:
        """When to try again (``retry_after_s`` of the details, 5 s by default)."""
        return {"Retry-After": str(self.details.get("retry_after_s", 5))}
