"""reco.i3live: the two bundled I3Live messages decode, agree with what the messages say of
themselves, and broken frames are refused with the frame and the offset."""

from __future__ import annotations

import base64
import copy
import json
import struct
import zlib
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np
import pytest

from reco.i3live import I3DecodeError, decode_message, is_i3live_message
from reco.i3live.container import unwrap

DATA = resources.files("tests.data.reco").joinpath("i3live")
ALERT = "run00138632.evt000031747601_realtimeEventData.json"
HESE = "event_HESE_2017-11-28.json"


def load(name: str) -> dict[str, Any]:
    """The message as its JSON says it."""
    data: dict[str, Any] = json.loads(DATA.joinpath(name).read_text("utf-8"))
    return data


def frames_of(message: dict[str, Any]) -> list[list[str]]:
    data = message["value"]["data"]
    out: list[list[str]] = data["frames"] if isinstance(data, dict) else data
    return out


def test_231202a_agrees_with_the_message_summary() -> None:
    message = load(ALERT)
    summary = message["value"]["data"]
    decoded = decode_message(message)
    assert (decoded.header.run_id, decoded.header.event_id) == (summary["run_id"],
                                                                summary["event_id"])
    event = decoded.to_event()
    # The summary's npulses / nch / qtot describe SplitInIcePulses after online cleaning.
    assert decoded.series_name == "SplitInIcePulses"
    assert event.n_pulses == summary["npulses"] == 888
    assert event.n_sensors_hit == summary["nch"] == 175
    # SuperDST keeps in-ice charges to 0.05 PE (decoded at the bin centre): 0.1 % here.
    assert event.charge.sum() == pytest.approx(summary["qtot"], rel=1e-3)
    expected_time = datetime.fromisoformat(summary["eventtime"]).replace(tzinfo=UTC)
    assert event.time == expected_time
    spline = decoded.recos["l2_online_SplineMPE"]
    assert spline.zenith == pytest.approx(summary["reco"]["splinempe"]["zen"], abs=1e-5)
    assert spline.azimuth == pytest.approx(summary["reco"]["splinempe"]["azi"], abs=1e-5)
    best = decoded.recos["l2_online_BestFit"]
    assert best.zenith == pytest.approx(summary["reco"]["l2_online_bestfit"]["zen"], abs=1e-4)


def test_231202a_pulses_lie_in_the_frames_own_time_window() -> None:
    message = load(ALERT)
    decoded = decode_message(message)
    # Independent re-parse: the P frame's SplitInIcePulsesTimeRange, an I3TimeWindow whose
    # last 16 bytes are its start and stop [ns].
    frame = unwrap(4, "P", frames_of(message)[4][1])
    at = frame.index(b"SplitInIcePulsesTimeRange")
    size = struct.unpack_from("<I", frame, at + 25 + 4 + len("I3TimeWindow"))[0]
    blob_end = at + 25 + 4 + len("I3TimeWindow") + 4 + size
    start, stop = struct.unpack("<dd", frame[blob_end - 16:blob_end])
    split = decoded.series["SplitInIcePulses"]
    assert split.time.min() >= start and split.time.max() <= stop
    assert np.all(split.om <= 60)  # in-ice only
    full = decoded.series["I3SuperDST"]
    assert np.any(full.om > 60)  # ... while the SuperDST also holds IceTop
    assert len(split.time) < len(decoded.series["I3SuperDST"].time)
    # Each DOM's pulses are time ordered and their widths do not overlap the next pulse.
    for a, b in zip(split.starts[:-1], split.starts[1:], strict=True):
        t, w = split.time[a:b], split.width[a:b]
        assert np.all(np.diff(t) >= 0) and np.all(t[:-1] + w[:-1] <= t[1:] + 1e-6)


def test_hese_message_decodes() -> None:
    message = load(HESE)
    assert is_i3live_message(message)
    decoded = decode_message(message)
    assert decoded.series_name == "SplitUncleanedInIcePulses"
    assert decoded.header.run_id == 130322
    sent = datetime.fromisoformat(message["time"]).replace(tzinfo=UTC)
    assert 0 < (sent - decoded.header.start_time).total_seconds() < 600
    event = decoded.to_event()
    assert event.n_pulses > 2000 and event.n_sensors_hit > 150
    # HESE's causal charge is a subset of the in-ice charge, and above its 6000 PE cut.
    total = decoded.series["SplitUncleanedInIcePulses"].charge.sum()
    assert 6000 < decoded.values["HESE_CausalQTot"] <= total
    assert "HESE_SPEFit2" in decoded.recos and decoded.recos["HESE_SPEFit2"].fit_status == 0
    assert any("baseline" in a for a in decoded.approximations)


def repack(stop: str, frame: bytes) -> str:
    """``frame`` as an I3Live message frame: a pickle holding it, zlib, base64."""
    pickle = (b"\x80\x02cicecube._icetray\nI3Frame\nB" + struct.pack("<I", len(frame))
              + frame + b".")
    return base64.b64encode(zlib.compress(pickle)).decode()


@pytest.mark.parametrize("cut", [40, 900, 2500])
def test_truncated_frame_is_refused_with_frame_and_offset(cut: int) -> None:
    message = load(ALERT)
    frames = frames_of(message)
    q = unwrap(3, "Q", frames[3][1])
    broken = copy.deepcopy(message)
    frames_of(broken)[3][1] = repack("Q", q[:cut])
    with pytest.raises(I3DecodeError) as err:
        decode_message(broken)
    assert err.value.frame.startswith("frame 3 (Q)")
    assert 0 < err.value.offset <= cut
    assert f"byte {err.value.offset}" in str(err.value)


def test_corrupt_superdst_is_refused() -> None:
    message = load(ALERT)
    q = bytearray(unwrap(3, "Q", frames_of(message)[3][1]))
    at = q.index(b"I3SuperDST\x01\x01\x00\x00\x00") + 10 + 12 + 4
    q[at:at + 3] = b"\xfd\xff\x7f"  # the charge-stamp count now exceeds the blob
    broken = copy.deepcopy(message)
    frames_of(broken)[3][1] = repack("Q", bytes(q))
    with pytest.raises(I3DecodeError, match=r"frame 3 \(Q\) / I3SuperDST: truncated"):
        decode_message(broken)


@pytest.mark.parametrize(("text", "reason"), [
    ("not base64!", "base64"),
    (base64.b64encode(b"plain bytes").decode(), "zlib"),
    (base64.b64encode(zlib.compress(b"\x80\x02cos\nsystem\n.")).decode(), "not an I3Frame"),
])
def test_bad_wrapping_is_refused(text: str, reason: str) -> None:
    broken = copy.deepcopy(load(ALERT))
    frames_of(broken)[4][1] = text
    with pytest.raises(I3DecodeError, match=reason) as err:
        decode_message(broken)
    assert err.value.frame == "frame 4 (P)"


def test_not_a_message() -> None:
    assert not is_i3live_message({"observatory": "IceCube"})
    with pytest.raises(I3DecodeError, match="no frames"):
        decode_message({"value": {"data": {}}})


def test_unknown_reco_layout_is_listed_not_fatal() -> None:
    message = load(ALERT)
    p = bytearray(unwrap(4, "P", frames_of(message)[4][1]))
    at = p.index(b"I3Particle\x01\x05\x00\x00\x00", p.index(b"l2_online_SplineMPE\n"))
    p[at + 11] = 9  # class version 9 of I3Particle: not a layout we read
    changed = copy.deepcopy(message)
    frames_of(changed)[4][1] = repack("P", bytes(p))
    decoded = decode_message(changed)
    assert "l2_online_SplineMPE" not in decoded.recos and "l2_online_BestFit" in decoded.recos
    assert any(u.startswith("l2_online_SplineMPE: I3Particle version 9") for u in decoded.unread)
    assert decoded.to_event().n_pulses == 888
