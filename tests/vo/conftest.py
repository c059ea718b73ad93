"""Fixtures of the VO tests: a sample of alerts and the real app served over HTTP (pyvo
needs a URL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text

from catalog.importers import iter_paths, sample_paths
from catalog.notices.parsed import NoticeRecord
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from nufair.app import create_app
from nufair.settings import Settings
from tests.catalog.records_factory import record
from tests.serving import base_url, free_socket, serving
from vo.config import VoConfig
from vo.context import install_vo, setup_of

#: (name, ra, dec, r90 or None, box90 or None): circles and one RA/Dec box.
ALERTS = [
    ("IceCube-170922A", 77.43, 5.72, 0.9, None),
    ("IceCube-190730A", 225.79, 10.47, 1.3, None),
    ("IceCube-191001A", 314.08, 12.94, None, (2.9, 2.0, 1.5, 1.8)),
    ("IceCube-200615A", 142.95, 3.66, 3.1, None),
    ("IceCube-211208A", 79.5, 6.0, 2.5, None),
]


def sample_records() -> list[NoticeRecord]:
    """The notices of :data:`ALERTS` (circles, one box), as the importers give them."""
    out = []
    for i, (name, ra, dec, r90, box) in enumerate(ALERTS):
        out.append(record(run=1000 + i, event=i + 1, name=name, ra=ra, dec=dec, r90=r90,
                          box90=box, r50=(r90 or 1.0) / 2, energy_tev=100.0 + i,
                          signalness=0.5))
    return out


@pytest.fixture
def alerts(storage: CatalogStorage) -> list[NoticeRecord]:
    """The sample alerts, imported into the test database."""
    recs = sample_records()
    storage.import_records(recs)
    return recs


#: Alerts spread on the sky besides the sample: enough that a cross join is more than a
#: TAP probe keeps, and the whole sky more than a cone search writes on the loop.
MANY = 300


@pytest.fixture
def spread(storage: CatalogStorage, alerts: list[NoticeRecord]) -> list[NoticeRecord]:
    """The sample alerts and :data:`MANY` more, seeded and uniform on the sphere."""
    rng = np.random.default_rng(15)
    ra = rng.uniform(0, 360, MANY)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, MANY)))
    t0 = datetime(2021, 1, 1, tzinfo=UTC)
    more = [record(run=5000 + i, event=i + 1, name=f"IceCube-SPR{i:04d}", ra=float(ra[i]),
                   dec=float(dec[i]), r90=1.0, r50=0.5, time=t0 + timedelta(hours=i))
            for i in range(MANY)]
    storage.import_records(more)
    return alerts + more


@pytest.fixture
def live_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Base URL of the real app served by uvicorn on a free loopback port."""
    sock = free_socket()
    url = base_url(sock)
    settings = Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                        environment="development", public_base_url=url)
    with serving(create_app(settings), sock) as served:
        yield served


@pytest.fixture
def app_with(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """A factory: the real app served with the given VoConfig fields; yields (url, app)."""
    with ExitStack() as running:

        def start(**cfg: Any) -> tuple[str, FastAPI]:
            sock = free_socket()
            url = base_url(sock)
            app = create_app(Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                                      environment="development", public_base_url=url))
            install_vo(app, replace(setup_of(app), config=VoConfig(base_url=url, **cfg)))
            return running.enter_context(serving(app, sock)), app

        yield start


@pytest.fixture
def whole_sample(storage: CatalogStorage) -> None:
    """The whole bundled sample, imported as ``nufair import`` does, with statistics as
    autovacuum keeps them in service: without them the planner takes the fresh tiles
    table for a small one and joins every tile to every range."""
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    with storage.engine.begin() as conn:
        conn.execute(text("ANALYZE public.region_tiles; ANALYZE public.revisions"))
