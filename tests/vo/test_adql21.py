"""ADQL 2.1 as clients write it (issue 15 item 2), through pyvo against the real app:
GROUP BY keys, JOIN USING / NATURAL, IS NULL on every kind of column."""

from __future__ import annotations

from collections import Counter

import pyvo

from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record


def _tap(url: str) -> pyvo.dal.TAPService:
    return pyvo.dal.TAPService(url + "/tap")


def test_group_by_expression_alias_and_ordinal(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """GROUP BY an expression, a select alias or a column number: the counts Python
    computes from the imported records."""
    expected = Counter(int(r.ra // 100) for r in alerts if r.ra is not None)
    tap = _tap(live_url)
    for key in ("FLOOR(ra / 100)", "bin", "1"):
        res = tap.search(f"SELECT FLOOR(ra / 100) AS bin, COUNT(*) AS n FROM nufair.alerts "
                         f"GROUP BY {key} ORDER BY bin")
        assert {int(b): int(n) for b, n in zip(res["bin"], res["n"], strict=True)} == expected
    # an expression of the key with a constant of its own, grouped by the same expression
    res = tap.search("SELECT FLOOR(ra / 100) * 100 AS lo, COUNT(*) AS n FROM nufair.alerts "
                     "GROUP BY FLOOR(ra / 100) * 100")
    assert {int(lo) // 100: int(n) for lo, n in zip(res["lo"], res["n"], strict=True)} \
        == expected


def test_join_using_and_natural_give_one_column(live_url: str,
                                                alerts: list[NoticeRecord]) -> None:
    """JOIN ... USING (alert_id): the unqualified name is the joined column, listed once by
    ``*``; NATURAL JOIN of a table with itself matches every row once."""
    tap = _tap(live_url)
    names = sorted(r.name for r in alerts if r.name)
    res = tap.search("SELECT alert_id, a.name FROM nufair.alerts AS a "
                     "JOIN nufair.revisions AS r USING (alert_id) ORDER BY a.name")
    assert sorted(res["name"]) == names
    star = tap.search("SELECT * FROM nufair.alerts AS a JOIN nufair.alerts AS b "
                      "USING (alert_id)")
    cols = star.to_table().colnames
    assert cols.count("alert_id") == 1 and cols[0] == "alert_id"
    assert len(star) == len(alerts)
    nat = tap.search("SELECT name, ra FROM nufair.alerts NATURAL JOIN "
                     "(SELECT alert_id, name, ra FROM nufair.alerts) AS x ORDER BY name")
    assert list(nat["name"]) == names
    left = tap.search("SELECT alert_id FROM nufair.alerts AS a LEFT OUTER JOIN "
                      "(SELECT alert_id FROM nufair.alerts WHERE ra > 200) AS x "
                      "USING (alert_id)")
    assert len(left) == len(alerts)


def test_is_null_on_every_kind(live_url: str, alerts: list[NoticeRecord],
                               storage: CatalogStorage) -> None:
    """moc50 IS NULL finds the alerts without a 50 % region; a POINT of a NULL coordinate
    is NULL; IS NOT NULL is the complement."""
    storage.import_records([record(run=2000, event=1, name="IceCube-990101A", ra=10.0,
                                   dec=-5.0, r90=1.0, r50=None)])
    tap = _tap(live_url)
    no50 = tap.search("SELECT name FROM nufair.alerts WHERE moc50 IS NULL")
    assert list(no50["name"]) == ["IceCube-990101A"]
    with50 = tap.search("SELECT COUNT(*) AS n FROM nufair.alerts WHERE moc50 IS NOT NULL")
    assert int(with50["n"][0]) == len(alerts)
    with90 = tap.search("SELECT COUNT(*) AS n FROM nufair.alerts WHERE moc90 IS NULL")
    assert int(with90["n"][0]) == 0
    # the new alert has no energy: its POINT(ra, energy) is NULL, the others' are not
    points = tap.search("SELECT name FROM nufair.alerts "
                        "WHERE POINT('ICRS', ra, energy) IS NULL")
    assert list(points["name"]) == ["IceCube-990101A"]
    times = tap.search("SELECT COUNT(*) AS n FROM nufair.alerts WHERE event_time IS NULL "
                       "OR retracted IS NULL")
    assert int(times["n"][0]) == 0
