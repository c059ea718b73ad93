"""Security issue #12, raw-event input side: hostile raw events on every channel.

Each hostile body must get a 4xx in the one error shape (HTTP) or a dead letter with its
code (AMQP) or a refusal (CLI), and leave nothing behind: no database row, no file inside
or outside the data directory. The writers of files, called directly with hostile names,
are in test_writer_confinement.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.schema.events import events, revisions
from catalog.schema.ingest import raw_events, scans
from catalog.schema.outbox import notices
from catalog.storage.events import CatalogStorage
from ingest.consumer import ERROR_CODE_HEADER, RawEventConsumer
from ingest.rawevent import (
    DETECTORS,
    MAX_PULSES,
    MalformedJson,
    loads_strict,
    raw_event_validator,
)
from nufair.app import create_app
from nufair.cli import main
from nufair.ingest import make_context
from nufair.settings import Settings
from reco.detector import load_ic86
from reco.firstguess import likelihood_search
from reco.likelihood import prepare
from tests.ingest.amqp import params, publish, queues, take_all
from tests.ingest.confinement import MARK, escaped_files, files_under
from tests.ingest.events import detector, raw_body, simulated

# ------------------------------------------------------------------------------ payloads

def _with(token: str, path: tuple[str, ...], base: dict[str, Any] | None = None,
          first_item: bool = False) -> bytes:
    """A raw event's JSON with the raw text ``token`` put at ``path`` (or at the first item
    of the array there), so that the token reaches the parser untouched."""
    body = json.loads(json.dumps(base or raw_body(event_id=901)))
    node = body
    for key in path[:-1]:
        node = node[key]
    if first_item:
        node[path[-1]][0] = "@@TOKEN@@"
    else:
        node[path[-1]] = "@@TOKEN@@"
    return json.dumps(body).replace('"@@TOKEN@@"', token, 1).encode()


def _string(value: str) -> str:
    return json.dumps(value)  # with \\u escapes for NUL and surrogates


def _too_many_pulses() -> bytes:
    n = MAX_PULSES + 1
    body = {**raw_body(event_id=901), "pulses": {"sensor": [0] * n, "time": [0] * n,
                                                 "charge": [1] * n}}
    return json.dumps(body, separators=(",", ":")).encode()


def hostile() -> dict[str, bytes]:
    """Every hostile raw event of the issue (and a few more), as the bytes sent."""
    good = json.dumps(raw_body(event_id=901))
    return {
        "traversal-absolute": _with(_string(f"/srv/elsewhere/{MARK}_abs"), ("observatory",)),
        "traversal-relative": _with(_string(f"../../../{MARK}_rel"), ("observatory",)),
        "dot-dot": _with(_string(".."), ("observatory",)),
        "slash": _with(_string("Ice/Cube"), ("observatory",)),
        "float-overflow": _with("1e400", ("pulses", "charge"), first_item=True),
        "nan": _with("NaN", ("pulses", "time"), first_item=True),
        "run-id-2^63": _with(str(2**63), ("run_id",)),
        "event-id-5000-digits": _with("9" * 5000, ("event_id",)),
        "charge-1e308": _with("1e308", ("pulses", "charge"), first_item=True),
        "sensor-2^70": _with(str(2**70), ("pulses", "sensor"), first_item=True),
        "sensor-not-on-detector": _with(str(DETECTORS["IC86"].n_sensors), ("pulses", "sensor"),
                                        first_item=True),
        "time-9999": _with(_string("9999-12-31T23:59:59.999999Z"), ("time",)),
        "time-year-1": _with(_string("0001-01-01T00:00:00Z"), ("time",)),
        "time-year-1-offset": _with(_string("0001-01-01T00:00:00+14:00"), ("time",)),
        "time-before-ic86": _with(_string("2011-05-12T23:59:59Z"), ("time",)),
        "observatory-900kB": _with(_string("A" * 900_000), ("observatory",)),
        "nul": _with(_string("Ice\x00Cube"), ("observatory",)),
        "lone-surrogate": _with('"\\ud800"', ("observatory",)),
        "surrogate-key": ('{"\\udfff": 1, ' + good[1:]).encode(),
        "deep-nesting": _with("[" * 10_000 + "]" * 10_000, ("pulses", "sensor")),
        "nesting-9": _with("[" * 9 + "1" + "]" * 9, ("pulses", "sensor")),
        "duplicate-key": ('{"run_id": 1, ' + good[1:]).encode(),
        "unknown-detector": _with(_string("XYZ"), ("detector",)),
        "too-many-pulses": _too_many_pulses(),
        "not-an-object": b"[]",
        "not-utf8": b'{"observatory": "\xff"}',
    }


HOSTILE = hostile()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (raw_events, events, revisions, notices, scans)}


def _error(r: Any) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert len(body["error"]["message"]) < 1000  # never echoes a megabyte of input
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """The app with its dispatcher (notices are written) but no scan runner (no background
    scans on the shared cores)."""
    with TestClient(create_app(settings.model_copy(update={"scan_runner_enabled": False}))
                    ) as c:
        yield c


# ------------------------------------------------------------------------ strict decoding

@pytest.mark.parametrize(("text", "reason"), [
    (b'{"a": 1, "a": 2}', "duplicate_key"),
    (b'[NaN]', "non_finite_number"),
    (b'[-Infinity]', "non_finite_number"),
    (b'[1e400]', "non_finite_number"),
    (b'[' + b"1" * 5000 + b']', "integer_too_long"),
    (b'[' + b"1" * 21 + b']', "integer_too_long"),
    (b"[" * 10_000 + b"]" * 10_000, "too_deep"),
    (b"[" * 9 + b"]" * 9, "too_deep"),
    (b'["a\\u0000b"]', "bad_text"),
    (b'["\\ud800"]', "bad_text"),
    (b'{"\\u0000": 1}', "bad_text"),
    (b"{not json", "syntax"),
    (b"\xff", "syntax"),
])
def test_strict_json_refuses(text: bytes, reason: str) -> None:
    with pytest.raises(MalformedJson) as caught:
        loads_strict(text)
    assert caught.value.status == 422 and caught.value.details["reason"] == reason


def test_strict_json_keeps_what_is_valid() -> None:
    assert loads_strict(b'{"a": [1, -2.5e3, "\\u00e9\\ud83d\\ude00"], "b": {"c": null}}') == {
        "a": [1, -2500.0, "é😀"], "b": {"c": None}}
    assert loads_strict(str(2**63 - 1).encode()) == 2**63 - 1
    assert loads_strict(b"[" * 8 + b"]" * 8) == [[[[[[[[]]]]]]]]


def test_schema_and_code_agree() -> None:
    schema = raw_event_validator().schema
    props = schema["properties"]
    assert props["observatory"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    assert props["run_id"]["maximum"] == props["event_id"]["maximum"] == 2**63 - 1
    assert props["detector"]["enum"] == sorted(DETECTORS)
    assert DETECTORS["IC86"].n_sensors == load_ic86().n_sensors
    for key in ("sensor", "time", "charge"):
        assert props["pulses"]["properties"][key]["maxItems"] == MAX_PULSES


# ---------------------------------------------------------------------- HTTP raw events

@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_raw_event_is_refused_and_leaves_nothing(
        case: str, api: TestClient, settings: Settings, engine: Engine,
        admin_headers: dict[str, str], tmp_path: Path) -> None:
    before = _counts(engine)
    started = time.monotonic()
    r = api.post("/api/v1/events/raw", content=HOSTILE[case],
                    headers={**admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    error = _error(r)
    assert error["code"] in {"invalid_input", "raw_event_too_large", "implausible_event"}
    assert time.monotonic() - started < 30  # refused before any fit
    assert _counts(engine) == before
    assert files_under(settings.data_dir / "notices") == [] if (
        settings.data_dir / "notices").exists() else True
    assert escaped_files(tmp_path) == []


def test_traversal_payloads_name_their_cause(api: TestClient, engine: Engine,
                                             admin_headers: dict[str, str],
                                             tmp_path: Path) -> None:
    for case in ("traversal-absolute", "traversal-relative"):
        r = api.post("/api/v1/events/raw", content=HOSTILE[case],
                        headers={**admin_headers, "Content-Type": "application/json"})
        assert r.status_code == 422
        assert _error(r) == {"code": "invalid_input", "message": r.json()["error"]["message"],
                             "details": {"path": "observatory",
                                         "schema": "raw_event.schema.json"}}
    assert _counts(engine)["raw_events"] == 0 and escaped_files(tmp_path) == []
    # The same event under a plain name is accepted: the refusal was about the name.
    ok = api.post("/api/v1/events/raw", json=raw_body(event_id=901), headers=admin_headers)
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(("case", "code", "path"), [
    ("unknown-detector", "invalid_input", "detector"),
    ("time-year-1", "implausible_event", "time"),
    ("time-9999", "implausible_event", "time"),
    ("sensor-not-on-detector", "implausible_event", "pulses/sensor"),
    ("too-many-pulses", "raw_event_too_large", "pulses/sensor"),
    ("duplicate-key", "invalid_input", None),
])
def test_refusal_codes(case: str, code: str, path: str | None, api: TestClient,
                       admin_headers: dict[str, str]) -> None:
    r = api.post("/api/v1/events/raw", content=HOSTILE[case],
                    headers={**admin_headers, "Content-Type": "application/json"})
    error = _error(r)
    assert (r.status_code, error["code"], error["details"].get("path")) == (422, code, path)


def test_concurrent_duplicates_run_one_first_guess(storage: CatalogStorage,
                                                   settings: Settings, engine: Engine) -> None:
    runtime = make_context(storage, settings)
    fits: list[int] = []
    real = runtime.pipeline._detector

    def counting() -> Any:  # the pipeline asks for the detector once per selection
        fits.append(threading.get_ident())
        return real()

    runtime.pipeline._detector = counting
    body = raw_body(event_id=950)
    gate = threading.Barrier(20)

    def post(_: int) -> bool:
        gate.wait()
        return runtime.pipeline.accept(json.loads(json.dumps(body))).created

    try:
        with ThreadPoolExecutor(20) as pool:
            created = list(pool.map(post, range(20)))
    finally:
        runtime.dispatcher.stop()
    assert sorted(created) == [False] * 19 + [True]
    assert len(fits) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(raw_events).where(
            raw_events.c.event_id == 950)).scalar_one() == 1


def test_first_guess_over_budget_is_refused(api: TestClient, engine: Engine,
                                            admin_headers: dict[str, str]) -> None:
    api.app.ingest_context.pipeline.first_guess_budget_s = 0.0  # type: ignore[attr-defined]
    r = api.post("/api/v1/events/raw", json=raw_body(event_id=960), headers=admin_headers)
    assert r.status_code == 422 and _error(r)["code"] == "work_budget_exceeded", r.text
    assert _counts(engine)["raw_events"] == 0


def test_compass_search_is_bounded() -> None:
    event = simulated().event
    prep = prepare(event, detector())
    zen, azi = 1.0, 2.0
    out = likelihood_search(prep, zen, azi, prep.centre, max_steps=0)
    assert (out[0], out[1]) == (zen, azi)  # no step taken


# --------------------------------------------------------------------------- scans API

@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_inline_scan_is_refused(case: str, api: TestClient, engine: Engine,
                                        admin_headers: dict[str, str]) -> None:
    if case == "not-utf8":
        content = b'{"inline_event": ' + HOSTILE[case] + b"}"
    else:
        content = b'{"inline_event": ' + HOSTILE[case] + b', "publish": "none"}'
    before = _counts(engine)
    r = api.post("/api/v1/scans", content=content,
                    headers={**admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    _error(r)
    assert _counts(engine) == before


@pytest.mark.parametrize("event", ["\x00" * 10, "IceCube-250304A\x00", "\ud800", "../x",
                                   "９９", "²"])
def test_scan_of_hostile_event_key_is_refused(event: str, api: TestClient, engine: Engine,
                                              admin_headers: dict[str, str]) -> None:
    content = json.dumps({"event": event}).encode()
    r = api.post("/api/v1/scans", content=content,
                    headers={**admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    _error(r)
    assert _counts(engine)["scans"] == 0


def test_scan_ids_out_of_range_are_4xx(api: TestClient,
                                       admin_headers: dict[str, str]) -> None:
    huge = str(2**64)
    for method, url in [("GET", f"/api/v1/scans/{huge}"),
                        ("GET", f"/api/v1/scans/{huge}/status"),
                        ("GET", f"/api/v1/scans/{huge}/progress"),
                        ("GET", f"/api/v1/scans/{huge}/result"),
                        ("GET", "/api/v1/scans/" + "9" * 5000),
                        ("DELETE", f"/api/v1/scans/{huge}"),
                        ("POST", f"/api/v1/scans/{huge}/rescan"),
                        ("GET", "/api/v1/scans?run_id=" + "1" * 36),
                        ("GET", "/api/v1/scans?event_id=" + "1" * 36)]:
        r = api.request(method, url, headers=admin_headers,
                           json={} if method == "POST" else None)
        assert 400 <= r.status_code < 500, (url[:80], r.status_code, r.text[:200])
        _error(r)
    assert api.get(f"/api/v1/scans/{2**63 - 1}").status_code == 404


def test_event_key_with_nul_is_4xx(api: TestClient, admin_headers: dict[str, str]) -> None:
    for key in ("a%00b", "%C2%B2"):  # NUL is refused at the edge (400), "²" by the route
        r = api.get(f"/api/v1/events/{key}/notices")
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"], r.text
        r = api.post(f"/api/v1/events/{key}/retract", json={"reason": "noise burst"},
                        headers=admin_headers)
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"], r.text


# ------------------------------------------------------------------------- AMQP and CLI

def test_hostile_messages_are_dead_lettered_with_their_code(
        storage: CatalogStorage, settings: Settings, engine: Engine, tmp_path: Path) -> None:
    runtime = make_context(storage, settings)
    cases = sorted(HOSTILE)
    with queues() as config:
        publish(config.queue, *(HOSTILE[c] for c in cases))
        seen: list[Any] = []
        RawEventConsumer(params(), runtime.pipeline.accept, config).run(
            max_messages=len(cases), idle_timeout_s=10, on_handled=seen.append)
        dead = take_all(config.dead_letters)
    runtime.dispatcher.stop()
    assert [h.outcome for h in seen] == ["dead-lettered"] * len(cases)
    assert [d.body for d in dead] == [HOSTILE[c] for c in cases]
    codes = {c: d.headers[ERROR_CODE_HEADER] for c, d in zip(cases, dead, strict=True)}
    assert set(codes.values()) <= {"invalid_input", "raw_event_too_large",
                                   "implausible_event"}, codes
    assert codes["time-year-1"] == "implausible_event"
    assert _counts(engine)["raw_events"] == 0 and escaped_files(tmp_path) == []


def test_cli_refuses_hostile_files(db_url: str, tmp_path: Path, engine: Engine,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = ["traversal-relative", "duplicate-key", "time-year-1", "deep-nesting",
              "event-id-5000-digits", "lone-surrogate"]
    paths = []
    for case in chosen:
        path = tmp_path / f"{case}.json"
        path.write_bytes(HOSTILE[case])
        paths.append(str(path))
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["ingest", "--no-progress", "--deliver-timeout", "0",
                                       *paths])
    assert result.exit_code == 1, result.output
    assert result.output.count("refused") == len(chosen), result.output
    assert "[implausible_event]" in result.output and "[invalid_input]" in result.output
    assert _counts(engine)["raw_events"] == 0 and escaped_files(tmp_path) == []


def test_plain_events_still_pass() -> None:
    """Real-looking events (an alert-sized one and the test event) are not refused."""
    from ingest.rawevent import validate_raw_event

    body = raw_body(event_id=970)
    assert validate_raw_event(body).n_pulses == len(body["pulses"]["sensor"])
    n = 888  # IceCube-231202A's pulse count
    small = {**body, "pulses": {k: v[:n] for k, v in body["pulses"].items()}}
    assert validate_raw_event(small).n_pulses == n
    assert np.isfinite(validate_raw_event(small).charge).all()


@pytest.mark.parametrize("content", [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"reason": "noise\\u0000burst"}',
    b'{"reason": "\\ud800 burst"}',
    b'{"reason": "noise burst", "reason": "other"}',
    b'{"seeds": 1e400}',
    b'{"seeds": ' + b"9" * 5000 + b"}",
])
def test_hostile_retract_and_rescan_bodies_are_4xx(content: bytes, api: TestClient,
                                                   engine: Engine,
                                                   admin_headers: dict[str, str]) -> None:
    name = api.post("/api/v1/events/raw", json=raw_body(event_id=980),
                       headers=admin_headers).json()["name"]
    scan = api.post("/api/v1/scans", json={"event": name}, headers=admin_headers).json()
    before = _counts(engine)
    headers = {**admin_headers, "Content-Type": "application/json"}
    for url in (f"/api/v1/events/{name}/retract", f"/api/v1/scans/{scan['id']}/rescan"):
        r = api.post(url, content=content, headers=headers)
        assert r.status_code == 422, (url, r.text)
        _error(r)
    assert _counts(engine) == before
