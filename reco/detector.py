"""The detector: sensor positions and identifiers.

IceCube coordinates: x towards grid east, y towards grid north (along the Greenwich meridian),
z up, origin near the centre of the in-ice array, metres.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

PROMETHEUS_Z_OFFSET_M = 1948.07
"""Metres to add to Prometheus z values to obtain IceCube z (see reco/data/SOURCES.md)."""


@dataclass(frozen=True)
class Detector:
    """An array of optical sensors.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"IC86"``.
    positions : ndarray, shape (n, 3)
        Sensor positions [m] in detector coordinates.
    string : ndarray of int, shape (n,)
        String (cable) number of each sensor, 1-based.
    dom : ndarray of int, shape (n,)
        Position of the sensor on its string, 1 = top.
    """

    name: str
    positions: NDArray[np.float64]
    string: NDArray[np.int64]
    dom: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.positions)
        if self.positions.shape != (n, 3) or self.string.shape != (n,) or self.dom.shape != (n,):
            raise ValueError("positions must be (n, 3) and string, dom (n,)")

    @property
    def n_sensors(self) -> int:
        """Number of sensors."""
        return len(self.positions)

    @property
    def ids(self) -> NDArray[np.int64]:
        """Sensor ids: the row index into :attr:`positions`."""
        return np.arange(self.n_sensors)

    @property
    def centre(self) -> NDArray[np.float64]:
        """Mean sensor position [m]."""
        return np.asarray(self.positions.mean(axis=0))


def load_ic86() -> Detector:
    """Return the 86-string IceCube array: 5160 in-ice sensors.

    Positions come from the GraphNeT copy of the Prometheus IC86 table, whose z is shifted by
    :data:`PROMETHEUS_Z_OFFSET_M`; we shift it back so that z is IceCube's. Sensors are in the
    table's order (string-major, top to bottom), so the sensor id is ``60 * (string - 1) +
    (dom - 1)``.

    Examples
    --------
    >>> det = load_ic86()
    >>> det.n_sensors, int(det.string.max())
    (5160, 86)
    """
    path = resources.files("reco").joinpath("data/icecube86_prometheus_sensor_geometry.csv")
    with path.open("r", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    positions = np.array(
        [
            [float(r["sensor_pos_x"]), float(r["sensor_pos_y"]), float(r["sensor_pos_z"])]
            for r in rows
        ]
    )
    positions[:, 2] += PROMETHEUS_Z_OFFSET_M
    string = np.array([round(float(r["sensor_string_id"])) for r in rows], dtype=np.int64)
    dom = np.empty_like(string)
    for s in np.unique(string):
        members = np.flatnonzero(string == s)
        dom[members] = np.arange(1, len(members) + 1)
    return Detector("IC86", positions, string, dom)
