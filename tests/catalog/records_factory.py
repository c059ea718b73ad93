"""Build NoticeRecords for tests without going through an importer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream


def record(run: int = 134191, event: int = 17593623, *, rev: int | None = 0,
           ra: float = 143.4519, dec: float = 3.7891, r90: float | None = 1.2199,
           r50: float | None = None, name: str | None = None,
           source: Source = Source.GCN_VOEVENT, key: str | None = None,
           kind: RevisionKind | None = None, issued: datetime | None = None,
           box90: tuple[float, float, float, float] | None = None,
           time: datetime | None = None, **extra: Any) -> NoticeRecord:
    regions = []
    if r90 is not None and box90 is None:
        regions.append(ErrorRegion(0.9, radius_deg=r90))
    if box90 is not None:
        rp, rm, dp, dm = box90
        regions.append(ErrorRegion(0.9, ra_plus=rp, ra_minus=rm, dec_plus=dp, dec_minus=dm))
    if r50 is not None:
        regions.append(ErrorRegion(0.5, radius_deg=r50))
    if kind is None:
        kind = RevisionKind.INITIAL if rev == 0 else RevisionKind.UPDATE
    return NoticeRecord(
        observatory="IceCube", run_id=run, event_id=event, name=name, stream=Stream.GOLD,
        event_time=time or datetime(2020, 6, 15, 14, 49, 17, 370000, tzinfo=UTC),
        kind=kind, source=source, source_rev=rev,
        source_key=key or f"{source.value}:{run}:{event}:{rev}",
        issued_at=issued, ra=ra, dec=dec, regions=tuple(regions),
        energy_tev=extra.pop("energy_tev", None), signalness=extra.pop("signalness", None),
        far_per_year=extra.pop("far_per_year", None), extra=extra,
    )
