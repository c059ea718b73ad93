"""The sinks of region subscriptions: ``sub:<id>`` resolved to a sink built from the
subscription when one of its notices is delivered.

A webhook subscription gets a :class:`~ingest.sinks.webhook.WebhookSink` on its own URL,
signed with its own secret (the same ``X-Nufair-Signature`` scheme as the configured
webhook); before every attempt the URL's host is resolved and refused unless every address
is public (:func:`catalog.subscriptions.urls.refuse_private`, against server-side request
forgery). A subscription naming a configured sink (folder, webhook, vtp, gcn-kafka) is
delivered through that sink: the folder and the webhook get the JSON envelope as it is; VTP
and GCN Kafka speak fixed formats, so they get the notice inside it (VOEvent, GCN JSON),
without the overlap figures.

A deleted subscription's pending notices fail with status 410 (a permanent refusal); a
paused one still receives what was queued before it was paused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence

from catalog.schema.outbox import NoticeRead
from catalog.subscriptions.matching import SINK_PREFIX
from catalog.subscriptions.storage import SubscriptionStorage, subscription_pk_of
from catalog.subscriptions.urls import PrivateTarget, refuse_private
from ingest.sinks import DeliveryError, Receipt, Sink
from ingest.sinks.webhook import WebhookSink

#: Configured sinks that take the bare notice rather than the JSON envelope.
BARE_NOTICE_SINKS = frozenset({"vtp", "gcn-kafka"})


def bare_notice(notice: NoticeRead) -> NoticeRead:
    """The notice inside a subscription envelope, as its own outbox notice."""
    inner = json.loads(notice.payload)["notice"]
    body = inner["body"]
    payload = json.dumps(body).encode() if inner["format"] == "gcn-json" else body.encode()
    return notice.model_copy(update={"format": inner["format"],
                                     "media_type": inner["media_type"], "payload": payload})


class _Checked:
    """A subscription's webhook, its host checked before every attempt."""

    def __init__(self, webhook: WebhookSink, allow_private: bool) -> None:
        self.webhook = webhook
        self.name = webhook.name
        self.formats = webhook.formats
        self.allow_private = allow_private

    def deliver(self, notice: NoticeRead) -> Receipt:
        try:
            refuse_private(self.webhook.url, allow_private=self.allow_private)
        except PrivateTarget as exc:
            raise DeliveryError(str(exc)) from exc
        return self.webhook.deliver(notice)

    def close(self) -> None:
        self.webhook.close()


class _Through:
    """A subscription delivered through a configured sink."""

    def __init__(self, name: str, sink: Sink) -> None:
        self.name = name
        self.sink = sink
        self.formats = sink.formats

    def deliver(self, notice: NoticeRead) -> Receipt:
        if self.sink.name in BARE_NOTICE_SINKS:
            notice = bare_notice(notice)
        return self.sink.deliver(notice)

    def close(self) -> None:
        """The configured sink is the dispatcher's to close."""


class SubscriptionSinks:
    """The dispatcher's resolver of ``sub:<id>`` sink names
    (:class:`ingest.dispatcher.SinkResolver`)."""

    prefix = SINK_PREFIX

    def __init__(self, storage: SubscriptionStorage,
                 configured: Sequence[Sink] | Mapping[str, Sink], *,
                 allow_private: bool = False, timeout_s: float = 5.0) -> None:
        self.storage = storage
        self.configured = (dict(configured) if isinstance(configured, Mapping)
                           else {s.name: s for s in configured})
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self._webhooks: dict[tuple[int, str, str], _Checked] = {}
        self._lock = threading.Lock()

    def sink(self, name: str) -> Sink:
        """The sink of subscription ``name`` as it stands now."""
        pk = subscription_pk_of(name)
        sub = None if pk is None else self.storage.sink_of(pk)
        if pk is None or sub is None:
            raise DeliveryError(f"no subscription {name!r}", status_code=404)
        if sub.state == "deleted":
            raise DeliveryError(f"subscription {pk} was deleted", status_code=410)
        if sub.sink_kind == "sink":
            configured = self.configured.get(sub.sink_target)
            if configured is None:
                raise DeliveryError(f"subscription {pk}: sink {sub.sink_target!r} is not "
                                    "configured on this server")
            return _Through(name, configured)
        key = (pk, sub.sink_target, sub.secret or "")
        with self._lock:
            found = self._webhooks.get(key)
            if found is None:
                found = _Checked(WebhookSink(sub.sink_target, (sub.secret or "").encode(),
                                             timeout_s=self.timeout_s, name=name,
                                             formats=("subscription",)),
                                 self.allow_private)
                self._webhooks[key] = found
        return found

    def close(self) -> None:
        """Close every webhook client built."""
        with self._lock:
            for hook in self._webhooks.values():
                hook.close()
            self._webhooks.clear()
