"""The checks that a GCN VOEvent notice of IceCube agrees with itself.

The IVORN repeats the run, event, revision, stream, packet type and time that the Params
give; ``AMON_ID`` and ``Event_TJD``/``Event_SOD`` repeat them again. A notice where they
disagree is refused as a whole (:class:`~catalog.errors.InconsistentNotice`, every problem
listed), since nobody can tell which of its parts is right.
"""

from __future__ import annotations

import re
from datetime import datetime
from xml.etree.ElementTree import Element

from catalog.errors import InconsistentNotice
from catalog.importers._common import parse_utc, tjd_sod_to_utc, to_float, to_int

STREAM_CODES = {24: 173, 25: 174, 26: 176}
"""The ``Stream`` Param of the current alerts and the packet type it goes with."""

#: The IVORN of an IceCube AMON notice, with the values it repeats.
IVORN_RE = re.compile(
    r"#ICECUBE_(?P<label>[A-Za-z]+)_Event(?P<time>[0-9T:.\-]+)_(?P<stream>\d+)_(?P<run>\d+)"
    r"_(?P<event>\d+)_(?P<rev>\d+)$"
)
_IVORN_LABEL_PACKETS = {"GOLD": 173, "BRONZE": 174, "CASCADE": 176, "HESE": 158, "EHE": 169}

TIME_TOLERANCE_S = 0.02
"""ISOTime, SOD and the IVORN time are all rounded to 0.01 s."""


def check_consistency(
    ivorn: str,
    params: dict[str, Element],
    packet: int,
    run: int,
    event: int,
    rev: int,
    event_time: datetime,
) -> None:
    """Raise ``InconsistentNotice`` listing every part of the notice that contradicts another."""
    problems = _ivorn_problems(ivorn, params, packet, run, event, rev, event_time)
    problems += _param_problems(params, packet, run, event, event_time)
    if problems:
        raise InconsistentNotice(
            f"{ivorn}: the notice contradicts itself: " + "; ".join(problems),
            details={"problems": problems},
        )


def _ivorn_problems(
    ivorn: str,
    params: dict[str, Element],
    packet: int,
    run: int,
    event: int,
    rev: int,
    event_time: datetime,
) -> list[str]:
    """Where an IceCube IVORN (run, event, revision, type, stream, time) disagrees with the
    Params; none for an IVORN of another shape."""
    problems: list[str] = []
    match = IVORN_RE.search(ivorn)
    if not match:
        return problems
    for what, ivorn_value, value in (
        ("run", int(match["run"]), run),
        ("event", int(match["event"]), event),
        ("rev", int(match["rev"]), rev),
    ):
        if ivorn_value != value:
            problems.append(f"IVORN {what} {ivorn_value} != Param {value}")
    label_packet = _IVORN_LABEL_PACKETS.get(match["label"].upper())
    if label_packet is not None and label_packet != packet:
        problems.append(f"IVORN type {match['label']} != Packet_Type {packet}")
    stream_param = params.get("Stream")
    if stream_param is not None and stream_param.get("value") != match["stream"]:
        problems.append(
            f"IVORN stream {match['stream']} != Param Stream {stream_param.get('value')}"
        )
    ivorn_time = parse_utc(match["time"], "IVORN time")
    if abs((ivorn_time - event_time).total_seconds()) > TIME_TOLERANCE_S:
        problems.append(f"IVORN time {match['time']} != ISOTime {event_time.isoformat()}")
    return problems


def _param_problems(
    params: dict[str, Element], packet: int, run: int, event: int, event_time: datetime
) -> list[str]:
    """Where the Params disagree among themselves: Stream and Packet_Type, AMON_ID and
    run/event, Event_TJD/SOD and ISOTime."""
    problems: list[str] = []
    stream_param = params.get("Stream")
    if stream_param is not None:
        code = to_int(stream_param.get("value"), "Param Stream")
        if code in STREAM_CODES and STREAM_CODES[code] != packet:
            problems.append(f"Param Stream {code} does not go with Packet_Type {packet}")
    amon_id = params.get("AMON_ID")
    if amon_id is not None and amon_id.get("value") != f"{run}{event:08d}":
        # AMON_ID is the run number followed by the event number padded to 8 digits.
        problems.append(f"AMON_ID {amon_id.get('value')} != run {run} + event {event:08d}")
    tjd = params.get("Event_TJD")
    sod = params.get("Event_SOD")
    if tjd is not None and sod is not None:
        tjd_time = tjd_sod_to_utc(
            to_int(tjd.get("value"), "Event_TJD"), to_float(sod.get("value"), "Event_SOD")
        )
        if abs((tjd_time - event_time).total_seconds()) > TIME_TOLERANCE_S:
            problems.append(
                f"Event_TJD/SOD ({tjd_time.isoformat()}) != ISOTime ({event_time.isoformat()})"
            )
    return problems
