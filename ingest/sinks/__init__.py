"""Where notices go: each sink delivers one outbox notice at a time.

A sink's :meth:`~Sink.deliver` either returns a :class:`Receipt` (delivered) or raises
:class:`DeliveryError` (the dispatcher records the attempt and retries later). Sinks must
tolerate a repeat of the same notice (at-least-once delivery): each carries the notice's
idempotency key so that the receiver can drop duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from catalog.schema.outbox import NoticeRead


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a sink reports for a delivered notice."""

    detail: str
    status_code: int | None = None


class DeliveryError(Exception):
    """A failed delivery; the notice stays pending and is tried again."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class Sink(Protocol):
    """A destination of notices."""

    name: str
    formats: tuple[str, ...]

    def deliver(self, notice: NoticeRead) -> Receipt:
        """Deliver ``notice``: a :class:`Receipt`, or :class:`DeliveryError` raised."""

    def close(self) -> None:
        """Release the sink's connections; it is not used after."""
