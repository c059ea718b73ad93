"""Small IceTray objects: the serialisation preamble, I3EventHeader/I3Time, I3Particle,
I3Double, I3String."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reco.i3live.binary import Reader
from reco.i3live.container import Blob, Frame

_POINTER_HEAD = b"\x00\x01\x02\x00"
_BASE_HEAD = b"\x00\x01\x00\x01\x00\x00\x00"


def open_object(frame: Frame, blob: Blob) -> tuple[Reader, str, int]:
    """A reader past the preamble IceTray writes before every frame object (the polymorphic
    pointer's class name and class version, then the ``I3FrameObject`` base), with the class
    name and version."""
    r = Reader(blob.data, f"{frame.name} / {blob.key}", blob.offset)
    r.expect(_POINTER_HEAD, "the object pointer header")
    cls = r.string(4096)
    r.take(1)  # object tracking flag
    version = r.u32()
    r.expect(_BASE_HEAD, "the I3FrameObject base")
    return r, cls, version


@dataclass(frozen=True)
class EventHeader:
    """What ``I3EventHeader`` says of an event."""

    run_id: int
    sub_run_id: int
    event_id: int
    sub_event_id: int
    sub_event_stream: str
    start_time: datetime
    end_time: datetime


def read_i3time(r: Reader) -> datetime:
    """An ``I3Time``: year and DAQ time (tenths of ns since 1 January of that year, UTC).

    No leap second fell inside a year since 2008 except at year ends, which DAQ time does not
    cross within one event, so adding the DAQ time to 1 January is exact at the µs.
    """
    r.take(6)  # class information and the I3FrameObject base
    r.take(4)
    year = r.i32()
    daq = r.i64()
    if not 2000 <= year <= 2200 or daq < 0:
        raise r.fail(f"implausible I3Time (year {year}, DAQ time {daq})")
    micro = daq // 10_000
    return datetime(year, 1, 1, tzinfo=UTC) + timedelta(microseconds=micro)


def read_event_header(frame: Frame, blob: Blob) -> EventHeader:
    """Decode ``I3EventHeader`` (class version 3)."""
    r, _cls, version = open_object(frame, blob)
    if version != 3:
        raise r.fail(f"I3EventHeader version {version}; only 3 is read")
    run, sub_run, event, _state = r.u32(), r.u32(), r.u32(), r.u32()
    sub_event = r.u32()
    stream = r.string(4096)
    start = read_i3time(r)
    end = _read_second_time(r)
    r.end()
    return EventHeader(run, sub_run, event, sub_event, stream, start, end)


def _read_second_time(r: Reader) -> datetime:
    r.take(8)  # object references of the second I3Time
    year = r.i32()
    daq = r.i64()
    if not 2000 <= year <= 2200 or daq < 0:
        raise r.fail(f"implausible I3Time (year {year}, DAQ time {daq})")
    return datetime(year, 1, 1, tzinfo=UTC) + timedelta(microseconds=daq // 10_000)


def read_double(frame: Frame, blob: Blob) -> float:
    """An ``I3Double``."""
    r, _, _ = open_object(frame, blob)
    value = r.f64()
    r.end()
    return value


def read_string(frame: Frame, blob: Blob) -> str:
    """An ``I3String``."""
    r, _, _ = open_object(frame, blob)
    value = r.string()
    r.end()
    return value


@dataclass(frozen=True)
class Particle:
    """The direction and vertex of an ``I3Particle`` (a reconstruction carried by the message).

    ``zenith``/``azimuth`` [rad] are where the particle comes *from* (IceCube convention);
    ``fit_status`` 0 is OK.
    """

    zenith: float
    azimuth: float
    x: float
    y: float
    z: float
    time: float
    energy: float
    fit_status: int


def read_particle(frame: Frame, blob: Blob) -> Particle:
    """Decode an ``I3Particle`` of class version 5."""
    r, _, version = open_object(frame, blob)
    if version != 5:
        raise r.fail(f"I3Particle version {version}; only 5 is read")
    r.take(12)  # I3ParticleID: major (uint64), minor (int32)
    r.i32()  # PDG encoding
    r.i32()  # shape
    fit_status = r.i32()
    r.take(10)  # I3Position class information and base
    x, y, z = r.f64(), r.f64(), r.f64()
    r.take(10)  # I3Direction class information and base
    zenith, azimuth = r.f64(), r.f64()
    time, energy = r.f64(), r.f64()
    r.f64()  # length
    r.f64()  # speed
    r.u32()  # location type
    r.end()
    if not (math.isfinite(zenith) and math.isfinite(azimuth)) and fit_status == 0:
        raise r.fail("a successful fit without a finite direction")
    return Particle(zenith, azimuth, x, y, z, time, energy, fit_status)
