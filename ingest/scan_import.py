"""Import skymap_scanner / SkyDriver's result JSON as a finished scan of a stored event.

The rules, top to bottom (:func:`import_scan`):

1. the JSON is read as a :class:`~reco.result.ScanResult` (:func:`reco.skyreader.import_result`)
   and its 50 % / 90 % regions computed from its levels (:func:`reco.regions.compute_regions`:
   at nside 1 they are whole base pixels, 3438 deg² each); a result that cannot be read is
   :class:`InvalidScanResult` (422);
2. the event is resolved (404), must have a raw event (a scan row needs one: 409 otherwise)
   and carry the result's run and event numbers (:class:`ScanResultMismatch`, 422);
3. only then is anything stored: a scan row born claimed by the importer
   (:mod:`catalog.storage.scan_import`), finished by the scan service's own publisher
   (:class:`ingest.scanning.update.UpdatePublisher`: final snapshot, and for
   ``publish='update'`` the update revision with its FITS skymaps, MOCs, region tiles and
   notices, in one transaction). Should that fail, the row is removed: nothing half-stored.

Provenance: the scan's ``config`` is ``{"source": "skymap_scanner", ...}`` (with the file's
SHA-256 and skymap_scanner's metadata), its labels include ``skymap_scanner``, and the same
config travels into the update revision's ``scan_config``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from catalog.errors import Conflict, InvalidInput
from catalog.schema.ingest import ScanRead
from catalog.storage.scan_import import ImportStorage
from catalog.storage.scans import Snapshot
from ingest.scanning.service import MAX_NSIDE, ScanService
from ingest.scanning.update import UpdatePublisher
from reco.regions import compute_regions
from reco.result import ScanResult
from reco.skyreader import import_result

#: The label every imported scan carries (besides the caller's).
IMPORT_LABEL = "skymap_scanner"


class InvalidScanResult(InvalidInput):
    """The body is not a skymap_scanner result JSON nufair can read."""

    code = "invalid_scan_result"


class ScanResultMismatch(InvalidInput):
    """The result is of another event than the one named."""

    code = "scan_result_mismatch"


def read_result(data: Any) -> ScanResult:
    """``data`` (skymap_scanner's result JSON, decoded) as a ScanResult with its regions;
    :class:`InvalidScanResult` for anything else."""
    if not isinstance(data, dict):
        raise InvalidScanResult("a skymap_scanner result is a JSON object keyed 'nside-N'")
    for key, entry in data.items():
        nside = key.removeprefix("nside-")
        if not (nside.isdigit() and _power_of_two(int(nside)) and int(nside) <= MAX_NSIDE
                and isinstance(entry, dict)):
            raise InvalidScanResult(f"{key[:40]!r}: expected 'nside-N' (N a power of two ≤ "
                                    f"{MAX_NSIDE}) holding an object",
                                    details={"reason": "nside"})
    try:
        result = import_result(data)
        result.regions = compute_regions(result)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, AttributeError) as exc:
        raise InvalidScanResult(f"not a readable skymap_scanner result: {type(exc).__name__}: "
                                f"{str(exc)[:200]}", details={"reason": type(exc).__name__}
                                ) from None
    if not math.isfinite(result.best.llh):
        raise InvalidScanResult("no pixel with a finite llh")
    return result


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def provenance(data: dict[str, Any], result: ScanResult) -> dict[str, Any]:
    """The scan ``config`` of an imported result: its source, digest and metadata."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    meta = {key: entry.get("metadata", {}) for key, entry in data.items()}
    return {"source": IMPORT_LABEL, "sha256": hashlib.sha256(canonical).hexdigest(),
            "nsides": [[lv.nside, 0] for lv in result.levels], "metadata": meta}


def import_scan(svc: ScanService, publisher: UpdatePublisher, *, event: str, data: Any,
                publish: str = "update", labels: Sequence[str] = ()) -> ScanRead:
    """Store skymap_scanner's result ``data`` as a finished scan of ``event`` (see the module
    docstring); the stored scan."""
    result = read_result(data)
    with svc.catalog.engine.connect() as conn:
        event_pk = int(svc.catalog.resolve_event(conn, event).id)
    raw_pk = svc.scans.raw_event_of(event_pk)
    if raw_pk is None:
        raise Conflict(f"event {event!r} has no raw event to attach a scan to "
                       "(it was imported from a notice)", details={"event": event})
    raw = svc.raw.get(raw_pk)
    if raw is None:  # removed meanwhile
        raise Conflict(f"event {event!r} lost its raw event", details={"event": event})
    if (raw.run_id, raw.event_id) != (result.run_id, result.event_id):
        raise ScanResultMismatch(
            f"the result is of run {result.run_id} event {result.event_id}, event {event!r} "
            f"is run {raw.run_id} event {raw.event_id}",
            details={"event": event, "run_id": result.run_id, "event_id": result.event_id})
    result.config = provenance(data, result)
    n = sum(len(lv.pixel) for lv in result.levels)
    b = result.best
    final = Snapshot(1.0, n, n, 0.0, 0.0, (math.degrees(b.ra), math.degrees(b.dec), b.llh))
    store = ImportStorage(svc.scans)
    row, token = store.open_claimed(
        raw_pk, config=result.config, labels=[IMPORT_LABEL, *labels], publish=publish,
        worker=f"import:{socket.gethostname()}:{os.getpid()}")
    try:
        with _heartbeats(svc, row.id, token):
            publisher.finish(row, token, result, final)
    except BaseException:
        store.discard(row.id)
        raise
    return svc.scans.get(row.id)


#: Seconds between heartbeats of an import being stored (well under the runners' stale_s).
HEARTBEAT_S = 2.0


@contextlib.contextmanager
def _heartbeats(svc: ScanService, pk: int, token: str) -> Iterator[None]:
    """Heartbeats on the importer's claim while the block runs: writing the skymaps can take
    longer than a runner's ``stale_s``, and a stale row would be claimed (and scanned)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # lost or database away: finish() will say
                svc.scans.heartbeat(pk, token)

    thread = threading.Thread(target=beat, daemon=True, name=f"nufair-import-{pk}-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(HEARTBEAT_S + 5)
