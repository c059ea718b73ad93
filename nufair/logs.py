"""Logging of every nufair process: a timestamp, the level, the logger and the ids of what
the line is about, as text or as one JSON object per line (``NUFAIR_LOG_FORMAT=json``).

Code below ``nufair/`` logs with the standard :mod:`logging` and passes the ids it knows as
``extra`` fields (``log.info("scan %s started", pk, extra={"scan_id": pk})``); the
formatters here put the fields of :data:`FIELDS` that a record carries into the line.
:func:`configure` installs one handler on the root logger (idempotent: a second call
replaces it), so uvicorn's own loggers, run with ``log_config=None``, come out the same way.

The JSON lines are made by :mod:`json` from a dict: no hand-written escaping.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from vo.errors import CUT_OFF_NOTE

#: Record attributes that a line carries as fields when present (``extra=``).
FIELDS = ("alert", "event_pk", "revision_pk", "revision", "scan_id", "notice_id", "sink",
          "format", "attempt", "status_code", "claim", "worker", "outcome", "delay_s",
          "priority")

#: Libraries whose INFO lines are noise in an operator's log (shown from WARNING on).
QUIET = ("httpx", "httpcore")

#: Marks the handler :func:`configure` installs, so that a second call replaces it.
_MARK = "_nufair_handler"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, the fields of :data:`FIELDS` it carries, and ``exc`` with a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        doc.update(_fields(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <message> [field=value ...]`` (a traceback below)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as text."""
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = (f"{_timestamp(record)} {record.levelname} {record.name}: "
                f"{record.getMessage()}" + (f" [{fields}]" if fields else ""))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _ended_on_purpose(exc: BaseException | None) -> BaseException | None:
    """The exception in ``exc``'s chain that ended an answer on purpose: one noted with
    :data:`CUT_OFF_NOTE`, or Starlette's ``ClientDisconnect`` (the client went away
    mid-body); None when there is none."""
    for _ in range(8):  # a chain is short; a cycle must not loop
        if exc is None:
            return None
        if CUT_OFF_NOTE in getattr(exc, "__notes__", ()) or \
                type(exc).__name__ == "ClientDisconnect":
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class EndedAnswers(logging.Filter):
    """Turns uvicorn's "Exception in ASGI application" traceback for an answer ended on
    purpose (a TAP answer cut at its time limit, whose CSV cannot carry an error; a client
    gone mid-body) into one WARNING line: not a server fault, and logged where it began."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; rewrites it as one line when it is such an ending."""
        if record.name != "uvicorn.error" or not record.exc_info:
            return True
        ended = _ended_on_purpose(record.exc_info[1])
        if ended is not None:
            record.msg, record.args = "answer ended early: %s %s", (type(ended).__name__,
                                                                    ended)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each record (as :data:`logging.lastResort`
    does), so a replaced stderr (a test's capture, a daemon's redirect) is followed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        return None


def configure(fmt: Literal["text", "json"] = "text", level: str = "INFO",
              stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) in ``fmt``.

    Replaces the handler of an earlier call; other handlers (pytest's, say) stay.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler: logging.Handler = (logging.StreamHandler(stream) if stream is not None
                                else _StderrHandler())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(EndedAnswers())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:  # a line per HTTP request of a sink, at INFO: not ours to log
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's default config gives these handlers of their own; ours is the root's.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
