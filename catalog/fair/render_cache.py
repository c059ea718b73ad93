"""Renderings of a record kept for its next view (issue 12: the normal clients' CPU).

A landing page embeds the record's JSON-LD, which lists the DataCite and DCAT exports with
their sizes and checksums: every view rendered the DCAT graph (rdflib) and the DataCite
forms again, ~25 ms of Python on a worker thread that competed with the event loop for the
GIL and the CPUs. The renderers are pure functions of the record and the archive's
:class:`~catalog.fair.config.FairConfig`, so a rendering is kept under a fingerprint of
both and served again while nothing it was made from has changed.

The fingerprint is a digest of the whole record as JSON (event and its revisions, DOIs with
their ``updated_at``, files), not the DOI's ``updated_at`` alone: that stamp does not move
when a file is attached or the event's status changes, both of which the exports show. It
costs ~0.1 ms against the ~25 ms of the renderings. The cache is bounded (least recently
used out first) and shared by the threads of one process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from pydantic import TypeAdapter

from catalog.fair.records import AlertRecord

T = TypeVar("T")

#: Renderings kept (each a few kB to a few tens of kB: a few MB in all at most).
ENTRIES = 512

_RECORD_JSON = TypeAdapter(AlertRecord)


def fingerprint(rec: AlertRecord) -> bytes:
    """A digest of everything ``rec`` holds: equal for equal records, different as soon as
    any field differs."""
    return hashlib.blake2b(_RECORD_JSON.dump_json(rec), digest_size=20).digest()


class RenderCache:
    """A bounded least-recently-used map of renderings, safe to share between threads.

    Values are shared between callers: only immutable ones (bytes) or ones every caller
    treats as read-only may be kept.
    """

    def __init__(self, entries: int = ENTRIES) -> None:
        self.entries = entries
        self._kept: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value kept under ``key``, or ``make()`` kept under it now. Two threads that
        miss at once both make it; the value is the same."""
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                self.hits += 1
                return cast(T, self._kept[key])  # kept by the ``make`` of this key
            self.misses += 1
        value = make()
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)
        return value

    def __len__(self) -> int:
        """Renderings kept now."""
        with self._lock:
            return len(self._kept)

    def clear(self) -> None:
        """Forget every rendering."""
        with self._lock:
            self._kept.clear()


#: The renderings of this process's landing pages and exports.
RENDERINGS = RenderCache()
