"""The cascade hypothesis: a point-like shower (vertex, time, direction, energy).

===============  ===========================================================================
``model``        the shower's light (angular profile, Pandel delays) and :math:`-\\ln L`
``fit``          vertex fit, full fit, vertex/time profile of fixed directions
``scan``         the HEALPix scan (:func:`run_cascade_scan`) into a :class:`ScanResult`
``hypothesis``   track or cascade: :func:`choose_hypothesis`, :func:`resolve_hypothesis`
``simulate``     toy Monte Carlo of showers from the model
===============  ===========================================================================
"""

from typing import TYPE_CHECKING, Any

from reco.cascade.hypothesis import choose_hypothesis, resolve_hypothesis

if TYPE_CHECKING:
    from reco.cascade.scan import run_cascade_scan

__all__ = ["choose_hypothesis", "resolve_hypothesis", "run_cascade_scan"]


def __getattr__(name: str) -> Any:
    """:func:`run_cascade_scan`, imported on first use: its fits import ``scipy.optimize``
    and ``scipy.special``, which a track's scan (and a track-or-cascade choice) never needs."""
    if name == "run_cascade_scan":
        from reco.cascade.scan import run_cascade_scan

        return run_cascade_scan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
