"""Landing pages of the whole bundled sample: what the histories (issue 14) and the
counterpart search (issue 19) store must reach the page a reader opens.

Expectations come from the bundled sources read here: IceCat-2's list of vetoed IceCat-1
events, and the 4FGL-DR4 name of TXS 0506+056 (4FGL J0509.4+0542).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import html

from catalog.fair.config import FairConfig
from catalog.importers import iter_paths, sample_paths
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage

VETO_LIST = Path(__file__).parents[2] / "data" / "sources" / "vetod_events_icecat1.txt"


@pytest.fixture
def minted(storage: CatalogStorage, fair: FairStorage, fair_cfg: FairConfig) -> None:
    report = import_files(storage, list(iter_paths(sample_paths())))
    assert report.refused == []
    fair.mint_missing(fair_cfg.doi_prefix, fair_cfg.provider)


def _vetoed() -> set[str]:
    rows = VETO_LIST.read_text().splitlines()
    return {f"{int(a)}_{int(b)}" for a, b in (r.split() for r in rows if r[:1].isdigit())}


def test_likely_background_alerts_carry_a_banner(minted: None, client: TestClient) -> None:
    vetoed = _vetoed()
    assert len(vetoed) == 8
    for key in vetoed:
        name = client.get(f"/api/v1/events/{key}").json()["name"]
        page = client.get(f"/records/{name}")
        assert page.status_code == 200, (key, name)
        banner = html.fromstring(page.text).get_element_by_id("likely-background")
        assert "CR_VETO" in banner.text_content()
    live = client.get("/records/IceCube-200615A")
    assert 'id="likely-background"' not in live.text


def test_txs_0506_056_on_the_page_of_icecube_170922a(minted: None,
                                                     client: TestClient) -> None:
    page = html.fromstring(client.get("/records/IceCube-170922A").text)
    table = page.get_element_by_id("counterparts").text_content()
    assert "4FGL J0509.4+0542" in table and "TXS 0506+056" in table
