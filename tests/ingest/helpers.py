"""Shared pieces of the ingest tests: records, publish configs and a webhook receiver."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from catalog.notices.parsed import ErrorRegion, NoticeRecord, RevisionKind, Source, Stream
from catalog.publish import PublishConfig, Publisher, Route
from catalog.storage.events import CatalogStorage
from catalog.storage.outbox import OutboxStorage
from ingest.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

IVORN_BASE = "ivo://nufair.test/IceCube"
SECRET = b"test-webhook-secret"
T0 = datetime(2020, 6, 15, 14, 49, 17, 370000, tzinfo=UTC)


def reco_record(run: int = 134191, event: int = 17593623, *, number: int = 0,
                stream: Stream = Stream.GOLD, ra: float = 142.9499, dec: float = 3.66,
                r50: float = 0.7199, r90: float = 1.2199, energy: float = 496.3637,
                signalness: float = 0.8283, far: float = 0.2894,
                time: datetime = T0) -> NoticeRecord:
    """A revision as the pipeline makes it (source ``reco``)."""
    return NoticeRecord(
        observatory="IceCube", run_id=run, event_id=event, name=None, stream=stream,
        event_time=time, kind=RevisionKind.INITIAL if number == 0 else RevisionKind.UPDATE,
        source=Source.RECO, source_rev=number,
        source_key=f"reco:IceCube:{run}:{event}:{number}", issued_at=datetime.now(UTC),
        ra=ra, dec=dec,
        regions=(ErrorRegion(0.5, radius_deg=r50), ErrorRegion(0.9, radius_deg=r90)),
        energy_tev=energy, signalness=signalness, far_per_year=far)


def publish_config(*routes: tuple[str, tuple[str, ...]]) -> PublishConfig:
    chosen = routes or (("folder", ("gcn-json", "voevent", "circular")),)
    return PublishConfig(ivorn_base=IVORN_BASE,
                         routes=tuple(Route(s, f) for s, f in chosen))  # type: ignore[arg-type]


def publishing(storage: CatalogStorage, config: PublishConfig,
               ) -> tuple[Publisher, OutboxStorage]:
    """A publisher with ``config`` and the outbox it fills (tests publish, then dispatch)."""
    return Publisher(storage.engine, config, pids=storage.pids), OutboxStorage(storage.engine)


@dataclass
class Received:
    """What the test webhook receiver got."""

    first_bodies: dict[str, bytes] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def digest(self, key: str) -> str:
        return hashlib.sha256(self.first_bodies[key]).hexdigest()


class Receiver:
    """A real HTTP server on loopback that checks signatures and de-duplicates on the key.

    ``stop()`` takes it down (connections are refused); ``start()`` brings it back on the
    same port. ``fail_next`` answers that many requests with 503 first.
    """

    def __init__(self) -> None:
        self.received = Received()
        self.port = 0
        self.fail_next = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notices"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key", "")
                rec = outer.received
                with rec.lock:
                    if outer.fail_next > 0:
                        outer.fail_next -= 1
                        self._answer(503)
                        return
                    ok = verify_signature(SECRET, self.headers.get(TIMESTAMP_HEADER, ""), key,
                                          body, self.headers.get(SIGNATURE_HEADER, ""))
                    if not ok:
                        rec.bad_signatures += 1
                        self._answer(401)
                        return
                    rec.requests[key] += 1
                    rec.first_bodies.setdefault(key, body)
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
