"""Errors of the VO layer. Every one is answered as a VOTable with QUERY_STATUS=ERROR."""

from __future__ import annotations


class VoError(Exception):
    """A request the VO services refuse. ``status`` is the HTTP status of the answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AdqlError(VoError):
    """Invalid ADQL: a syntax error, or a name or construct the service does not accept.

    ``line`` and ``column`` (1-based) point at the offending text when known.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.line = line
        self.column = column


class QueryFailed(VoError):
    """The database refused or aborted a translated query (timeout, type mismatch...)."""


class UploadError(VoError):
    """An UPLOAD parameter or uploaded table that cannot be used."""


class NotFoundError(VoError):
    status = 404
