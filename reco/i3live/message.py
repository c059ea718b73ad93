"""One call from an I3Live message to nufair's reco Event.

Examples
--------
>>> from reco.i3live import decode_message
>>> decoded = decode_message(message)  # doctest: +SKIP
>>> decoded.to_event().n_pulses  # doctest: +SKIP
888
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from reco.detector import Detector, load_ic86
from reco.event import Event
from reco.i3live.binary import I3DecodeError
from reco.i3live.cleaning import clean
from reco.i3live.container import Blob, Frame, read_frames
from reco.i3live.mask import Mask, decode_mask
from reco.i3live.objects import (
    EventHeader,
    Particle,
    open_object,
    read_double,
    read_event_header,
    read_particle,
    read_string,
)
from reco.i3live.superdst import PulseMap, decode_superdst

#: The pulse series reco fits, best first (the split, uncleaned in-ice pulses).
SERIES_PREFERENCE = ("SplitInIcePulses", "SplitUncleanedInIcePulses", "InIceDSTPulses")
#: What cannot be decoded exactly from a message alone, said in every result.
APPROXIMATIONS = (
    "geometry: the GCD frames carry only diffs against a baseline GCD file "
    "(I3GeometryDiff/I3CalibrationDiff/I3DetectorStatusDiff) that the message does not hold; "
    "sensor positions are nufair's IC86 table (reco.detector), calibration is not re-applied",
    "pulses: SuperDST discretisation as IceTray unpacks it (times to 1 ns, in-ice charges to "
    "0.05 PE decoded at the bin centre, widths as powers of 2)",
    "time: the event time is the I3EventHeader start time truncated to the microsecond",
)


@dataclass(frozen=True)
class DecodedMessage:
    """What an I3Live message holds, decoded.

    Attributes
    ----------
    header : EventHeader
        Run, event, sub-event and times of the physics frame.
    series : dict of str to PulseMap
        Every pulse series of the message (the SuperDST and each mask applied).
    series_name : str
        The series the event is built from (first of :data:`SERIES_PREFERENCE` present).
    cleaned : PulseMap
        That series after IceCube's online RT + time-window cleaning (reco.i3live.cleaning),
        the pulses the message's ``npulses``/``nch``/``qtot`` describe.
    recos : dict of str to Particle
        The reconstructions carried in the physics frame (``*SplineMPE``, ``*BestFit``...).
    values : dict of str to float
        The ``I3Double`` values of the physics frame.
    summary : dict
        The message's own summary (``npulses``, ``nch``, ``qtot``, ``reco``...), when present.
    unread : tuple of str
        Optional objects (reconstructions, values) of a layout not read here, with why.
    approximations : tuple of str
        What could not be decoded exactly.
    """

    header: EventHeader
    series: dict[str, PulseMap]
    series_name: str
    cleaned: PulseMap
    recos: dict[str, Particle]
    values: dict[str, float]
    summary: dict[str, Any] = field(default_factory=dict)
    unread: tuple[str, ...] = ()
    approximations: tuple[str, ...] = APPROXIMATIONS

    def to_event(self, cleaned: bool = True, detector: Detector | None = None) -> Event:
        """The reco Event (in-ice pulses only: string 1–86, DOM 1–60), cleaned by default."""
        pm = self.cleaned if cleaned else self.series[self.series_name]
        det = detector or _ic86()
        inice = (pm.om >= 1) & (pm.om <= 60) & (pm.string >= 1) & (pm.string <= 86)
        sensor = 60 * (pm.string[inice] - 1) + (pm.om[inice] - 1)
        if det.n_sensors != 5160:
            raise ValueError("I3Live events need the IC86 detector")
        order = np.argsort(pm.time[inice], kind="stable")
        return Event(observatory="IceCube", run_id=self.header.run_id,
                     event_id=self.header.event_id, time=self.header.start_time,
                     sensor=sensor[order].astype(np.int64),
                     pulse_time=pm.time[inice][order], charge=pm.charge[inice][order])


def is_i3live_message(body: Any) -> bool:
    """True if ``body`` (decoded JSON) looks like an I3Live message with frames."""
    if not isinstance(body, dict):
        return False
    value = body.get("value", body)
    data = value.get("data") if isinstance(value, dict) else None
    if isinstance(data, dict):
        data = data.get("frames")
    return isinstance(data, list) and bool(data) and isinstance(data[0], list)


def _resolve(masks: dict[str, Mask], series: dict[str, PulseMap], key: str,
             depth: int = 0) -> PulseMap:
    if key in series:
        return series[key]
    if key not in masks or depth > 16:
        raise I3DecodeError(f"mask chain at {key!r}", 0, "source series missing from the frames")
    mask = masks[key]
    try:
        series[key] = mask.apply(_resolve(masks, series, mask.source, depth + 1))
    except ValueError as exc:
        raise I3DecodeError(mask.where, 0, str(exc)) from None
    return series[key]


@dataclass
class _Found:
    """The objects of the physics frames, by kind, as they are read."""

    header: EventHeader | None = None
    series: dict[str, PulseMap] = field(default_factory=dict)
    masks: dict[str, Mask] = field(default_factory=dict)
    recos: dict[str, Particle] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)

    def add(self, frame: Frame, blob: Blob) -> None:
        """Decode ``blob`` if it is of a kind used here. Pulses, masks and the header must
        decode; a reconstruction or value of another layout is listed in ``unread``."""
        try:
            self._add(frame, blob)
        except I3DecodeError as exc:
            if blob.type_name not in ("I3Particle", "I3PODHolder<double>", "I3String",
                                      "I3PODHolder<__cxx11::string >"):
                raise
            self.unread.append(f"{blob.key}: {exc.reason}")

    def _add(self, frame: Frame, blob: Blob) -> None:
        key, kind = blob.key, blob.type_name
        if kind == "I3SuperDST":
            r, _, version = open_object(frame, blob)
            if version != 1:
                raise r.fail(f"I3SuperDST version {version}; only 1 is read")
            self.series[key] = decode_superdst(r)
        elif kind == "I3RecoPulseSeriesMapMask":
            r, _, version = open_object(frame, blob)
            self.masks[key] = decode_mask(r, version)
        elif kind == "I3EventHeader":
            self.header = read_event_header(frame, blob)
        elif kind == "I3Particle":
            self.recos[key] = read_particle(frame, blob)
        elif kind == "I3PODHolder<double>":
            self.values[key] = read_double(frame, blob)
        elif key == "AlertShortFollowupMsg":
            self.summary = _summary(read_string(frame, blob))


def _physics(frames: list[Frame]) -> tuple[Frame, Frame]:
    qs = [f for f in frames if f.stop == "Q"]
    ps = [f for f in frames if f.stop == "P"]
    if not qs:
        raise I3DecodeError("message", 0, "no DAQ (Q) frame")
    return qs[-1], (ps[-1] if ps else qs[-1])


def decode_message(message: dict[str, Any] | bytes | str) -> DecodedMessage:
    """Decode an I3Live message (decoded JSON, or its JSON text).

    Raises
    ------
    I3DecodeError
        A frame or object that cannot be read; ``frame`` and ``offset`` say where.
    """
    if isinstance(message, (bytes, str)):
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise I3DecodeError("message", 0, f"not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise I3DecodeError("message", 0, "not a JSON object")
    q, p = _physics(read_frames(message))
    found = _Found()
    for frame in (q, p) if p is not q else (q,):
        for blob in frame.objects.values():
            found.add(frame, blob)
    header, series, masks, summary = found.header, found.series, found.masks, found.summary
    if header is None:
        raise I3DecodeError(p.name, 0, "no I3EventHeader")
    for key in masks:
        _resolve(masks, series, key)
    name = next((s for s in SERIES_PREFERENCE if s in series), None)
    if name is None:
        raise I3DecodeError(p.name, 0, f"none of the pulse series {SERIES_PREFERENCE}")
    if not summary:
        summary = _summary_from(message)
    return DecodedMessage(header, series, name, _clean(series[name]), found.recos, found.values,
                          summary, tuple(found.unread))


@cache
def _ic86() -> Detector:
    return load_ic86()


def _clean(pm: PulseMap) -> PulseMap:
    inice = (pm.om >= 1) & (pm.om <= 60) & (pm.string >= 1) & (pm.string <= 86)
    keep = np.zeros(len(pm.time), dtype=bool)
    sensor = 60 * (pm.string[inice] - 1) + (pm.om[inice] - 1)
    keep[inice] = clean(sensor, pm.time[inice], _ic86())
    return pm.select(keep)


def _summary(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _summary_from(message: dict[str, Any]) -> dict[str, Any]:
    value = message.get("value", {})
    data = value.get("data") if isinstance(value, dict) else None
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k != "frames"}
    return {}
