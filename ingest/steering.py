"""Steering the outbox: list notices, retry one, replay an alert's or a sink's history.

A replay sends the announced revisions again, in order, to one sink or to every configured
one. For a sink added after a revision was announced there is no notice yet: the replay
renders it now from the stored revision (the same rules as at publication,
:func:`catalog.publish.notice_input`) and queues it beside the others. Every notice of the
replay is then pending and due at once, and the claim's ordering condition sends each
alert's revisions to each sink in revision order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from catalog.errors import InvalidInput
from catalog.publish import Publisher, notice_input, rendered_notices
from catalog.schema.outbox import NoticeStatusRead
from catalog.storage.steering import NoticeFilter, SteeringStorage, SteeringStore
from catalog.storage.unit import catalog_tx


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay queued: the revisions it covers, the notices rendered for the first
    time (a sink that had none) and every notice now pending, by id."""

    revisions: int
    rendered: int
    notices: list[int]


class OutboxSteering:
    """The rules of steering; the SQL is :mod:`catalog.storage.steering`'s."""

    def __init__(self, engine: Engine, publisher: Publisher,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.storage = SteeringStorage(engine)
        self.on_queued = on_queued

    @property
    def sinks(self) -> list[str]:
        """The configured sinks, by name."""
        return [r.sink for r in self.publisher.config.routes]

    def _check_sink(self, sink: str | None) -> None:
        if sink is not None and sink not in self.sinks:
            raise InvalidInput(f"no sink {sink!r} is configured",
                               details={"sink": sink, "configured": self.sinks})

    def list(self, *, alert: str | None = None, sink: str | None = None,
             state: str | None = None, after_id: int = 0, limit: int = 100,
             ) -> list[NoticeStatusRead]:
        """One page of notices, by id (``after_id``: the last id of the previous page)."""
        event_pk = None if alert is None else self.storage.event_pk(alert)
        return self.storage.list(NoticeFilter(event_pk=event_pk, sink=sink, state=state,
                                              after_id=after_id, limit=limit))

    def retry(self, notice_pk: int) -> NoticeStatusRead:
        """Make a failed or waiting notice due now (``Conflict`` if delivered)."""
        out = self.storage.retry(notice_pk)
        self.on_queued()
        return out

    def replay(self, *, alert: str | None = None, sink: str | None = None,
               since: datetime | None = None) -> Replay:
        """Send again every announced revision of ``alert`` (or of every alert announced
        since ``since``) to ``sink`` (or to every configured sink), in order.

        At least one of ``alert`` and ``sink`` is required: a replay of everything to
        everyone is not what an operator means by accident.
        """
        if alert is None and sink is None:
            raise InvalidInput("name an alert, a sink, or both to replay")
        self._check_sink(sink)
        routes = [r for r in self.publisher.config.routes if sink is None or r.sink == sink]
        event_pk = None if alert is None else self.storage.event_pk(alert)
        rendered = 0
        with catalog_tx(self.engine) as tx:
            store = SteeringStore(tx.conn)
            revs = store.announced_revisions(event_pk, since)
            for revision_pk in revs:
                facts = tx.outbox.notice_facts(revision_pk)
                ivorn = facts.revision.ivorn
                if ivorn is None:  # announced revisions have one; kept as a guard
                    continue
                n = notice_input(facts, ivorn, self.publisher.config)
                rendered += tx.outbox.insert(rendered_notices(n, revision_pk, routes))
            pending = store.requeue(revs, [r.sink for r in routes])
        self.on_queued()
        return Replay(revisions=len(revs), rendered=rendered, notices=pending)
