"""What a reader sees: revisions side by side, circulars and notices of an alert, citation
styles, honest captions, one-based revision counts, highlighted search matches, the legend,
local API docs and robots.txt."""

from __future__ import annotations

import csv
import hashlib
import re

from fastapi.testclient import TestClient
from lxml import html
from sqlalchemy import insert, select

from catalog.fair.record_view import CIRCULARS_CSV
from catalog.fair.records import RecordService
from catalog.schema.events import events, revisions
from catalog.schema.outbox import notices
from catalog.storage.events import CatalogStorage


def _page(client: TestClient, key: str) -> html.HtmlElement:
    r = client.get(f"/records/{key}")
    assert r.status_code == 200
    return html.fromstring(r.text)


def test_home_counts_revisions_from_one_and_highlights_matches(
        client: TestClient, seeded: RecordService) -> None:
    """"rev. 2 of 2" for the second of two revisions; a search draws its matches large over
    faded others; the map has a legend of every stream's colour."""
    doc = html.fromstring(client.get("/").text)
    rows = doc.get_element_by_id("latest").findall(".//tr")[1:]
    assert [r.findall("td")[4].text_content() for r in rows] == ["retracted", "rev. 2 of 2",
                                                                 "rev. 1 of 1"]
    assert not doc.xpath("//*[@id='allsky']//*[contains(@class, 'match')]")
    legend = doc.get_element_by_id("legend").text_content()
    assert all(word in legend for word in ("Gold", "Bronze", "Cascade", "HESE", "EHE",
                                           "retracted", "likely background"))
    found = html.fromstring(client.get("/", params={"name": "IceCube-200615A"}).text)
    match = found.xpath("//*[@id='allsky']//*[local-name()='circle'][contains(@class,'match')]")
    others = found.xpath("//*[@id='allsky']//*[local-name()='circle'][contains(@class,'other')]")
    assert [m.findtext("{*}title") or m.findtext("title") for m in match] == [
        "IceCube-200615A (gold)"]
    # The others are the map of every alert (its own resource, /sky/allsky.svg), faded.
    assert others == [] and found.get_element_by_id("allsky").get("class") == "searched"
    assert found.xpath("//*[@id='allsky']//object/@data") == ["/sky/allsky.svg"]


def test_record_page_shows_revisions_side_by_side(client: TestClient, seeded: RecordService
                                                  ) -> None:
    """Every revision's parameters in one table, positions one-based, a cell highlighted
    exactly where its value differs from the revision before."""
    a = seeded.load("IceCube-200615A")
    first, second = a.event.revisions
    assert None not in (first.ra, first.dec, second.ra, second.dec)
    doc = _page(client, "IceCube-200615A")
    rows = doc.get_element_by_id("revisions").findall(".//tr")[1:]
    assert [r.findall("td")[0].text_content() for r in rows] == ["1 of 2", "2 of 2"]
    cells = rows[1].findall("td")[3:]
    changed = [c.get("class") == "changed" for c in cells]
    # Columns: RA, Dec, 90 % errors, energy, signalness, FAR.
    assert changed[0] == (f"{first.ra:.3f}" != f"{second.ra:.3f}")
    assert changed[1] == (f"{first.dec:+.3f}" != f"{second.dec:+.3f}")
    assert changed[3:] == [first.energy_tev != second.energy_tev,
                           first.signalness != second.signalness,
                           first.far_per_year != second.far_per_year]
    assert not any(c.get("class") for c in rows[0].findall("td"))


def test_captions_name_only_the_regions_drawn(client: TestClient, seeded: RecordService
                                              ) -> None:
    """The latest version of A has a 90 % rectangle and no 50 % region: its caption says no
    "50 %"; its first version had both."""
    a = seeded.load("IceCube-200615A")
    latest = _page(client, a.versions[1].doi.suffix)
    caption = latest.xpath("//figure[@id='skyplot']/figcaption")[0].text_content()
    assert "90 % (blue)" in caption and "50 %" not in caption
    assert not latest.xpath("//*[contains(@class, 'region50')]")
    first = _page(client, a.versions[0].doi.suffix)
    assert "50 % (red) and 90 % (blue)" in first.xpath(
        "//figure[@id='skyplot']/figcaption")[0].text_content()


def test_circulars_about_the_alert_and_citation_styles(client: TestClient,
                                                       seeded: RecordService) -> None:
    """The circulars whose subject names the alert, by number and subject (re-read from the
    bundled CSV), and the citation in every style."""
    with CIRCULARS_CSV.open(newline="", encoding="utf-8") as fh:
        expected = sorted(int(r["id"]) for r in csv.DictReader(fh)
                          if re.search(r"(IceCube[- ]?|IC)200615A", r["subject"]))
    assert expected  # the index does hold circulars about IceCube-200615A (GCN 27950, ...)
    doc = _page(client, "IceCube-200615A")
    links = doc.get_element_by_id("circulars").findall(".//a")
    assert [int(a.text.removeprefix("GCN ")) for a in links] == expected
    assert links[0].get("href") == f"https://gcn.nasa.gov/circulars/{expected[0]}"
    styles = doc.get_element_by_id("citation-styles")
    assert [dt.text_content() for dt in styles.findall(".//dt")] == [
        "APA", "Chicago (author-date)", "IEEE", "Harvard", "Vancouver"]
    for dt in styles.findall(".//dt"):
        href = dt.find("a").get("href")
        assert client.get(href.removeprefix("http://testserver")).status_code == 200


def test_notices_link_to_their_stored_bytes(client: TestClient, seeded: RecordService,
                                            storage: CatalogStorage) -> None:
    """A notice the pipeline stored for a revision is a link on the page to its exact bytes."""
    payload = b'{"type": "IceCube LVK Nu Track Search", "ra": 142.95}'
    with storage.engine.begin() as conn:
        rev_pk = conn.execute(select(revisions.c.id).join(events).where(
            events.c.name == "IceCube-200615A", revisions.c.number == 1)).scalar_one()
        conn.execute(insert(notices).values(
            revision_pk=rev_pk, sink="folder", format="gcn-json", idempotency_key="k1",
            media_type="application/json", filename="IceCube-200615A_1.json",
            payload=payload))
    doc = _page(client, "IceCube-200615A")
    [link] = doc.xpath("//li[starts-with(@id, 'notice-')]/a")
    assert link.text == "IceCube-200615A_1.json"
    r = client.get(link.get("href").removeprefix("http://testserver"))
    assert r.status_code == 200 and r.content == payload
    assert r.headers["content-type"].startswith("application/json")
    assert hashlib.sha256(payload).digest() is not None and "sha-256=:" in \
        r.headers["content-digest"]
    other = seeded.load("IceCube-190108A")
    nid = link.get("href").rsplit("/", 1)[1]
    assert client.get(f"/records/{other.key}/notices/{nid}").status_code == 404


def test_docs_are_local_and_robots_txt(client: TestClient) -> None:
    """/docs loads Swagger UI from this server only; robots.txt names the sitemap."""
    r = client.get("/docs")
    assert r.status_code == 200
    doc = html.fromstring(r.text)
    sources = doc.xpath("//script/@src") + doc.xpath("//link/@href")
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    assert "cdn" not in r.text.lower()
    for src in sources:
        assert client.get(src).status_code == 200, src
    assert client.get("/redoc").status_code == 404
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.headers["content-type"].startswith("text/plain")
    assert re.search(r"^Sitemap: http\S+/sitemap\.xml$", robots.text, re.M)


def test_sky_plot_labels_are_not_clipped(seeded: RecordService) -> None:
    """Every grid label of the sky plot lies whole inside the square (at most 6.5 px a
    character of its 10 px font, its baseline at least one line from the top)."""
    from lxml import etree

    from catalog.fair import skyplot

    for key in ("IceCube-200615A", "IceCube-190108A"):
        rev = seeded.load(key).revision
        svg = etree.fromstring(skyplot.local_plot(rev).encode())
        size = float(svg.get("width"))
        labels = [t for t in svg.iter("{*}text") if t.get("font-size") == "10"]
        assert labels
        for t in labels:
            x, y = float(t.get("x")), float(t.get("y"))
            assert x >= 0 and x + 6.5 * len(t.text) <= size, (key, t.text, x)
            assert 10 <= y <= size, (key, t.text, y)
