"""Issue 16 item 5: the log formats of nufair.logs, read back with json and by eye.

The lifecycle lines of a real alert (created, scan claimed/started/retried/done, notices
delivered) are checked in ``test_scan_infra_retry.py``; notices given up in
``tests/ingest/test_outbox_steering.py``.
"""

from __future__ import annotations

import io
import json
import logging
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
