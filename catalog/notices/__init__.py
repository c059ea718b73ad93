"""Notice formats: what nufair publishes about one revision of an event.

Formats live here (catalog); delivery lives in ``ingest``. Every builder takes one
:class:`NoticeInput` and returns a :class:`RenderedNotice` (bytes plus media type and file
name), so the outbox stores exactly the bytes that are sent.

* ``gcn-json`` — GCN Kafka JSON of IceCube's ``single_neutrino_alerts`` topic, validated
  against the official schema (:mod:`catalog.notices.gcn_json`);
* ``voevent`` — VOEvent 2.0 shaped like IceCube's GCN notices (packets 173/174/176),
  built with voevent-parse and validated against the VOEvent 2.0 XSD
  (:mod:`catalog.notices.voevent`);
* ``circular`` — a plain-text GCN circular draft (:mod:`catalog.notices.circular`).

Test and simulation traffic (``NoticeInput.test``, set by :mod:`catalog.publish` for the
configured test observatories) is marked in every format: VOEvent ``role="test"`` with the
``Test``/``InternalTest`` flags, GCN JSON ``alert_tense: "test"``, a circular headed TEST.
"""

from __future__ import annotations

from catalog.notices.model import FORMATS, NoticeInput, RenderedNotice, render

__all__ = ["FORMATS", "NoticeInput", "RenderedNotice", "render"]
