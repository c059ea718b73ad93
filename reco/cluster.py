"""Where a scan runs: a Dask client on a local cluster or on a scheduler, a pool of threads
with the few client methods a scan uses (:class:`ThreadClient`), and the BLAS setting that
thread workers need.

``distributed`` has no type annotations; its constructors are held here as callables that
return ``Any`` so that typed callers need no ``type: ignore``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import as_completed as _futures_as_completed
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


class _Scattered:
    """Data handed to :meth:`ThreadClient.scatter`: the tasks get it back as it is."""

    def __init__(self, data: Any) -> None:
        self.data = data


class ThreadClient:
    """The client methods a scan uses (:class:`reco.skyfits.SkyFits`), on a pool of threads of
    this process: for a scan on this machine that needs no Dask cluster.

    The likelihood loop releases the GIL (:mod:`reco.kernel`), so the threads fit in
    parallel, as a ``LocalCluster`` of thread workers does, without its start-up: importing
    ``distributed`` and starting a scheduler and workers took 0.4 s of a command-line scan on
    the 2-core machine, all of it holding the GIL beside the event read. A task that raises
    is run again up to ``retries`` times, as Dask does; there are no workers to lose. This
    process's BLAS is limited to one thread (:func:`single_threaded_blas`).

    Examples
    --------
    >>> client = ThreadClient(2)
    >>> data = client.scatter([1, 2, 3], broadcast=True, hash=False)
    >>> [f.result() for f in client.as_completed([client.submit(sum, data, key="k")])]
    [6]
    >>> client.close()
    """

    cluster = None
    """No cluster to close (``nufair scan`` closes a client's ``cluster`` when it has one)."""

    def __init__(self, n_workers: int | None = None) -> None:
        self.n_workers = n_workers or os.cpu_count() or 1
        single_threaded_blas()
        self._pool = ThreadPoolExecutor(self.n_workers, thread_name_prefix="reco-scan")

    def scatter(self, data: Any, broadcast: bool = False, hash: bool = True) -> _Scattered:
        """``data`` for tasks to take as an argument (every thread shares it)."""
        return _Scattered(data)

    def submit(
        self, fn: Callable[..., Any], *args: Any, key: str | None = None, retries: int = 0
    ) -> Future[Any]:
        """Run ``fn(*args)`` on a thread (scattered arguments as their data); ``key`` names
        the task for Dask and is not needed here."""
        values = [a.data if isinstance(a, _Scattered) else a for a in args]

        def task() -> Any:
            for attempt in range(retries + 1):
                try:
                    return fn(*values)
                except Exception:
                    if attempt == retries:
                        raise
            raise AssertionError("unreachable")

        return self._pool.submit(task)

    def as_completed(self, futures: Iterable[Future[Any]]) -> Iterator[Future[Any]]:
        """``futures`` as they finish."""
        return _futures_as_completed(list(futures))

    def scheduler_info(self) -> dict[str, Any]:
        """The workers, as Dask's ``Client.scheduler_info`` lists them."""
        return {"workers": {f"thread-{i}": {"nthreads": 1} for i in range(self.n_workers)}}

    def cancel(self, futures: Iterable[Future[Any]]) -> None:
        """Cancel the ``futures`` that have not started."""
        for future in futures:
            future.cancel()

    def close(self) -> None:
        """Wait for the running tasks and stop the threads; tasks not started are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def as_completed(client: Any, futures: list[Any]) -> Iterator[Any]:
    """The ``futures`` of ``client`` as they finish: the client's own ``as_completed`` (a
    :class:`ThreadClient`) or Dask's."""
    own: Callable[[list[Any]], Iterator[Any]] | None = getattr(client, "as_completed", None)
    if own is not None:
        return own(futures)
    from distributed import as_completed as dask_as_completed

    finished: Callable[[list[Any]], Iterator[Any]] = dask_as_completed
    return finished(futures)
