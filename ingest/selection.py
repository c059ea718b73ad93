"""Selection of a raw event: first-guess direction, energy, signalness, stream and FAR.

The estimators are reco's (:mod:`reco.estimators`): the energy proxy of the first-guess track
(:func:`reco.estimators.track_energy`), the logistic signalness of that energy, and the
stream rule of :func:`reco.estimators.classify` (Gold / Bronze tracks by signalness, Cascade
by energy, otherwise not an alert). One further number is this module's: the false-alarm
rate, :func:`far_per_year`. The first-guess error circle published with the initial notice
(until the scan's contours replace it in the update) is reco's calibrated paraboloid circle,
:func:`reco.firstguess.error_radii`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reco.detector import Detector
from reco.estimators import classify, is_track_like, track_energy
from reco.event import Event
from reco.firstguess import FirstGuess, clean_hits, error_radii, first_guess
from reco.likelihood import frames, prepare

FAR_AT_ZERO_SIGNALNESS = 100.0
"""False alarms per year of events at the bottom of the selection (signalness → 0)."""

FAR_DECADES = 3.0
"""Decades the false-alarm rate falls from signalness 0 to 1."""


def far_per_year(signalness: float) -> float:
    """Rate [1/yr] of background events at least as signal-like: a log-linear model,
    ``100 × 10^(−3 s)`` (100/yr at s = 0, 3.2/yr at Gold's 0.5, 0.1/yr at 1).

    Examples
    --------
    >>> round(far_per_year(0.5), 2)
    3.16
    """
    return float(FAR_AT_ZERO_SIGNALNESS * 10.0 ** (-FAR_DECADES * signalness))


@dataclass(frozen=True, slots=True)
class Selection:
    """What the selection concluded about one event.

    ``ra_deg``/``dec_deg`` are the first-guess direction; ``stream`` is ``none`` for an
    event that is archived but not published.
    """

    stream: str
    ra_deg: float
    dec_deg: float
    energy_tev: float
    signalness: float
    far_per_year: float
    track_like: bool
    first_guess_s: float
    r50_deg: float
    r90_deg: float

    def to_json(self) -> dict[str, float | str | bool]:
        """The selection as a JSON object, stored with the raw event and the first revision."""
        return {"stream": self.stream, "ra_deg": self.ra_deg, "dec_deg": self.dec_deg,
                "energy_tev": self.energy_tev, "signalness": self.signalness,
                "far_per_year": self.far_per_year, "track_like": self.track_like,
                "first_guess_s": self.first_guess_s, "r50_deg": self.r50_deg,
                "r90_deg": self.r90_deg}


def select_event(event: Event, detector: Detector) -> Selection:
    """First guess, energy proxy, signalness and stream of ``event``."""
    prep = prepare(event, detector)
    fg: FirstGuess = first_guess(event, detector, prep)
    fr = frames(np.array([fg.zenith]), np.array([fg.azimuth]))
    # track_energy wants the fit's nuisance parameters; its transverse offsets (u, w) are
    # the first-guess track point in the frame's tangent basis around the charge centre.
    rel = np.asarray(fg.vertex) - prep.centre
    theta = np.array([[float(fr.e1[0] @ rel), float(fr.e2[0] @ rel), fg.time]])
    energy = float(track_energy(prep, fr, theta)[0])
    pos, _ = clean_hits(event, detector)
    c = classify(energy, is_track_like(pos))
    r50, r90 = error_radii(fg.sigma_deg)
    return Selection(stream=c.stream, ra_deg=float(np.degrees(fg.ra)) % 360.0,
                     dec_deg=float(np.degrees(fg.dec)), energy_tev=c.energy_tev,
                     signalness=c.signalness, far_per_year=far_per_year(c.signalness),
                     track_like=c.track_like, first_guess_s=fg.elapsed,
                     r50_deg=r50, r90_deg=r90)
