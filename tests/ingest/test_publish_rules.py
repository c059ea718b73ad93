"""The publication rules of :mod:`catalog.publish`, without a database: names and what a
notice shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from catalog.publish import NAME_LETTERS, name_prefix, next_alert_name


def test_alert_names_take_the_days_next_letter_in_utc() -> None:
    late = datetime(2020, 6, 15, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert name_prefix(late) == "IceCube-200616"  # 01:30 UTC the next day
    assert name_prefix(datetime(2020, 6, 15, 0, 0, tzinfo=UTC)) == "IceCube-200615"
    prefix = "IceCube-200615"
    assert next_alert_name(prefix, set()) == prefix + "A"
    assert next_alert_name(prefix, {prefix + "A", prefix + "C"}) == prefix + "B"


def test_after_26_alerts_in_a_day_the_next_stays_unnamed() -> None:
    prefix = "IceCube-200615"
    assert next_alert_name(prefix, {prefix + c for c in NAME_LETTERS}) is None
