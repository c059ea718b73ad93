"""Where `nufair scan EVENT` spends its time outside the scan (issue 18).

Two modes:

* ``python -m bench.scan_overhead EVENT_FILE [--nsides 8:0] [--workers 2]``: the CLI's own
  steps one after the other in one fresh process (the command overlaps some of them, and
  draws the PNG in a second process; here everything is in this one), one line per step:
  wall and CPU seconds. The scan line is the part that is not overhead.
* ``python -m bench.scan_overhead EVENT_FILE --runs N [--against DIR]``: the whole command,
  ``python -m nufair.cli scan EVENT_FILE --out TMP --workers 2``, N times in fresh processes;
  wall clock, the scan's own time (``stats.elapsed_s`` of the result JSON: from the start of
  :func:`reco.scan.run_scan` to its regions) and the difference, the time outside the scan.
  With ``--against DIR`` each run is paired with one of the checkout in DIR (its own
  ``PYTHONPATH``), back to back, for an A/B comparison on a shared machine. Medians at the
  end, with the load average before and after. ``--timeline`` prints when each step of each
  run ran, and how many modules the command had imported (scipy's, astropy's, ...).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
C0 = time.process_time()

import argparse  # noqa: E402 (timed from the first line)
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class _Clock:
    def __init__(self) -> None:
        self.last = (T0, C0)
        self.steps: list[tuple[str, float, float]] = []

    def mark(self, what: str) -> None:
        now = (time.perf_counter(), time.process_time())
        wall, cpu = now[0] - self.last[0], now[1] - self.last[1]
        self.steps.append((what, wall, cpu))
        print(f"{what:40s} {wall:7.2f} s wall {cpu:7.2f} s CPU", flush=True)
        self.last = now


def _steps(args: argparse.Namespace) -> int:
    """Each step of a local scan of the event, one after the other, in this process."""
    clock = _Clock()
    from nufair.cli import main as _cli  # noqa: F401 (the import is what is timed)

    clock.mark("import nufair.cli")
    from nufair.settings import load_settings

    load_settings()
    clock.mark("settings")
    from nufair.commands.reco import _read_event
    from nufair.commands.scan_products import write_products

    event = _read_event(args.event_file)
    clock.mark("read and check the event")
    from nufair.commands.reco import _import_without_plotting

    _import_without_plotting()
    from reco.cluster import ThreadClient
    from reco.coords import local_to_equatorial
    from reco.detector import load_ic86
    from reco.firstguess import first_guess
    from reco.scan import run_scan
    from reco.scan_config import ScanConfig

    clock.mark("import the scan")
    det = load_ic86()
    clock.mark("detector")
    local_to_equatorial(1.0, 1.0, datetime.now(UTC))
    clock.mark("first astropy transform")
    fg = first_guess(event, det)
    clock.mark(f"first guess (its own {fg.elapsed:.2f} s)")
    client = ThreadClient(args.workers)
    clock.mark(f"ThreadClient({args.workers})")
    config = ScanConfig(nsides=ScanConfig.parse_nsides(args.nsides))
    result = run_scan(event, det, config, client=client)
    clock.mark(f"scan (first guess again {result.stats.first_guess_s:.2f} s)")
    client.close()
    clock.mark("close the worker threads")
    with tempfile.TemporaryDirectory() as out:
        write_products(result, Path(out), "bench")
        clock.mark("products")
    total = sum(s for _, s, _ in clock.steps)
    scan = next(s for w, s, _ in clock.steps if w.startswith("scan"))
    print(f"total {total:.2f} s, outside the scan {total - scan:.2f} s")
    return 0


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


#: Functions whose calls the child times, by module (either checkout's names).
_TIMED = {
    "nufair.commands.reco": (
        "_read_event",
        "_client",
        "_close",
        "_import_without_plotting",
        "_write_products",
    ),
    "nufair.commands.scan_products": ("write_products", "PngDrawer.wait"),
    "reco.skymap": ("write_flat_fits", "write_multiorder_fits", "plot_skymap"),
    "reco.scan": ("run_scan", "first_guess", "prepare"),
    "reco.detector": ("load_ic86",),
    "reco.regions": ("compute_regions",),
}


class _Recorder:
    """Wraps the functions of :data:`_TIMED` as their modules finish importing, and keeps
    when each call ran: ``[name, thread, start, end, CPU]`` (wall seconds from the process
    start, CPU seconds of the whole process during the call)."""

    def __init__(self) -> None:
        import builtins

        self.spans: list[list[object]] = []
        self.done: set[str] = set()
        self.real_import = builtins.__import__
        builtins.__import__ = self.hook

    def timed(self, name: str, fn: Any) -> Any:
        import functools
        import threading

        @functools.wraps(fn)
        def call(*a: object, **k: object) -> object:
            start = (time.perf_counter() - T0, time.process_time())
            try:
                return fn(*a, **k)
            finally:
                end = (time.perf_counter() - T0, time.process_time())
                thread = threading.current_thread().name
                self.spans.append([name, thread, start[0], end[0], end[1] - start[1]])

        return call

    def patch(self) -> None:
        for module_name, names in _TIMED.items():
            module = sys.modules.get(module_name)
            if module is None or module_name in self.done:
                continue
            if getattr(module.__spec__, "_initializing", False):  # still importing
                continue
            self.done.add(module_name)
            for name in names:
                owner_name, _, attr = name.rpartition(".")
                owner = getattr(module, owner_name) if owner_name else module
                if hasattr(owner, attr):
                    setattr(owner, attr, self.timed(name, getattr(owner, attr)))

    def hook(self, name: str, *a: Any, **k: Any) -> Any:
        module = self.real_import(name, *a, **k)
        if len(self.done) < len(_TIMED):
            self.patch()
        return module


#: Packages whose modules the child counts at its end (``--timeline`` prints them).
_COUNTED = ("scipy", "astropy", "numba", "healpy", "mocpy", "matplotlib", "distributed")


def _module_counts() -> dict[str, int]:
    """Modules imported so far: in all, and of each package of :data:`_COUNTED`."""
    counts = {"all": len(sys.modules)}
    for package in _COUNTED:
        counts[package] = sum(1 for m in sys.modules if m.partition(".")[0] == package)
    return counts


def _child(timing_file: Path, argv: list[str]) -> int:
    """Run ``nufair <argv>`` here as the program runs, recording when the functions of
    :data:`_TIMED` ran and when the command ended, into ``timing_file``."""
    import atexit

    recorder = _Recorder()
    import nufair.cli

    timing: dict[str, object] = {"spans": recorder.spans}
    timing["cli_imported"] = time.perf_counter() - T0

    def done() -> None:
        timing["end_wall"], timing["end_cpu"] = time.perf_counter() - T0, time.process_time()
        timing["modules"] = _module_counts()
        timing_file.write_text(json.dumps(timing))

    # As the program runs: nufair.cli.program where there is one (it may end the process
    # itself; the exit handler still runs), else nufair.cli.main.
    atexit.register(done)
    sys.argv = ["nufair", *argv]
    getattr(nufair.cli, "program", nufair.cli.main)()
    return 0


def _run_cli(
    checkout: Path, event_file: Path, nsides: str | None, workers: int, timeline: bool = False
) -> dict[str, float]:
    """One ``nufair scan`` in a fresh process of ``checkout``: wall and CPU seconds, in all,
    inside ``run_scan`` and outside it."""
    import resource

    env = dict(os.environ, PYTHONPATH=str(checkout))
    with tempfile.TemporaryDirectory() as out:
        timing_file = Path(out) / "timing.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(timing_file),
            "scan",
            str(event_file),
            "--out",
            out,
            "--workers",
            str(workers),
        ]
        if nsides:
            cmd += ["--nsides", nsides]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=checkout, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = json.loads(timing_file.read_text())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    (scan,) = [sp for sp in t["spans"] if sp[0] == "run_scan"]
    if timeline:
        print(f"    {t['cli_imported']:6.2f} s  nufair.cli imported")
        for name, thread, start, end, c in sorted(t["spans"], key=lambda sp: sp[2]):
            print(f"    {start:6.2f} – {end:6.2f} s  {name} ({thread}, {c:.2f} s CPU)")
        print(f"    {t['end_wall']:6.2f} s  command done, process gone at +{wall:.2f} s")
        counts = t.get("modules", {})
        if counts:
            print("    modules imported: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return {
        "wall": wall,
        "scan": scan[3] - scan[2],
        "outside": wall - (scan[3] - scan[2]),
        "cpu": cpu,
        "scan_cpu": scan[4],
        "outside_cpu": cpu - scan[4],
        "exit": wall - t["end_wall"],
    }


def _cli(args: argparse.Namespace) -> int:
    """The whole command, ``runs`` times (paired with ``against`` when given)."""
    event = args.event_file.resolve()
    sides = [("this", ROOT)] + ([("against", args.against.resolve())] if args.against else [])
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, load {_load()}", flush=True)
    for i in range(args.runs):
        for name, checkout in sides if i % 2 == 0 else sides[::-1]:
            r = _run_cli(checkout, event, args.nsides, args.workers, args.timeline)
            runs[name].append(r)
            print(
                f"run {i + 1} {name:8s} wall {r['wall']:6.2f} s  scan {r['scan']:6.2f} s  "
                f"outside {r['outside']:5.2f} s | CPU {r['cpu']:6.2f} s  scan "
                f"{r['scan_cpu']:6.2f} s  outside {r['outside_cpu']:5.2f} s | exit "
                f"{r['exit']:4.2f} s  (load {_load()})",
                flush=True,
            )
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, load {_load()}")
    for name, checkout in sides:
        med = {k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
        print(
            f"median {name:8s} ({checkout}), {len(runs[name])} runs: wall {med['wall']:.2f} s, "
            f"scan {med['scan']:.2f} s, outside {med['outside']:.2f} s | CPU outside "
            f"{med['outside_cpu']:.2f} s | exit {med['exit']:.2f} s"
        )
    return 0


def main() -> int:
    """Command line: time each step of a local scan of EVENT_FILE, or the whole command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("event_file", type=Path)
    parser.add_argument(
        "--nsides",
        default=None,
        help="nside:n_refine progression (steps: 8:0; whole command: its default)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=0, help="time the whole command N times")
    parser.add_argument(
        "--against", type=Path, default=None, help="another checkout to pair each run with (A/B)"
    )
    parser.add_argument(
        "--timeline", action="store_true", help="print when each step of each run ran"
    )
    if sys.argv[1:2] == ["--child"]:
        return _child(Path(sys.argv[2]), sys.argv[3:])
    args = parser.parse_args()
    if args.runs:
        return _cli(args)
    args.nsides = args.nsides or "8:0"
    return _steps(args)


if __name__ == "__main__":
    raise SystemExit(main())
