"""Decoding an I3Live message without IceTray: milliseconds per message (issue 18, goal < 50).

For each bundled message (``tests/data/reco/i3live``): the JSON parse, then
:func:`reco.i3live.decode_message` (pickled frames → SuperDST, masks, header, online recos,
online cleaning) and ``to_event``, timed ``--repeat`` times after one warm-up; the median is
the figure. Results go to ``bench/results/i3live_decode.json``.

    python -m bench.i3live_decode [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources

from bench.common import machine, median, write_result
from reco.i3live import decode_message, is_i3live_message

GOAL_MS = 50.0


def main() -> None:
    """Time the decoding of each bundled message and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    folder = resources.files("tests.data.reco").joinpath("i3live")
    figures = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        text = entry.read_bytes()
        if not is_i3live_message(json.loads(text)):
            continue  # e.g. skymap_scanner's result beside the messages
        decode_message(json.loads(text)).to_event()  # warm-up: imports, geometry table
        parse_ms, decode_ms = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            message = json.loads(text)
            t1 = time.perf_counter()
            event = decode_message(message).to_event()
            t2 = time.perf_counter()
            parse_ms.append(1e3 * (t1 - t0))
            decode_ms.append(1e3 * (t2 - t1))
        figures[entry.name] = {
            "bytes": len(text), "n_pulses": event.n_pulses,
            "json_parse_ms": median(parse_ms), "decode_ms": median(decode_ms),
            "total_ms": median([a + b for a, b in zip(parse_ms, decode_ms, strict=True)]),
        }
        f = figures[entry.name]
        print(f"{entry.name}: {f['bytes'] / 1e3:.0f} kB, {event.n_pulses} pulses: JSON "
              f"{f['json_parse_ms']:.1f} ms + decode {f['decode_ms']:.1f} ms = "
              f"{f['total_ms']:.1f} ms (goal < {GOAL_MS:g} ms)")
    write_result("i3live_decode", {"machine": machine(), "goal_ms": GOAL_MS,
                                   "repeat": args.repeat, "messages": figures})


if __name__ == "__main__":
    main()
