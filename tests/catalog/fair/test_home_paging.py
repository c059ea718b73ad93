"""The home page's list pages by keyset: following ``rel="next"`` reaches every alert once,
``rel="prev"`` walks back over the same pages, a search's filters stay in the links; the
expectations are read from the events table by the test's own SQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from lxml import html
from sqlalchemy import text

from catalog.notices.parsed import Stream
from catalog.storage.events import CatalogStorage
from tests.catalog.fair.conftest import seed_records
from tests.catalog.records_factory import record

#: Extra alerts: three at each time (ties broken by id), every fourth one unnamed and Bronze.
EXTRA = 20


@pytest.fixture
def many(storage: CatalogStorage) -> CatalogStorage:
    """The three FAIR test alerts and :data:`EXTRA` more."""
    t0 = datetime(2022, 1, 1, tzinfo=UTC)
    extra = [dataclasses.replace(
        record(run=140000 + i, event=i, time=t0 + timedelta(hours=i // 3),
               name=None if i % 4 == 0 else f"IceCube-2201{i:02d}A", ra=10.0 + i, dec=-5.0),
        stream=Stream.BRONZE if i % 4 == 0 else Stream.GOLD) for i in range(EXTRA)]
    storage.import_records([*seed_records(), *extra])
    return storage


def _expected(storage: CatalogStorage, where: str = "true") -> list[str]:
    """Every alert's page key (name, else run_event), newest first, by plain SQL."""
    with storage.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT coalesce(name, run_id || '_' || event_id) FROM events "
            f"WHERE {where} ORDER BY event_time DESC, id DESC")).scalars().all()
        count = conn.execute(text(f"SELECT count(*) FROM events WHERE {where}")).scalar_one()
    assert len(rows) == count
    return list(rows)


def _page(client: TestClient, url: str) -> tuple[list[str], dict[str, str]]:
    """The keys listed on a home page and its links by rel; the header, the head's
    ``<link>`` and the navigation's ``<a>`` must agree."""
    r = client.get(url)
    assert r.status_code == 200, r.text
    doc = html.fromstring(r.text)
    keys = [a.get("href").removeprefix("/records/")
            for a in doc.xpath("//table[@id='latest']//tr/td[1]/a")]
    nav = {a.get("rel"): a.get("href") for a in doc.xpath("//nav[@id='paging']/a")}
    head = {ln.get("rel"): ln.get("href") for ln in doc.xpath("//head/link[@href]")
            if ln.get("rel") in ("first", "prev", "next")}
    header = {part.split('rel="')[1].rstrip('"'): part.split(">")[0].strip(" <")
              for part in r.headers.get("link", "").split(" , ") if part}
    assert nav == head == header, (nav, head, header)
    return keys, nav


def _walk(client: TestClient, url: str, rel: str) -> list[list[str]]:
    pages = []
    next_url: str | None = url
    while next_url:
        keys, links = _page(client, next_url)
        pages.append(keys)
        next_url = links.get(rel)
        assert len(pages) < 50, "the links loop"
    return pages


def test_next_reaches_every_alert_once_and_prev_walks_back(client: TestClient,
                                                           many: CatalogStorage) -> None:
    """Pages of 4: next from the first page lists every alert once in SQL order; prev from
    the last page gives the same pages back; the first page has no prev, the last no next."""
    expected = _expected(many)
    assert len(expected) == 3 + EXTRA
    forward = _walk(client, "/?limit=4", "next")
    assert [k for p in forward for k in p] == expected
    assert [len(p) for p in forward] == [4] * 5 + [3]
    _, first_links = _page(client, "/?limit=4")
    assert set(first_links) == {"next"}
    last_keys, last_links = _page(client, _last_url(client, "/?limit=4"))
    assert last_keys == forward[-1] and "next" not in last_links
    backward = _walk(client, last_links["prev"], "prev")
    assert backward == forward[-2::-1]
    assert "limit=4" in last_links["first"]
    assert _page(client, last_links["first"])[0] == forward[0]


def _last_url(client: TestClient, url: str) -> str:
    while True:
        nxt = _page(client, url)[1].get("next")
        if nxt is None:
            return url
        url = nxt


def test_default_page_is_fifty_and_search_results_page_alike(client: TestClient,
                                                             many: CatalogStorage) -> None:
    """Without ``limit`` a page lists up to 50 alerts and its links carry no limit; a search
    (stream) pages the same way, its filter kept in every link."""
    keys, links = _page(client, "/")
    assert keys == _expected(many) and links == {}
    gold = _expected(many, "stream = 'gold'")
    pages = _walk(client, "/?stream=gold&limit=5", "next")
    assert [k for p in pages for k in p] == gold
    _, links = _page(client, "/?stream=gold&limit=5")
    assert "stream=gold" in links["next"] and "limit=5" in links["next"]
    back = _walk(client, _page(client, _last_url(client, "/?stream=gold&limit=5"))[1]["prev"],
                 "prev")
    assert back == pages[-2::-1]


def test_bad_cursors_are_refused(client: TestClient, many: CatalogStorage) -> None:
    """A cursor this service did not issue, or after and before at once, is a 422 page."""
    assert client.get("/", params={"after": "nonsense"}).status_code == 422
    _, links = _page(client, "/?limit=2")
    cursor = links["next"].split("after=", 1)[1]
    both = client.get(f"/?after={cursor}&before={cursor}")
    assert both.status_code == 422 and "not both" in both.text
    # The former parameter name still works (links already out there).
    assert _page(client, f"/?limit=2&cursor={cursor}")[0] == _page(client, links["next"])[0]
