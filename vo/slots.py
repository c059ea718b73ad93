"""Admission of synchronous TAP queries: how many run at once, and how many heavy ones.

Each synchronous query holds a pooled connection of the VO engine while its answer is
written; :class:`SyncSlots` caps them below the pool's size so that cone searches and
DataLink still get a connection, and caps apart the queries the planner expects to be
heavy, so that heavy queries cannot starve small ones (issue 12: 25 cross joins made a small
query wait 27.6 s). The queries also run in threads of their own (:attr:`SyncSlots.threads`,
one a slot), not in the server's shared handler threads: a slot's query may block for the
whole statement timeout, and it must not take a thread that pages and cone searches need.
"""

from __future__ import annotations

import asyncio

import anyio
import anyio.from_thread

from vo.config import VoConfig
from vo.errors import ServiceBusy
from vo.resultstream import PlanEstimate


class SyncSlots:
    """Slots of the synchronous TAP queries: at most ``slots`` at once, and of them at most
    ``heavy`` that the planner expects to cost over ``heavy_cost`` or to return over
    ``heavy_bytes``. A query waits up to ``wait_s`` for a slot, a heavy query (which holds a
    slot while it waits) up to ``heavy_wait_s`` more for a heavy slot, then is refused with
    :class:`ServiceBusy`. A burst of heavy queries can then neither exhaust the VO engine's
    pool nor hold the slots of small queries for long."""

    def __init__(self, slots: int, heavy: int, heavy_cost: float, wait_s: float,
                 heavy_bytes: float = float("inf"), heavy_wait_s: float | None = None,
                 ) -> None:
        self.slots = slots
        self.heavy = heavy
        self.heavy_cost = heavy_cost
        self.heavy_bytes = heavy_bytes
        self.wait_s = wait_s
        self.heavy_wait_s = wait_s if heavy_wait_s is None else heavy_wait_s
        self._all = asyncio.Semaphore(slots)
        self._heavy = asyncio.Semaphore(heavy)
        #: The worker threads of the admitted queries, one a slot (``anyio.to_thread``'s
        #: ``limiter``): opening a query, writing its answer and closing it run there.
        self.threads = anyio.CapacityLimiter(slots)

    @classmethod
    def of(cls, cfg: VoConfig) -> SyncSlots:
        """The slots ``cfg`` asks for (made in the app's event loop, by its lifespan)."""
        return cls(cfg.sync_slots, cfg.heavy_slots, cfg.heavy_cost, cfg.sync_queue_s,
                   cfg.heavy_bytes, cfg.heavy_queue_s)

    @property
    def free(self) -> tuple[int, int]:
        """(free slots, free heavy slots)."""
        return self._all._value, self._heavy._value

    async def _take(self, sem: asyncio.Semaphore, what: str, wait_s: float) -> None:
        try:
            if wait_s <= 0 and sem.locked():
                raise TimeoutError
            await asyncio.wait_for(sem.acquire(), max(wait_s, 0.001))
        except TimeoutError:
            raise ServiceBusy(f"all {what} are busy; retry later, or submit the query to "
                              "/tap/async") from None

    async def enter(self) -> SyncTicket:
        """A ticket holding one slot (waits, or raises :class:`ServiceBusy`)."""
        await self._take(self._all, f"{self.slots} synchronous query slots", self.wait_s)
        return SyncTicket(self)

    async def enter_heavy(self) -> None:
        """Take a heavy slot besides the one already held (waits, or raises)."""
        await self._take(self._heavy,
                         f"{self.heavy} slots for heavy queries (planned cost over "
                         f"{self.heavy_cost:g} or answer over {self.heavy_bytes:g} bytes)",
                         self.heavy_wait_s)

    def release(self, heavy: bool) -> None:
        """Give back one slot, and the heavy slot with it when ``heavy``."""
        if heavy:
            self._heavy.release()
        self._all.release()


class SyncTicket:
    """The slots one synchronous query holds; :meth:`leave` gives them back (once)."""

    def __init__(self, slots: SyncSlots) -> None:
        self.slots = slots
        self.heavy = False
        self.done = False

    async def admit_heavy(self) -> None:
        """Also hold a heavy slot (waits in the event loop, or raises ServiceBusy)."""
        await self.slots.enter_heavy()
        self.heavy = True

    def admit(self, plan: PlanEstimate) -> None:
        """Called from the worker thread that opens the query, with the planner's estimate:
        a heavy query also takes a heavy slot (waits in the event loop, or raises)."""
        if plan.cost > self.slots.heavy_cost or plan.bytes > self.slots.heavy_bytes:
            anyio.from_thread.run(self.admit_heavy)

    def leave(self) -> None:
        """Give the slots back (a second call does nothing)."""
        if self.done:
            return
        self.done = True
        self.slots.release(self.heavy)
