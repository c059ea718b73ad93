"""Storage on real PostgreSQL: matching, revisions, idempotency, atomicity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.errors import Conflict, InvalidInput
from catalog.notices.parsed import RevisionKind, Source
from catalog.schema.events import events, region_tiles, revisions
from catalog.storage.events import CatalogStorage, EventQuery
from tests.catalog.records_factory import record


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (events, revisions, region_tiles)
        )


def test_same_event_from_two_sources_is_one_event_with_two_revisions(
        storage: CatalogStorage) -> None:
    r0 = record(rev=0, issued=datetime(2020, 6, 15, 15, 0, tzinfo=UTC))
    ic = record(rev=None, ra=142.95, dec=3.66, source=Source.ICECAT1, name="IceCube-200615A",
                box90=(1.14, 1.41, 1.16, 1.01), key="icecat-1:134191:17593623",
                issued=datetime(2023, 10, 1, tzinfo=UTC))
    s = storage.import_records([r0, ic])
    assert (s.events_created, s.revisions_created, s.unchanged) == (1, 2, 0)
    ev = storage.get_event("IceCube-200615A")
    assert [r.source for r in ev.revisions] == ["gcn-voevent", "icecat-1"]
    assert [r.number for r in ev.revisions] == [0, 1]
    assert ev.current is not None and ev.current.source == "icecat-1"
    assert ev.revisions[0].ra == pytest.approx(143.4519)
    # the same event through its other keys
    assert storage.get_event("134191_17593623").id == ev.id
    assert storage.get_event("IC200615A").id == ev.id


def test_reimport_is_idempotent(storage: CatalogStorage, engine: Engine) -> None:
    recs = [record(rev=0), record(rev=1, ra=142.9499, dec=3.66)]
    storage.import_records(recs)
    before = _counts(engine)
    again = storage.import_records(recs)
    assert again.revisions_created == 0 and again.unchanged == 2
    assert _counts(engine) == before


def test_revisions_are_numbered_by_issue_order_within_a_batch(storage: CatalogStorage) -> None:
    # AMON tables list Rev 1 before Rev 0; numbering follows the source revision.
    recs = [record(rev=1, ra=142.9499, dec=3.66), record(rev=0)]
    storage.import_records(recs)
    ev = storage.get_event("134191_17593623")
    assert [(r.number, r.source_rev) for r in ev.revisions] == [(0, 0), (1, 1)]
    assert ev.current is not None and ev.current.source_rev == 1


def test_a_bad_record_leaves_nothing_stored(storage: CatalogStorage, engine: Engine) -> None:
    good = record(rev=0)
    bad = record(run=1, event=2, rev=0, dec=95.0)
    with pytest.raises(InvalidInput, match="Dec"):
        storage.import_records([good, bad])
    assert _counts(engine) == (0, 0, 0)


def test_a_name_owned_by_another_event_is_a_conflict(storage: CatalogStorage,
                                                     engine: Engine) -> None:
    storage.import_records([record(name="IceCube-240327A", run=1, event=1)])
    before = _counts(engine)
    with pytest.raises(Conflict):
        storage.import_records([record(name="IceCube-240327A", run=2, event=2)])
    assert _counts(engine) == before


def test_retraction_becomes_current_and_earlier_revisions_stay(storage: CatalogStorage) -> None:
    storage.import_records([record(rev=0, issued=datetime(2020, 6, 15, 15, tzinfo=UTC))])
    storage.import_records([record(rev=1, kind=RevisionKind.RETRACTION, r90=None,
                                   issued=datetime(2020, 6, 15, 18, tzinfo=UTC))])
    ev = storage.get_event("134191_17593623")
    assert ev.retracted and len(ev.revisions) == 2
    assert ev.revisions[0].kind == "initial"


def test_keyset_pagination_is_stable_and_complete(storage: CatalogStorage) -> None:
    recs = [record(run=1000 + i, event=i, time=datetime(2021, 1, 1 + i % 28, i % 24, tzinfo=UTC))
            for i in range(57)]
    storage.import_records(recs)
    seen: list[int] = []
    cursor = None
    while True:
        page = storage.list_events(EventQuery(limit=10, cursor=cursor))
        seen.extend(e.id for e in page.items)
        times = [e.event_time for e in page.items]
        assert times == sorted(times, reverse=True)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 57 == len(set(seen))


def test_cone_filter_matches_an_independent_distance(storage: CatalogStorage) -> None:
    import numpy as np
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(7)
    ra = rng.uniform(0, 360, 300)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 300)))
    storage.import_records([record(run=5000 + i, event=i, ra=float(ra[i]), dec=float(dec[i]))
                            for i in range(300)])
    centre = SkyCoord(10.0, -20.0, unit="deg")
    sep = centre.separation(SkyCoord(ra, dec, unit="deg")).deg
    expected = {5000 + i for i in np.flatnonzero(sep <= 35.0)}
    page = storage.list_events(EventQuery(cone=(10.0, -20.0, 35.0), limit=1000))
    assert {e.run_id for e in page.items} == expected
    assert expected  # the cone is wide enough to catch some
