"""Time one DCAT catalog page against the former whole-catalog build (issue #12, item 2).

The bundled sample catalog is imported ``--copies`` times (run numbers shifted), DOIs are
minted, then: the whole catalog as one graph (the former ``GET /catalog``) and one page of
``--page-size`` alerts (the paged ``GET /catalog``), both serialised as Turtle.

    PYTHONPATH=. python -m bench.dcat_pages   # NUFAIR_BENCH_DATABASE_URL, else embedded
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import threading
import time
from pathlib import Path

from bench.common import fresh_database
from catalog.fair import dcat
from catalog.fair.browse import build_catalog_page
from catalog.fair.config import FairConfig
from catalog.fair.router import make_context
from catalog.importers import parse_document, sample_paths
from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine


def sample_records(copies: int) -> list[NoticeRecord]:
    """The sample catalog's records, ``copies`` times (copy k: run + k·10⁷, own keys)."""
    base = [r for p in sample_paths() for r in parse_document(p.read_bytes(), filename=p.name)]
    out = list(base)
    for k in range(1, copies):
        out += [dataclasses.replace(r, run_id=r.run_id + k * 10**7,
                                    name=f"{r.name}-{k}" if r.name else None,
                                    source_key=_copy_key(r.source_key, k)) for r in base]
    return out


def _copy_key(key: str, k: int) -> str:
    """``key`` of copy ``k``: the mark goes before the last ``:`` part, which a GCN notice's
    key keeps for its Rev (:func:`catalog.storage.histories.notice_rev`)."""
    head, _, tail = key.rpartition(":")
    return f"{head}#copy{k}:{tail}" if head else f"{key}#copy{k}"


def healthz_during_builds(url: str, page_size: int, builds: int = 3) -> str:
    """Worst ``/healthz`` latency while ``builds`` catalog pages are requested at once."""
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from nufair.app import create_app
    from nufair.settings import Settings

    settings = Settings(database_url=SecretStr(url), catalog_page_size=page_size,
                        data_dir=Path(tempfile.mkdtemp()))
    with TestClient(create_app(settings)) as client:
        statuses: list[int] = []
        workers = [threading.Thread(target=lambda: statuses.append(
            client.get("/catalog").status_code)) for _ in range(builds)]
        for w in workers:
            w.start()
        worst = 0.0
        while any(w.is_alive() for w in workers):
            t0 = time.perf_counter()
            client.get("/healthz")
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(0.05)
        for w in workers:
            w.join()
    return (f"{builds} concurrent GET /catalog: statuses {sorted(statuses)}; "
            f"worst /healthz latency meanwhile {worst * 1000:.0f} ms")


def main() -> None:
    """Command line: time the whole DCAT catalog against one page of it (Turtle), then
    ``/healthz`` while pages are built at once."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with fresh_database() as url:
        engine = make_engine(url)
        storage = CatalogStorage(engine)
        storage.import_records(sample_records(args.copies))
        cfg = FairConfig(base_url="http://bench.example")
        ctx, _ = make_context(storage, cfg, Path(tempfile.mkdtemp()))
        pks = ctx.fair.all_event_pks()
        t0 = time.perf_counter()
        whole = dcat.catalog_graph([ctx.records.for_event(pk) for pk in pks], cfg)
        body = whole.serialize(format="turtle")
        t_whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        page, _total = build_catalog_page(ctx, 1, args.page_size, "turtle",
                                          cfg.catalog_url + "?page={page}")
        t_page = time.perf_counter() - t0
        print(f"alerts {len(pks)}; whole catalog {t_whole:.2f} s ({len(body) / 1e6:.1f} MB, "
              f"{len(whole)} triples); one page of {args.page_size}: {t_page:.2f} s "
              f"({len(page) / 1e6:.2f} MB)")
        engine.dispose()
        print(healthz_during_builds(url, args.page_size))


if __name__ == "__main__":
    main()
