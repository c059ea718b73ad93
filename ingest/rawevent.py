"""The one entrance of a raw event: strict JSON, the schema, then plausibility.

Every input channel (``POST /api/v1/events/raw``, ``POST /api/v1/scans`` with an
``inline_event``, the AMQP consumer, ``nufair ingest``) decodes with :func:`loads_strict`
and validates with :func:`validate_raw_event`, so that one body gets one answer
everywhere. Every refusal is a 4xx :class:`catalog.errors.InvalidInput` (or a subclass with
its own code) whose message is short and printable: it never echoes a megabyte of input
or a lone surrogate into an error body or a log line.

Steps:

1. :func:`loads_strict` — JSON as RFC 8259 means it, and nothing a later layer chokes on:
   duplicate keys, ``NaN`` / ``Infinity``, numbers that overflow a double (``1e400``),
   integers of more than :data:`MAX_INT_DIGITS` digits, nesting deeper than
   :data:`MAX_DEPTH`, strings with NUL or unpaired surrogates (PostgreSQL stores neither).
2. :func:`validate_raw_event` — cheap size checks first (pulse arrays over
   :data:`MAX_PULSES` are refused before the schema walks them), then
   ``schemas/raw_event.schema.json``, then :func:`check_plausible`: the detector is one that
   reco can reconstruct, every sensor index exists on it, and the event time lies within the
   detector's life (:data:`DETECTORS`).

An I3Live message (IceCube's own realtime format, as SkyDriver hands it to skymap_scanner) is
accepted wherever a raw event is: :func:`normalize_raw_body` decodes it with
:mod:`reco.i3live` into the raw-event JSON (its ``source`` says what was decoded and what was
approximated), and that body is what is validated and stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from catalog.errors import InvalidInput
from catalog.notices.model import SAFE_NAME_PATTERN
from reco.event import Event
from reco.i3live import I3DecodeError, decode_message, is_i3live_message
from reco.i3live.cleaning import RT_RADIUS_M, RT_TIME_NS, TIME_WINDOW_NS

#: Largest number of pulses a raw event may carry. IceCube's realtime alerts have ~10³
#: pulses (the I3Live message of IceCube-231202A: 888 pulses on 175 DOMs); the brightest
#: events a few 10⁴. The first guess costs ~0.2 ms per pulse (22 s for 10⁵ pulses measured
#: on the shared CI machine), so 10⁵ keeps the worst accepted event well inside the
#: first-guess budget.
MAX_PULSES = 100_000
#: Deepest JSON nesting accepted (a raw event needs 3: body → pulses / truth → arrays).
MAX_DEPTH = 8
#: Most digits of a JSON integer (2⁶³ − 1 has 19; Python refuses > 4300 with ValueError).
MAX_INT_DIGITS = 20
#: Largest identifier (run, event) PostgreSQL's ``bigint`` holds.
MAX_ID = 2**63 - 1
#: Longest text of a refusal message (the input may be a megabyte long).
MAX_MESSAGE = 300
#: How far in the future an event time may be (clock skew between DAQ and us).
CLOCK_SKEW = timedelta(minutes=10)


class MalformedJson(InvalidInput):
    """The body is not strict JSON (syntax, duplicate keys, non-finite or huge numbers,
    nesting, NUL or lone surrogates). Code ``invalid_input`` as every syntax error has
    always had; ``details["reason"]`` says which rule."""


class RawEventInvalid(InvalidInput):
    """The JSON does not follow ``schemas/raw_event.schema.json`` (code ``invalid_input``,
    ``details["path"]`` says where)."""


class RawEventTooLarge(InvalidInput):
    """More pulses than :data:`MAX_PULSES`."""

    code = "raw_event_too_large"


class ImplausibleEvent(InvalidInput):
    """A well-formed event that cannot be true (unknown detector, sensor that does not
    exist, time outside the detector's life)."""

    code = "implausible_event"


class I3LiveInvalid(InvalidInput):
    """An I3Live message whose frames cannot be decoded (``details`` name the frame and the
    byte offset)."""

    code = "invalid_i3live_message"


#: The media type of an I3Live message posted as such (the JSON of the message).
I3LIVE_MEDIA_TYPE = "application/vnd.icecube.i3live+json"


@dataclass(frozen=True, slots=True)
class DetectorLife:
    """What reco knows of a detector: its sensors and the span it took data.

    ``start`` is the first day of physics data in this configuration; ``end`` None means
    still running (then "now" plus :data:`CLOCK_SKEW` bounds the event time).
    """

    n_sensors: int
    start: datetime
    end: datetime | None = None


#: The detectors reco can reconstruct (``reco.detector``: only the full 86-string array).
#: IC86 physics data began on 2011-05-13 (IceCube's earlier partial configurations IC40,
#: IC59, IC79 from 2008 on, and the first strings of 2005, have their own geometries that
#: reco does not ship, so their events are refused rather than mis-reconstructed as IC86).
DETECTORS: dict[str, DetectorLife] = {
    "IC86": DetectorLife(n_sensors=5160, start=datetime(2011, 5, 13, tzinfo=UTC)),
}


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` made safe for an error body or a log: at most ``limit`` characters, with
    NUL and unpaired surrogates written as escapes."""
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text)} characters)"
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# ---------------------------------------------------------------------------- strict JSON

def _refuse_constant(name: str) -> Any:
    raise MalformedJson(f"JSON contains {name}, which strict JSON does not allow",
                        details={"reason": "non_finite_number"})


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedJson(f"JSON integer of {len(text)} digits (at most {MAX_INT_DIGITS})",
                            details={"reason": "integer_too_long", "digits": len(text)})
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedJson(f"JSON number {clip(text, 40)} overflows a double",
                            details={"reason": "non_finite_number"})
    return value


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedJson(f"duplicate JSON key {clip(repr(key), 80)}",
                                details={"reason": "duplicate_key", "key": clip(key, 80)})
        out[key] = value
    return out


def _bad_text(text: str) -> bool:
    """True if ``text`` has a NUL or an unpaired surrogate (neither can be stored)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _walk(value: Any) -> Iterator[tuple[Any, int]]:
    """Every node of a decoded document with its depth, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        if isinstance(node, dict):
            stack.extend((k, depth) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list, str)))


def check_document(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and strings that cannot be stored."""
    for node, depth in _walk(value):
        if depth > MAX_DEPTH:
            raise MalformedJson(f"JSON nested deeper than {MAX_DEPTH} levels",
                                details={"reason": "too_deep", "max_depth": MAX_DEPTH})
        if isinstance(node, str) and _bad_text(node):
            raise MalformedJson("JSON string with a NUL character or an unpaired surrogate",
                                details={"reason": "bad_text"})


def loads_strict(data: bytes | str) -> Any:
    """Decode ``data`` as strict JSON; :class:`MalformedJson` (422) for anything else.

    Examples
    --------
    >>> loads_strict(b'{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> loads_strict(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    ingest.rawevent.MalformedJson: duplicate JSON key 'a'
    """
    try:
        value = json.loads(data, object_pairs_hook=_unique_pairs,
                           parse_constant=_refuse_constant, parse_int=_parse_int,
                           parse_float=_parse_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedJson(f"malformed JSON: {clip(str(exc), 200)}",
                            details={"reason": "syntax"}) from None
    except RecursionError:
        raise MalformedJson(f"JSON nested deeper than {MAX_DEPTH} levels",
                            details={"reason": "too_deep", "max_depth": MAX_DEPTH}) from None
    except ValueError as exc:  # e.g. int() of a number Python will not convert
        raise MalformedJson(f"malformed JSON number: {clip(str(exc), 200)}",
                            details={"reason": "bad_number"}) from None
    check_document(value)
    return value


# ---------------------------------------------------------------------------- raw event

@cache
def raw_event_validator() -> Draft202012Validator:
    """The validator of ``schemas/raw_event.schema.json``."""
    schema = json.loads(files("schemas").joinpath("raw_event.schema.json").read_text())
    return Draft202012Validator(schema)


def check_size(body: Any) -> None:
    """Refuse pulse arrays over :data:`MAX_PULSES` before the schema walks them."""
    pulses = body.get("pulses") if isinstance(body, dict) else None
    if not isinstance(pulses, dict):
        return
    for key in ("sensor", "time", "charge"):
        items = pulses.get(key)
        if isinstance(items, list) and len(items) > MAX_PULSES:
            raise RawEventTooLarge(
                f"raw event has {len(items)} pulses; at most {MAX_PULSES} are accepted",
                details={"path": f"pulses/{key}", "n_pulses": len(items),
                         "max_pulses": MAX_PULSES})


def check_schema(body: Any) -> None:
    """Validate against the JSON schema; :class:`RawEventInvalid` at the first problem."""
    error = best_match(raw_event_validator().iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise RawEventInvalid(f"raw event invalid at {clip(where, 80)}: {clip(error.message)}",
                              details={"path": clip(where, 80),
                                       "schema": "raw_event.schema.json"})


def event_time(text: str) -> datetime:
    """The event time of the raw event (aware UTC); :class:`ImplausibleEvent` if it cannot
    be one (no offset, out of ``datetime``'s range once moved to UTC)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if t.tzinfo is None:
            raise ValueError("no time zone")
        return t.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ImplausibleEvent(f"event time {clip(text, 40)} is not a UTC instant: {exc}",
                               details={"path": "time"}) from None


def check_plausible(body: dict[str, Any], now: datetime | None = None) -> None:
    """Refuse what the schema cannot see: an unknown detector, sensor indices beyond it,
    an event time outside its life, and a name that is not a safe identifier."""
    if not SAFE_NAME_PATTERN.fullmatch(body["observatory"]):
        raise ImplausibleEvent("observatory must be a plain name", details={"path": "observatory"})
    name = body.get("detector", "IC86")
    life = DETECTORS.get(name)
    if life is None:
        raise ImplausibleEvent(f"unknown detector {clip(repr(name), 80)}; reco knows "
                               f"{sorted(DETECTORS)}", details={"path": "detector"})
    sensors = body["pulses"]["sensor"]
    top = max(sensors)
    if top >= life.n_sensors:
        raise ImplausibleEvent(f"sensor index {top} does not exist on {name} "
                               f"({life.n_sensors} sensors)",
                               details={"path": "pulses/sensor", "n_sensors": life.n_sensors})
    t = event_time(body["time"])
    latest = life.end or (now or datetime.now(UTC)) + CLOCK_SKEW
    if not life.start <= t <= latest:
        raise ImplausibleEvent(f"event time {t.isoformat()} is outside {name}'s life "
                               f"({life.start.date()} .. {latest.isoformat()})",
                               details={"path": "time", "from": life.start.isoformat(),
                                        "to": latest.isoformat()})


def validate_raw_event(body: Any, now: datetime | None = None) -> Event:
    """Check a decoded raw event (size, schema, plausibility) and build the reco event."""
    check_document(body)
    check_size(body)
    check_schema(body)
    check_plausible(body, now)
    try:
        return Event.from_json(body)
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise RawEventInvalid(f"raw event refused: {clip(str(exc))}") from None


def parse_raw_event_bytes(data: bytes | str) -> tuple[dict[str, Any], Event]:
    """Strictly decode and validate one raw event; the decoded body and its reco event."""
    body = normalize_raw_body(loads_strict(data))
    return body, validate_raw_event(body)


def check_safe_name(value: str, what: str) -> str:
    """``value`` if it is a safe identifier (:data:`SAFE_NAME_PATTERN`), else
    :class:`InvalidInput` naming ``what``."""
    if not SAFE_NAME_PATTERN.fullmatch(value):
        raise InvalidInput(f"{what} must match {SAFE_NAME_PATTERN.pattern}",
                           details={"parameter": what})
    return value



# ---------------------------------------------------------------------------- I3Live

def i3live_to_raw_body(message: Any) -> dict[str, Any]:
    """The raw-event JSON of an I3Live message; :class:`I3LiveInvalid` (422) if its frames
    cannot be decoded. Nothing is stored on the way."""
    try:
        decoded = decode_message(message)
    except I3DecodeError as exc:
        raise I3LiveInvalid(f"I3Live message refused: {clip(str(exc))}",
                            details={"frame": clip(exc.frame, 120), "offset": exc.offset,
                                     "reason": clip(exc.reason, 200)}) from None
    body = decoded.to_event().to_json()
    varname = message.get("varname") if isinstance(message, dict) else None
    body["source"] = {
        "format": "i3live",
        **({"varname": clip(varname, 200)} if isinstance(varname, str) else {}),
        "series": decoded.series_name,
        "cleaning": f"RT {RT_RADIUS_M:g} m / {RT_TIME_NS:g} ns and a {TIME_WINDOW_NS:g} ns "
                    "time window (IceCube's online cleaning)",
        "approximations": list(decoded.approximations),
        "online_recos": {k: {"zenith_deg": math.degrees(p.zenith),
                             "azimuth_deg": math.degrees(p.azimuth)}
                         for k, p in decoded.recos.items()
                         if math.isfinite(p.zenith) and math.isfinite(p.azimuth)},
    }
    return body


def normalize_raw_body(body: Any, *, i3live: bool = False) -> Any:
    """``body`` as raw-event JSON: an I3Live message (recognised by its frames, by
    ``i3live=True``, or wrapped as ``{"format": "i3live", "message": {...}}``) is decoded;
    anything else is returned unchanged for :func:`validate_raw_event` to judge."""
    if isinstance(body, dict) and body.get("format") == "i3live" and "message" in body:
        return i3live_to_raw_body(body["message"])
    if i3live or is_i3live_message(body):
        return i3live_to_raw_body(body)
    return body
