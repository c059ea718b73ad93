"""Where a scan runs: a Dask client on a local cluster or on a scheduler, and the BLAS setting
that thread workers need.

``distributed`` has no type annotations; its constructors are held here as callables that
return ``Any`` so that typed callers need no ``type: ignore``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def single_threaded_blas() -> None:
    """Limit the BLAS library of this process to one thread (process-wide; through
    threadpoolctl, which knows OpenBLAS, MKL and BLIS).

    For scans whose Dask workers are threads of this process. OpenBLAS runs even the scan's
    small matrix products (pulses projected on a batch's directions) on its own threads,
    which then spin-wait for more work; with every core already taken by a worker thread in
    the compiled likelihood, those spinning threads take cycles from it. Measured on the 2-core
    machine: two concurrent batches ran at 1.32x the throughput of one with OpenBLAS's
    default threads and at 1.87x with one. Worker *processes* need no call: Dask's nanny
    starts them with ``OPENBLAS_NUM_THREADS=1`` already.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def local_client(n_workers: int | None = None, processes: bool = False) -> Any:
    """A ``dask.distributed.Client`` on a new ``LocalCluster`` with one single-threaded worker
    per core. Threads by default: the likelihood loop (:mod:`reco.kernel`) releases the GIL,
    so threads run in parallel without a process's start-up, memory and scatter costs;
    ``processes=True`` isolates the workers instead. With threads, this process's BLAS is
    limited to one thread (:func:`single_threaded_blas`)."""
    from distributed import Client, LocalCluster

    new_cluster: Callable[..., Any] = LocalCluster
    new_client: Callable[..., Any] = Client
    if not processes:
        single_threaded_blas()
    cluster = new_cluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=processes,
        # dashboard_address=None still tries :8787 (and warns when it is taken); a free
        # loopback port is quiet.
        dashboard_address="127.0.0.1:0",
        # Every port on loopback: each worker's HTTP (metrics) port bound 0.0.0.0 by
        # default, reachable from the network. (Thread workers talk to the scheduler
        # in-process; only process workers need a TCP scheduler host.)
        worker_dashboard_address="127.0.0.1:0",
        **({"host": "127.0.0.1"} if processes else {}),
    )
    return new_client(cluster)


def remote_client(address: str) -> Any:
    """A ``dask.distributed.Client`` connected to the scheduler at ``address``
    (``tcp://host:8786``)."""
    from distributed import Client

    new_client: Callable[..., Any] = Client
    return new_client(address)
