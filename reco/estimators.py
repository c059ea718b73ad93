"""Small event-level estimators: an energy proxy, a signalness estimate and the alert stream.

These are deliberately simple, documented formulas (not IceCube's trained estimators) so that
the ingest layer has a well-defined selection to work with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from reco.likelihood import FloatArray, Frames, PreparedEvent
from reco.physics import DARK_RATE_HZ, READOUT_WINDOW_NS

Stream = Literal["gold", "bronze", "cascade", "none"]

GOLD_SIGNALNESS = 0.5
"""Signalness at or above which a track is a Gold alert (IceCube's Gold selection averages 50 %)."""
BRONZE_SIGNALNESS = 0.3
"""Signalness at or above which a track is a Bronze alert (IceCube's Bronze averages 30 %)."""
CASCADE_MIN_ENERGY_TEV = 60.0
"""Minimum energy proxy [TeV] of a cascade-like event to be a Cascade alert."""
SIGNALNESS_PIVOT_TEV = 150.0
"""Energy proxy [TeV] at which the signalness estimate is 50 %."""
SIGNALNESS_WIDTH_DEX = 0.35
"""Width [decades] of the logistic signalness turn-on."""
TRACK_ELONGATION = 2.0
"""Minimum ratio of the largest to the middle spread of hit positions for a track-like event."""


def track_energy(prep: PreparedEvent, fr: Frames, theta: FloatArray) -> FloatArray:
    """Energy proxy [TeV] of each fitted track hypothesis.

    With the light-yield model of :mod:`reco.physics`, the expected charge summed over all
    sensors scales as :math:`(E/100\\,\\mathrm{TeV})^\\gamma M`, with :math:`M` the sum of
    :math:`\\mu_j(\\rho_j, 100\\,\\mathrm{TeV})` over sensors. Equating it to the observed charge
    minus the expected dark-noise charge gives

    .. math:: E = 100\\,\\mathrm{TeV}\\,\\left(\\frac{Q - Q_\\mathrm{noise}}{M}\\right)^{1/\\gamma}.

    ``fr`` holds ``p`` directions and ``theta`` (p, 3) their fitted nuisance parameters.
    """
    ice = prep.ice
    rel_u = fr.e1 @ prep.sensors_rel.T - theta[:, 0:1]
    rel_w = fr.e2 @ prep.sensors_rel.T - theta[:, 1:2]
    rho = np.sqrt(rel_u**2 + rel_w**2)
    expected = ice.light_yield(rho, 100.0).sum(axis=1)
    noise = DARK_RATE_HZ * 1e-9 * READOUT_WINDOW_NS * len(prep.sensors_rel)
    observed = max(float(prep.charge.sum()) - noise, 1.0)
    return np.asarray(100.0 * (observed / np.maximum(expected, 1e-9)) ** (1.0 / ice.yield_index))


def signalness(energy_tev: float) -> float:
    """Probability-like estimate that a track is astrophysical, from its energy proxy.

    A logistic in :math:`\\log_{10} E`, 50 % at :data:`SIGNALNESS_PIVOT_TEV`, rising over
    :data:`SIGNALNESS_WIDTH_DEX` decades — the shape of IceCube's published signalness versus
    energy for the Gold/Bronze streams, not a calibrated astrophysical fraction:

    .. math:: s(E) = \\left[1 + \\exp\\left(-\\frac{\\log_{10}(E/E_p)}{w}\\right)\\right]^{-1}.

    Examples
    --------
    >>> round(signalness(SIGNALNESS_PIVOT_TEV), 2)
    0.5
    """
    x = np.log10(max(energy_tev, 1e-6) / SIGNALNESS_PIVOT_TEV) / SIGNALNESS_WIDTH_DEX
    return float(1.0 / (1.0 + np.exp(-x)))


@dataclass(frozen=True)
class Classification:
    """Stream assignment of an event.

    Attributes
    ----------
    stream : {"gold", "bronze", "cascade", "none"}
    signalness : float
    energy_tev : float
    track_like : bool
    """

    stream: Stream
    signalness: float
    energy_tev: float
    track_like: bool


def is_track_like(positions: FloatArray) -> bool:
    """True when hit positions (n, 3) are elongated: the ratio of the largest to the middle
    standard deviation along principal axes is at least :data:`TRACK_ELONGATION`."""
    if len(positions) < 4:
        return False
    sv = np.sort(np.linalg.svd(positions - positions.mean(axis=0), compute_uv=False))[::-1]
    return bool(sv[0] >= TRACK_ELONGATION * max(sv[1], 1e-9))


def classify(energy_tev: float, track_like: bool) -> Classification:
    """Assign the alert stream.

    Tracks: Gold if signalness ≥ :data:`GOLD_SIGNALNESS`, Bronze if ≥
    :data:`BRONZE_SIGNALNESS`. Cascade-like events: Cascade if the energy proxy is at least
    :data:`CASCADE_MIN_ENERGY_TEV`. Otherwise ``"none"``.

    Examples
    --------
    >>> classify(1000.0, True).stream, classify(20.0, True).stream, classify(100.0, False).stream
    ('gold', 'none', 'cascade')
    """
    s = signalness(energy_tev)
    stream: Stream
    if track_like:
        stream = "gold" if s >= GOLD_SIGNALNESS else "bronze" if s >= BRONZE_SIGNALNESS else "none"
    else:
        stream = "cascade" if energy_tev >= CASCADE_MIN_ENERGY_TEV else "none"
    return Classification(stream, s, float(energy_tev), track_like)
