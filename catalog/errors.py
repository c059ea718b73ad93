"""Domain errors: each carries a machine-readable code and an HTTP status.

One handler (in the app factory) renders them as ``{"error": {"code", "message", ...}}``.
"""

from __future__ import annotations

from typing import Any


class NufairError(Exception):
    """Base of every domain error."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


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
    code = "unsupported_format"
    status = 415


class PayloadTooLarge(NufairError):
    code = "payload_too_large"
    status = 413


class NotFound(NufairError):
    code = "not_found"
    status = 404


class Unauthorized(NufairError):
    code = "unauthorized"
    status = 401


class Forbidden(NufairError):
    code = "forbidden"
    status = 403


class Conflict(NufairError):
    code = "conflict"
    status = 409


class ServiceUnavailable(NufairError):
    """The database could not be reached (after retries); the request may be repeated."""

    code = "database_unavailable"
    status = 503
