"""The local Dask cluster a scan starts by default: thread workers in this process."""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from reco.cluster import local_client


def _blas_threads() -> list[int]:
    return [int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_thread_workers_leave_blas_single_threaded() -> None:
    """A local cluster of thread workers limits this process's BLAS to one thread, and
    the workers see the same limit."""
    # NumPy always loads a BLAS; give it two threads first, so that the check below cannot
    # pass merely because this machine has one core.
    threadpool_limits(limits=2, user_api="blas")
    assert _blas_threads() and all(n == 2 for n in _blas_threads())
    client = local_client(1)
    try:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 1
        assert all(addr.startswith("inproc://") for addr in workers)  # threads, not processes
        assert all(n == 1 for n in _blas_threads())
        assert client.submit(lambda: _blas_threads(), pure=False).result() == _blas_threads()
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def test_local_cluster_listens_on_loopback_only() -> None:
    """No port of the embedded cluster (scheduler, dashboard, each worker's HTTP port) is
    reachable from the network: every listening socket of this process is on loopback."""
    import psutil

    me = psutil.Process()
    before = {c.laddr for c in me.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    client = local_client(2)
    try:
        opened = [c.laddr for c in me.net_connections("inet")
                  if c.status == psutil.CONN_LISTEN and c.laddr not in before]
        assert opened  # the workers' HTTP ports at least
        assert all(addr.ip in ("127.0.0.1", "::1") for addr in opened), opened
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
