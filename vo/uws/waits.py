"""UWS 1.1 blocking polls (``WAIT``): how long one may wait, and how many wait at once.

A WAIT is a coroutine on the event loop and holds no thread; :class:`WaitGate` caps the
WAITs held at once per quota key and in all, past which a WAIT answers at once with the
current phase, as UWS allows.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from vo.errors import VoError


@dataclass(frozen=True, slots=True, eq=False)
class Waiter:
    """A WAIT coroutine: its event, set from the listener thread through its loop."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event

    def wake(self) -> None:
        """Set the event (thread-safe); a loop already closed has nobody left to wake."""
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)


class WaitGate:
    """Caps of the WAITs held at once: per quota key and in all (this process)."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def held(self) -> int:
        """WAITs held now."""
        with self._lock:
            return sum(self._held.values())

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[bool]:
        """Yields True if ``key`` may wait now (and holds a slot until the block ends)."""
        with self._lock:
            mine = self._held.get(key, 0)
            allowed = mine < self.per_client and sum(self._held.values()) < self.total
            if allowed:
                self._held[key] = mine + 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._lock:
                    left = self._held[key] - 1
                    if left:
                        self._held[key] = left
                    else:
                        del self._held[key]


def wait_seconds(raw: Any, longest: float) -> float:
    """Seconds a WAIT asks for: negative or infinite is the longest, as is more than that."""
    try:
        wait = float(str(raw))
    except ValueError:
        raise VoError("WAIT must be a number of seconds") from None
    if math.isnan(wait):
        raise VoError("WAIT must be a number of seconds")
    return longest if wait < 0 else min(wait, longest)
