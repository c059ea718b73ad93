"""Errors of the VO layer: the house's error vocabulary, in the VO's words.

Every class is a :class:`catalog.errors.NufairError`: it has a machine-readable ``code`` and
the HTTP ``status`` of the answer, and the house's one registered error handler renders it.
On the VO paths (``/tap``, ``/scs``, ``/datalink``; :mod:`vo.error_shape`) that answer is a
VOTable with ``QUERY_STATUS=ERROR`` (the message as its content) and
``<INFO name="code" value="..."/>`` after it; the headers an error carries
(``Retry-After``, ``WWW-Authenticate``) go with it.
Handlers therefore raise and never catch; only the cone search, whose standard (SCS 1.03)
has an error document of its own, turns them into its answer itself.

Names say what went wrong, without an ``Error`` suffix (``NotFound``, ``Forbidden``), as
``catalog.errors`` does; ``VoError``, ``AdqlError`` and ``UploadError`` name the kind of
request refused.
"""

from __future__ import annotations

from catalog.errors import NufairError

#: Seconds a client refused over a cap is asked to wait before trying again (Retry-After)
#: when the error does not say otherwise.
RETRY_AFTER_S = 5


#: The note (``BaseException.add_note``) of an exception raised on purpose to end a streamed
#: answer early (the headers are sent: only closing the connection can say it); where it
#: is raised, one line already says why, so :class:`nufair.logs.EndedAnswers` shortens
#: the server's traceback of it.
CUT_OFF_NOTE = "nufair: answer cut off on purpose"


class VoError(NufairError):
    """A request the VO services refuse. ``status`` is the HTTP status of the answer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)


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


class NotFound(VoError):
    """No such table, job, job resource, region or result."""

    status = 404
    code = "not_found"


class Unauthorized(VoError):
    """A bearer token the service does not know (the answer names the scheme)."""

    status = 401
    code = "unauthorized"

    def default_headers(self) -> dict[str, str]:
        """``WWW-Authenticate: Bearer`` (RFC 6750)."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(VoError):
    """A TAP job of another owner."""

    status = 403
    code = "forbidden"


class ServiceBusy(VoError):
    """The service is at a cap of its own (synchronous query slots, active jobs, stored
    bytes); the client may retry after ``retry_after_s`` seconds."""

    status = 503
    code = "service_busy"

    def __init__(self, message: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        self.retry_after_s = retry_after_s  # read by default_headers, in the base __init__
        super().__init__(message)

    def default_headers(self) -> dict[str, str]:
        """``Retry-After`` in seconds."""
        return {"Retry-After": str(self.retry_after_s)}


class TooManyJobs(VoError):
    """The caller's quota key is at one of its caps of TAP jobs (jobs kept, active, bytes);
    it may retry after ``retry_after_s`` seconds."""

    status = 429
    code = "too_many_jobs"

    def __init__(self, message: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        self.retry_after_s = retry_after_s  # read by default_headers, in the base __init__
        super().__init__(message)

    def default_headers(self) -> dict[str, str]:
        """``Retry-After`` in seconds."""
        return {"Retry-After": str(self.retry_after_s)}


class DatabaseUnavailable(VoError):
    """The database cannot be reached (down, restarting, connection lost); retry later."""

    status = 503
    code = "database_unavailable"
