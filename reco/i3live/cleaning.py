"""The pulse cleaning IceCube's online reconstructions (and the message's summary) use.

``npulses``/``nch``/``qtot`` of a ``realtimeEventData`` message describe ``SplitInIcePulses``
after classic RT cleaning (a pulse is kept if a pulse on another DOM lies within
:data:`RT_RADIUS_M` and :data:`RT_TIME_NS`) and inside the :data:`TIME_WINDOW_NS` time window
holding the most pulses, both judged on the uncleaned series. For IceCube-231202A this
gives 888 pulses on 175 DOMs, as the message says.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from reco.detector import Detector

#: RT cleaning radius [m].
RT_RADIUS_M = 150.0
#: RT cleaning time [ns].
RT_TIME_NS = 1000.0
#: Width of the time window kept after RT cleaning [ns].
TIME_WINDOW_NS = 6000.0


def rt_keep(sensor: NDArray[np.int64], time: NDArray[np.float64],
            detector: Detector) -> NDArray[np.bool_]:
    """Pulses with a pulse on another sensor within RT_RADIUS_M and RT_TIME_NS.

    For each pulse and each hit sensor near its own, the closest-in-time pulse there is found
    by one ``searchsorted`` on (sensor, time) keys, so the cost grows as pulses × neighbours.
    """
    if len(time) == 0:
        return np.zeros(0, dtype=bool)
    doms, dom = np.unique(sensor, return_inverse=True)
    pos = detector.positions[doms]
    near = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(axis=-1) <= RT_RADIUS_M**2
    np.fill_diagonal(near, False)
    span = float(time.max() - time.min()) + 4 * RT_TIME_NS
    t = time - time.min() + RT_TIME_NS
    keys = dom * span + t  # sorted by sensor, then time
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    sorted_dom = dom[order]
    pulse, other = np.nonzero(near[dom])  # (pulse, neighbouring hit sensor) pairs
    probe = other * span + t[pulse]
    j = np.searchsorted(sorted_keys, probe)
    after = np.minimum(j, len(t) - 1)
    before = np.maximum(j - 1, 0)
    # the pulses just after and just before the probe, if they are on the neighbour
    close = ((sorted_dom[after] == other) & (sorted_keys[after] - probe <= RT_TIME_NS)) | (
        (sorted_dom[before] == other) & (probe - sorted_keys[before] <= RT_TIME_NS))
    keep = np.zeros(len(time), dtype=bool)
    keep[pulse[close]] = True
    return keep


def window_keep(time: NDArray[np.float64], candidates: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Among ``candidates``, those in the TIME_WINDOW_NS window that holds the most of them
    (the earliest such window)."""
    t = np.sort(time[candidates])
    if t.size == 0:
        return candidates.copy()
    ends = np.searchsorted(t, t + TIME_WINDOW_NS, side="left")
    start = t[int(np.argmax(ends - np.arange(t.size)))]
    kept: NDArray[np.bool_] = candidates & (time >= start) & (time < start + TIME_WINDOW_NS)
    return kept


def clean(sensor: NDArray[np.int64], time: NDArray[np.float64],
          detector: Detector) -> NDArray[np.bool_]:
    """RT cleaning and the time window, both judged on all pulses: the mask of pulses kept."""
    keep: NDArray[np.bool_] = rt_keep(sensor, time, detector) & window_keep(
        time, np.ones(len(time), dtype=bool))
    return keep
