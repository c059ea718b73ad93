"""Issue 16 item 5: the log formats of nufair.logs, read back with json and by eye.

The lifecycle lines of a real alert (created, scan claimed/started/retried/done, notices
delivered) are checked in ``test_scan_infra_retry.py``; notices given up in
``tests/ingest/test_outbox_steering.py``.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime

from nufair import logs


def test_json_lines_carry_time_level_logger_ids_and_the_traceback() -> None:
    buf = io.StringIO()
    logs.configure("json", "INFO", stream=buf)
    log = logging.getLogger("nufair.test.json")
    log.debug("not shown")
    log.info("notice %d delivered", 7, extra={"notice_id": 7, "sink": "webhook"})
    try:
        raise OSError("scheduler gone")
    except OSError:
        log.exception("scan 3 failed", extra={"scan_id": 3, "outcome": "failed"})
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert first["message"] == "notice 7 delivered" and first["level"] == "INFO"
    assert first["logger"] == "nufair.test.json"
    assert (first["notice_id"], first["sink"]) == (7, "webhook")
    ts = datetime.fromisoformat(first["ts"])
    assert ts.tzinfo is not None and abs((datetime.now(UTC) - ts).total_seconds()) < 60
    assert second["level"] == "ERROR" and second["scan_id"] == 3
    assert "OSError: scheduler gone" in second["exc"]


def test_text_lines_and_a_second_configure_replaces_the_first() -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.configure("json", stream=first)
    logs.configure("text", "WARNING", stream=second)
    log = logging.getLogger("nufair.test.text")
    log.info("quiet")
    log.warning("scan %d lost its claim", 4, extra={"scan_id": 4, "claim": 2})
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    stamp, level, rest = line.split(" ", 2)
    datetime.fromisoformat(stamp)
    assert level == "WARNING"
    assert rest == "nufair.test.text: scan 4 lost its claim [scan_id=4 claim=2]"


def _asgi_failure(cause: BaseException) -> logging.LogRecord:
    """The record uvicorn logs when an app fails after its answer started: Starlette's
    RuntimeError raised from the app's exception (its ServerErrorMiddleware)."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("Caught handled exception, but response already started.") \
                from exc
    except RuntimeError:
        return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1,
                                 "Exception in ASGI application\n", None, sys.exc_info())


def test_an_answer_cut_off_on_purpose_is_one_warning_line_not_a_traceback() -> None:
    from starlette.requests import ClientDisconnect

    from vo.errors import CUT_OFF_NOTE, QueryFailed

    buf = io.StringIO()
    handler = logs.configure("text", "INFO", stream=buf)
    cut = QueryFailed("query took longer than the time limit of 30 s and was cancelled")
    cut.add_note(CUT_OFF_NOTE)
    for cause in (cut, ClientDisconnect(), QueryFailed("a fault nobody noted")):
        handler.handle(_asgi_failure(cause))
    lines = buf.getvalue().splitlines()
    assert "WARNING uvicorn.error: answer ended early: QueryFailed query took longer" in lines[0]
    assert "WARNING uvicorn.error: answer ended early: ClientDisconnect" in lines[1]
    # anything else keeps its level and its whole traceback
    assert "ERROR uvicorn.error: Exception in ASGI application" in lines[2]
    assert "Traceback" in buf.getvalue() and "a fault nobody noted" in buf.getvalue()
    # the first two records took one line each; the traceback follows the third
    assert buf.getvalue().split("Exception in ASGI application", 1)[1].lstrip().startswith(
        "Traceback")
