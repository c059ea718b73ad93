"""The files ``nufair scan`` writes, and the second process that draws the PNG.

The PNG (matplotlib) is the slowest product and needs the largest imports. A command-line
scan starts a :class:`PngDrawer` first thing: a second Python process (this module run with
``-m``) that imports matplotlib and draws a first figure (fonts loaded) on the otherwise idle
core while the command reads the event and scans, then draws the scan's PNG while the
command writes the FITS files, MOCs and JSON. Where that process cannot be had, or fails,
the PNG is drawn in the command's process, as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from reco.result import ScanResult


def _warm_matplotlib() -> None:
    """Draw a small figure with text into memory: matplotlib's imports, its font cache and
    the first font are loaded (a third of the first PNG's time)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import reco.skymap  # noqa: F401 (its imports, for the real drawing)

    fig = Figure(figsize=(1, 1), dpi=20)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_title("ΔRA · 2ΔLLH")
    ax.imshow([[0.0, 1.0]], cmap="viridis_r")
    fig.savefig(io.BytesIO(), format="png")


def _drawer_main(jobs: IO[bytes], answers: IO[bytes]) -> None:
    """The drawing process: warm up, then draw the one PNG asked for and leave.

    The job is a pickled ``(result, path)`` on ``jobs`` (nothing: no PNG). The answer, one
    line on ``answers``, is empty when the PNG is written, else the error in words. Ctrl-C
    is the command's to handle; this process leaves when its input closes, with ``os._exit``
    once the answer is out (its interpreter teardown would take longer than the drawing).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answer = ""
    try:
        _warm_matplotlib()
        job = jobs.read()
        if job:
            from reco.skymap import plot_skymap

            result, path = pickle.loads(job)
            plot_skymap(result, path)
    except Exception as exc:  # reported to the command, which draws the PNG itself
        answer = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    try:
        answers.write(answer.encode() + b"\n")
        answers.flush()
    except OSError:  # the command has gone
        pass
    os._exit(0)


class PngDrawer:
    """The second process that draws a scan's PNG (module docstring).

    It runs this module with the interpreter and the import path of this process.

    Examples
    --------
    >>> drawer = PngDrawer()
    >>> drawer.close()  # nothing to draw: the process is stopped
    """

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._sender: threading.Thread | None = None
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError:
            self._process = None

    def draw(self, result: ScanResult, path: Path) -> bool:
        """Ask the process for the PNG of ``result`` at ``path`` and return at once; False
        when there is no process to ask (the caller draws it)."""
        process = self._process
        if process is None or process.stdin is None:
            return False
        # The MOCs stay here: the drawing needs the contours, and a MOC is a handle into
        # this process's mocpy store.
        regions = [dataclasses.replace(r, moc=None) for r in result.regions]
        job = pickle.dumps((dataclasses.replace(result, regions=regions), path))
        stdin = process.stdin

        def send() -> None:  # blocks until the process, still warming up, reads
            try:
                stdin.write(job)
                stdin.close()
            except OSError:
                pass  # the process has gone: wait() says so

        self._sender = threading.Thread(target=send, name="nufair-png-job", daemon=True)
        self._sender.start()
        return True

    def wait(self) -> str | None:
        """Wait for the drawing asked for: None when the PNG is written, else what failed."""
        process = self._process
        if process is None or process.stdout is None or self._sender is None:
            return "no drawing asked for"
        answer = process.stdout.readline().decode(errors="replace").strip()
        self._sender.join()
        code = self._stop(kill=False)
        if answer:
            return answer
        return None if code == 0 else f"the drawing process ended unanswered ({code})"

    def close(self) -> None:
        """Stop the process: at once when no drawing was asked for, else once it is done."""
        self._stop(kill=self._sender is None)

    def _stop(self, kill: bool) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if kill:
            process.kill()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def write_products(
    result: ScanResult, out_dir: Path, stem: str, drawer: PngDrawer | None = None
) -> None:
    """The result JSON, the FITS skymaps, each region's MOC (FITS, JSON, ASCII), the PNG and
    the result in skymap_scanner's JSON (``icecube-skyreader`` reads it).

    The PNG is drawn by ``drawer`` when given (while the rest is written here), else here.
    The flat FITS file and its 2ΔLLH map are made in a second thread: most of their time is
    NumPy and gzip, which run without the GIL beside the other files.
    """
    from reco.skymap import plot_skymap, write_flat_fits, write_multiorder_fits
    from reco.skyreader import export_result

    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{stem}.skymap.png"
    drawn_elsewhere = drawer is not None and drawer.draw(result, png)

    def flat() -> NDArray[np.float64]:
        fine = result.delta_llh_map(512)
        write_flat_fits(result, out_dir / f"{stem}.skymap_nside512.fits.gz", dllh=fine)
        return fine

    with ThreadPoolExecutor(1, "nufair-fits") as pool:
        flat_written = pool.submit(flat)
        (out_dir / f"{stem}.result.json").write_text(
            json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8"
        )
        write_multiorder_fits(result, out_dir / f"{stem}.skymap.multiorder.fits")
        for region in result.regions:
            region.write_moc(out_dir / f"{stem}.moc_{region.name}.fits", "fits")
            region.write_moc(out_dir / f"{stem}.moc_{region.name}.json", "json")
            region.write_moc(out_dir / f"{stem}.moc_{region.name}.txt", "ascii")
        real = result.truth is None and 100_000 <= result.run_id < 1_000_000
        (out_dir / f"{stem}.skyreader.json").write_text(
            json.dumps(export_result(result, is_real_event=real), allow_nan=False) + "\n",
            encoding="utf-8",
        )
        if not drawn_elsewhere or (drawer is not None and drawer.wait() is not None):
            fine = flat_written.result() if result.finest_nside == 512 else None
            plot_skymap(result, png, dllh=fine)
        flat_written.result()


if __name__ == "__main__":
    # The answer has stdout to itself: anything printed meanwhile goes to stderr.
    answer_stream = sys.stdout.buffer
    sys.stdout = sys.stderr
    _drawer_main(sys.stdin.buffer, answer_stream)
