"""A neutrino event: a header and the pulses recorded on the detector's sensors.

The JSON form (``Event.to_json`` / ``Event.from_json``) is described by
``schemas/raw_event.schema.json``; pulses are stored as parallel arrays, not as a list of
objects, so that a 1000-pulse event stays compact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Truth:
    """What a simulation put into an event.

    Attributes
    ----------
    kind : str
        ``"throughgoing"`` or ``"starting"``.
    zenith, azimuth : float
        Direction the neutrino came *from*, detector frame (IceCube convention), radians.
    ra, dec : float
        The same direction in ICRS at the event time, radians.
    energy_tev : float
        Muon energy [TeV].
    vertex : tuple of float
        A point on the track [m]: the interaction vertex for starting tracks, the point of closest
        approach to the detector centre for through-going ones.
    time_ns : float
        Time [ns] at which the muon is at ``vertex``.
    """

    kind: str
    zenith: float
    azimuth: float
    ra: float
    dec: float
    energy_tev: float
    vertex: tuple[float, float, float]
    time_ns: float

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form (angles in degrees)."""
        return {
            "kind": self.kind,
            "zenith_deg": float(np.degrees(self.zenith)),
            "azimuth_deg": float(np.degrees(self.azimuth)),
            "ra_deg": float(np.degrees(self.ra)),
            "dec_deg": float(np.degrees(self.dec)),
            "energy_tev": float(self.energy_tev),
            "vertex_m": [float(v) for v in self.vertex],
            "time_ns": float(self.time_ns),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Truth:
        """Build from the JSON form written by :meth:`to_json`."""
        x, y, z = (float(v) for v in data["vertex_m"])
        return cls(
            kind=str(data["kind"]),
            zenith=float(np.radians(data["zenith_deg"])),
            azimuth=float(np.radians(data["azimuth_deg"])),
            ra=float(np.radians(data["ra_deg"])),
            dec=float(np.radians(data["dec_deg"])),
            energy_tev=float(data["energy_tev"]),
            vertex=(x, y, z),
            time_ns=float(data["time_ns"]),
        )


@dataclass(frozen=True, eq=False)
class Event:
    """A recorded (or simulated) event.

    Attributes
    ----------
    observatory : str
        E.g. ``"IceCube"``.
    run_id, event_id : int
        Identify the event within the observatory.
    time : datetime
        Event time, timezone-aware UTC.
    sensor : ndarray of int, shape (n,)
        Sensor index of each pulse (row of :attr:`reco.detector.Detector.positions`).
    pulse_time : ndarray of float, shape (n,)
        Pulse times [ns] within the readout window.
    charge : ndarray of float, shape (n,)
        Pulse charges [photoelectrons].
    detector : str
        Name of the detector geometry the sensor indices refer to.
    truth : Truth or None
        Simulation truth, when known.
    """

    observatory: str
    run_id: int
    event_id: int
    time: datetime
    sensor: NDArray[np.int64]
    pulse_time: NDArray[np.float64]
    charge: NDArray[np.float64]
    detector: str = "IC86"
    truth: Truth | None = field(default=None)

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Event.time must be timezone-aware")
        n = len(self.sensor)
        if len(self.pulse_time) != n or len(self.charge) != n:
            raise ValueError("sensor, time and charge must have the same length")

    @property
    def n_pulses(self) -> int:
        """Number of pulses."""
        return len(self.sensor)

    @property
    def n_sensors_hit(self) -> int:
        """Number of distinct sensors with at least one pulse."""
        return int(np.unique(self.sensor).size)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form described by ``schemas/raw_event.schema.json``."""
        out: dict[str, Any] = {
            "observatory": self.observatory,
            "run_id": int(self.run_id),
            "event_id": int(self.event_id),
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "detector": self.detector,
            "pulses": {
                "sensor": [int(s) for s in self.sensor],
                "time": [round(float(t), 3) for t in self.pulse_time],
                "charge": [round(float(q), 3) for q in self.charge],
            },
        }
        if self.truth is not None:
            out["truth"] = self.truth.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """Build an event from its JSON form (validate it against the schema first).

        Examples
        --------
        >>> ev = Event.from_json({"observatory": "IceCube", "run_id": 1, "event_id": 2,
        ...     "time": "2024-05-01T12:00:00Z",
        ...     "pulses": {"sensor": [3, 4], "time": [10.0, 12.5], "charge": [1.0, 0.8]}})
        >>> ev.n_pulses, ev.time.year
        (2, 2024)
        """
        pulses = data["pulses"]
        time = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
        if time.tzinfo is None:
            raise ValueError("event time must carry a timezone (use 'Z' for UTC)")
        truth = data.get("truth")
        return cls(
            observatory=str(data["observatory"]),
            run_id=int(data["run_id"]),
            event_id=int(data["event_id"]),
            time=time.astimezone(UTC),
            sensor=np.asarray(pulses["sensor"], dtype=np.int64),
            pulse_time=np.asarray(pulses["time"], dtype=np.float64),
            charge=np.asarray(pulses["charge"], dtype=np.float64),
            detector=str(data.get("detector", "IC86")),
            truth=Truth.from_json(truth) if truth is not None else None,
        )
