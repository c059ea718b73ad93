"""The cascade scan end to end on nufair's own simulated shower, and the choice of hypothesis."""

from __future__ import annotations

import numpy as np
import pytest

from reco.cascade import choose_hypothesis, resolve_hypothesis
from reco.cascade.simulate import simulate_cascade
from reco.coords import angular_distance
from reco.detector import Detector
from reco.scan import ScanConfig, run_scan
from reco.simulate import SimulatedEvent


@pytest.fixture(scope="module")
def shower(detector: Detector) -> SimulatedEvent:
    """A contained 100 TeV shower (a few thousand pulses)."""
    return simulate_cascade(np.random.default_rng(5), detector, 100.0,
                            vertex=(50.0, -30.0, -100.0))


def test_choice_of_hypothesis(detector: Detector, shower: SimulatedEvent,
                              small_track: SimulatedEvent) -> None:
    assert choose_hypothesis(shower.event, detector) == "cascade"
    assert choose_hypothesis(small_track.event, detector) == "track"
    # The selection's stream wins over the topology.
    assert choose_hypothesis(small_track.event, detector, stream="cascade") == "cascade"
    assert choose_hypothesis(shower.event, detector, stream="gold") == "track"
    explicit = ScanConfig(hypothesis="track")
    assert resolve_hypothesis(explicit, shower.event, detector) is explicit
    assert resolve_hypothesis(ScanConfig(), shower.event, detector).hypothesis == "cascade"


def test_cascade_scan_finds_the_shower(detector: Detector, shower: SimulatedEvent) -> None:
    result = run_scan(shower.event, detector, ScanConfig())
    truth = shower.truth
    assert result.config["hypothesis"] == "cascade"
    err = float(np.degrees(angular_distance(result.best.ra, result.best.dec,
                                            truth.ra, truth.dec)))
    vertex_err = float(np.linalg.norm(np.array(result.best.vertex) - truth.vertex))
    print(f"direction error {err:.1f} deg, vertex error {vertex_err:.1f} m, "
          f"energy {result.best.energy:.1f} TeV, regions "
          f"{[(r.name, round(r.area_deg2, 1)) for r in result.regions]}")
    # Against the simulation's truth (independent of the fit): a shower's direction to tens of
    # degrees, its vertex to metres, its energy from the total charge to ±30 %.
    assert err < 40.0
    assert vertex_err < 15.0
    assert 0.7 * truth.energy_tev < result.best.energy < 1.3 * truth.energy_tev
    by_name = {r.name: r for r in result.regions}
    r90 = next(r for name, r in by_name.items() if name.endswith("-90"))
    r50 = next(r for name, r in by_name.items() if name.endswith("-50"))
    assert r50.area_deg2 < r90.area_deg2 < 20000.0
    assert r90.contains(result.best.ra, result.best.dec)
    # The levels refine: the finest nside is 64 and fits only part of the sky.
    finest = max(result.levels, key=lambda lv: lv.nside)
    assert finest.nside == 64 and len(finest.pixel) < 49152 // 4
