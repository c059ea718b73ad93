"""The cascade hypothesis: a point-like shower (vertex, time, direction, energy).

===============  ===========================================================================
``model``        the shower's light (angular profile, Pandel delays) and :math:`-\\ln L`
``fit``          vertex fit, full fit, vertex/time profile of fixed directions
``scan``         the HEALPix scan (:func:`run_cascade_scan`) into a :class:`ScanResult`
``hypothesis``   track or cascade: :func:`choose_hypothesis`, :func:`resolve_hypothesis`
``simulate``     toy Monte Carlo of showers from the model
===============  ===========================================================================
"""

from reco.cascade.hypothesis import choose_hypothesis, resolve_hypothesis
from reco.cascade.scan import run_cascade_scan

__all__ = ["choose_hypothesis", "resolve_hypothesis", "run_cascade_scan"]
