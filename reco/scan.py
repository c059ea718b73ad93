"""Dask-parallel HEALPix likelihood scan.

Algorithm
---------
1. Prepare the event (:func:`reco.likelihood.prepare`) and fit a first guess.
2. For each ``(nside, n_refine)`` of :attr:`ScanConfig.nsides` (RING pixels, equatorial):

   * the first level fits every pixel, seeded around the first-guess track;
   * a later level fits the children of the ``n_refine`` best finite pixels of the previous
     level, plus every pixel within ``extension`` × (previous pixel size) of the global best,
     each seeded from its parent's fit (and the global best's track); children of failed
     (NaN) parents are never fitted;
   * after a level, if the best pixel's own neighbourhood (a disc of ``extension`` × this
     pixel size) is not all fitted yet — the best moved — those pixels are fitted too, up to
     ``max_rerefine`` times; if a coarser pixel still beats every child fitted inside it, the
     children are refitted from its track;
   * the finest level is "polished": a pixel standing more than ``polish_margin`` above the
     median of its neighbours (a nuisance fit caught in a poorer local minimum) is refitted
     from its best neighbour's track, for ``polish_rounds`` rounds.

3. Per pixel the direction is fixed and :math:`-\\ln L` is minimised over the track's
   transverse position and time from several seeds (:func:`reco.likelihood.fit_nuisance`).

Parallelism: one Dask task per batch of ``batch_size`` pixels; the prepared event is scattered
once to every worker; each task has a deterministic key (event, level, round, batch), so a
resubmitted duplicate is the same task; lost workers are retried ``retries`` times.

The modules of a scan
---------------------
=========================  ================================================================
:mod:`reco.scan`           :func:`run_scan`, the entry point (this module)
:mod:`reco.scan_config`    :class:`ScanConfig`, :class:`ScanProgress`, cancellation
:mod:`reco.refinement`     which pixels each level fits, from which seeds (steps 2 and 3)
:mod:`reco.skyfits`        the fits so far; one round of Dask tasks, progress reports
:mod:`reco.batchfit`       one task: fit a batch of pixels (runs on a worker)
:mod:`reco.cluster`        the Dask client (local cluster or scheduler) and BLAS threads
=========================  ================================================================

The names callers use are re-exported here, so ``from reco.scan import ScanConfig, run_scan``
keeps working.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Callable
from typing import Any

import numpy as np

from reco.batchfit import CHUNK_ELEMENTS, BatchResult, BatchSpec, fit_batch
from reco.cluster import local_client, remote_client, single_threaded_blas
from reco.detector import Detector
from reco.event import Event
from reco.firstguess import first_guess
from reco.likelihood import prepare
from reco.refinement import Refinement
from reco.result import ScanResult
from reco.scan_config import CancelFlag, ScanCancelled, ScanConfig, ScanProgress
from reco.skyfits import SkyFits

__all__ = [
    "CHUNK_ELEMENTS",
    "BatchResult",
    "BatchSpec",
    "CancelFlag",
    "ScanCancelled",
    "ScanConfig",
    "ScanProgress",
    "fit_batch",
    "local_client",
    "remote_client",
    "run_scan",
    "single_threaded_blas",
]


def run_scan(
    event: Event,
    detector: Detector,
    config: ScanConfig | None = None,
    client: Any = None,
    progress: Callable[[ScanProgress], None] | None = None,
    cancel: CancelFlag | threading.Event | None = None,
    stream: str | None = None,
) -> ScanResult:
    """Scan the sky for the direction of ``event``.

    Parameters
    ----------
    event, detector
        The event and the geometry its sensor indices refer to.
    config : ScanConfig, optional
    client : dask.distributed.Client, optional
        Where to run; a ``LocalCluster`` with one worker per core is started (and closed)
        when not given. A client connected to any scheduler (``tcp://…``) works the same.
    progress : callable, optional
        Called with a :class:`ScanProgress` after every finished task.
    cancel : object with ``is_set()``, optional
        Checked after every finished task; when set, pending tasks are cancelled and
        :class:`ScanCancelled` is raised.
    stream : str, optional
        The alert stream the selection gave the event (``"cascade"``, ``"gold"``, ...): with
        ``config.hypothesis == "auto"`` it chooses the hypothesis, else the topology does
        (:func:`reco.cascade.choose_hypothesis`). A cascade is scanned by
        :func:`reco.cascade.run_cascade_scan`, in this process.

    Returns
    -------
    ScanResult
        With 50 % / 90 % regions filled in (Wilks and calibrated thresholds).
    """
    from reco.cascade import resolve_hypothesis
    from reco.regions import compute_regions

    config = resolve_hypothesis(config or ScanConfig(), event, detector, stream)
    if config.hypothesis == "cascade":
        # Only here: the cascade's fits import scipy.optimize, which a track never uses.
        from reco.cascade import run_cascade_scan

        return run_cascade_scan(event, detector, config, progress, cancel)
    start = _time.perf_counter()
    prep = prepare(event, detector)
    fg = first_guess(event, detector, prep)
    own = client is None
    if own:
        client = local_client()
    try:
        fits = SkyFits(event, prep, config, client, progress, cancel)
        fits.start = start
        fits.stats.first_guess_s = fg.elapsed
        Refinement(fits).run(np.array(fg.vertex), fg.time)
        fits.planned.clear()
        fits.report()  # final report: fraction 1
        result = fits.result()
    finally:
        if own:
            cluster = client.cluster
            client.close()
            cluster.close()
    result.first_guess = {
        "ra_deg": float(np.degrees(fg.ra)),
        "dec_deg": float(np.degrees(fg.dec)),
        "zenith_deg": float(np.degrees(fg.zenith)),
        "azimuth_deg": float(np.degrees(fg.azimuth)),
        "llh": fg.llh,
        "elapsed_s": fg.elapsed,
    }
    result.regions = compute_regions(result)
    result.stats.elapsed_s = _time.perf_counter() - start
    return result
