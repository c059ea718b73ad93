"""Errors of the VO layer. Every one is answered as a VOTable with QUERY_STATUS=ERROR.

Each class has a machine-readable ``code`` (written in the error document as
``<INFO name="code" value="..."/>``, next to the QUERY_STATUS INFO) and the HTTP ``status``
of the answer.
"""

from __future__ import annotations


class VoError(Exception):
    """A request the VO services refuse. ``status`` is the HTTP status of the answer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AdqlError(VoError):
    """Invalid ADQL: a syntax error, or a name or construct the service does not accept.

    ``line`` and ``column`` (1-based) point at the offending text when known.
    """

    code = "adql_syntax"

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.line = line
        self.column = column


class QueryFailed(VoError):
    """The database refused or aborted a translated query (timeout, type mismatch...)."""

    code = "query_failed"


class UploadError(VoError):
    """An UPLOAD parameter or uploaded table that cannot be used."""

    code = "upload_error"


class BadParameter(VoError):
    """A parameter value the service cannot read (a NUL byte, an unpaired surrogate...)."""

    code = "bad_parameter"


class LimitExceeded(VoError):
    """A request over a limit of the service: query text length, parse time, nesting."""

    code = "limit_exceeded"


class ServiceBusy(VoError):
    """Too many synchronous queries run at once; the client may retry later."""

    status = 503
    code = "service_busy"


class DatabaseUnavailable(VoError):
    """The database cannot be reached (down, restarting, connection lost); retry later."""

    status = 503
    code = "database_unavailable"


class NotFoundError(VoError):
    status = 404
    code = "not_found"
