"""Events, their JSON form and schema, and the simulation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator

import schemas
from reco.coords import local_to_equatorial
from reco.detector import Detector
from reco.event import Event
from reco.physics import C_VACUUM, DEFAULT_ICE, READOUT_WINDOW_NS, RHO_DELAY
from reco.simulate import SimulatedEvent, simulate_event


def validator() -> Draft202012Validator:
    """A validator of the raw-event JSON Schema (itself checked first)."""
    schema = schemas.load("raw_event")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_event_json_round_trip_and_schema(track: SimulatedEvent) -> None:
    """A simulated event's JSON is valid and reads back to the same event."""
    data = json.loads(json.dumps(track.event.to_json()))
    assert not list(validator().iter_errors(data))
    back = Event.from_json(data)
    assert back.time == track.event.time
    assert np.array_equal(back.sensor, track.event.sensor)
    assert np.allclose(back.pulse_time, track.event.pulse_time, atol=1e-3)
    assert back.truth == track.truth


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("pulses"),
        lambda d: d.update(time="2024-05-01T12:00:00"),  # no offset: naive time
        lambda d: d["pulses"].update(charge=[-1.0] * len(d["pulses"]["charge"])),
        lambda d: d.update(extra=1),
    ],
)
def test_schema_rejects_bad_events(
    track: SimulatedEvent, mutate: Callable[[dict[str, Any]], None]
) -> None:
    """The schema refuses an event without pulses, with a naive time, negative charges
    or an unknown field."""
    data = track.event.to_json()
    mutate(data)
    assert list(validator().iter_errors(data))


def test_unequal_pulse_arrays_are_refused(track: SimulatedEvent) -> None:
    """Pulse arrays of different lengths are refused when the event is read."""
    data = track.event.to_json()
    data["pulses"]["time"] = data["pulses"]["time"][:-1]
    with pytest.raises(ValueError, match="same length"):
        Event.from_json(data)


def test_simulation_is_deterministic_per_seed(detector: Detector) -> None:
    """The same seed gives the same event; another seed another one."""
    a = simulate_event(np.random.default_rng(3), detector, "starting", 50.0)
    b = simulate_event(np.random.default_rng(3), detector, "starting", 50.0)
    c = simulate_event(np.random.default_rng(4), detector, "starting", 50.0)
    assert a.event.to_json() == b.event.to_json()
    assert a.event.to_json() != c.event.to_json()


def test_light_yield_grows_with_energy(detector: Detector) -> None:
    """A hundred times the energy gives about ten times the light (yield ∝ E^0.5)."""
    rng = np.random.default_rng(11)
    kw: dict[str, Any] = {"zenith": 1.2, "azimuth": 0.3}
    n = {
        e: np.mean(
            [
                simulate_event(rng, detector, "throughgoing", e, **kw).event.n_pulses
                for _ in range(8)
            ]
        )
        for e in (10.0, 1000.0)
    }
    # yield ∝ E^0.5: ×10 in light for ×100 in energy (the noise floor adds ~50 pulses).
    assert 6.0 < (n[1000.0] - 50) / (n[10.0] - 50) < 14.0


def test_noise_count_matches_the_dark_rate(detector: Detector) -> None:
    """Same seed with and without noise: the signal draws come first and are identical, so the
    difference in pulse count is the number of noise pulses, Poisson(rate × window × sensors)."""
    counts = []
    for seed in range(20):
        with_noise = simulate_event(np.random.default_rng(seed), detector, "throughgoing", 10.0)
        without = simulate_event(
            np.random.default_rng(seed), detector, "throughgoing", 10.0, noise=False
        )
        counts.append(with_noise.event.n_pulses - without.event.n_pulses)
    expected = 500.0 * READOUT_WINDOW_NS * 1e-9 * detector.n_sensors  # ≈ 51.6
    assert abs(np.mean(counts) - expected) < 4 * np.sqrt(expected / len(counts))
    assert np.var(counts) == pytest.approx(expected, rel=0.7)


def test_time_residuals_follow_the_pandel_mean(detector: Detector) -> None:
    """Noise-free pulses, residuals w.r.t. the true track: Pandel mean k/β plus zero jitter."""
    rng = np.random.default_rng(13)
    sim = simulate_event(rng, detector, "throughgoing", 300.0, noise=False)
    tr = sim.truth
    ev = sim.event
    travel = -np.array(
        [
            np.sin(tr.zenith) * np.cos(tr.azimuth),
            np.sin(tr.zenith) * np.sin(tr.azimuth),
            np.cos(tr.zenith),
        ]
    )
    rel = detector.positions[ev.sensor] - np.array(tr.vertex)
    along = rel @ travel
    rho = np.linalg.norm(rel - np.outer(along, travel), axis=1)
    resid = ev.pulse_time - (tr.time_ns + along / C_VACUUM + RHO_DELAY * rho)
    k = rho * DEFAULT_ICE.shape_per_rho
    near = rho < 60
    expected = np.mean(k[near] / DEFAULT_ICE.beta)
    assert abs(np.mean(resid[near]) - expected) < 0.1 * expected
    assert resid.min() > -6 * DEFAULT_ICE.jitter_ns


def test_truth_equatorial_matches_coords(track: SimulatedEvent) -> None:
    """The truth's RA/Dec is its zenith/azimuth through reco.coords at the event time."""
    tr = track.truth
    ra, dec = local_to_equatorial(tr.zenith, tr.azimuth, track.event.time)
    assert np.isclose(ra, tr.ra) and np.isclose(dec, tr.dec)
