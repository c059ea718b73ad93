"""The webhook sink: an HTTP POST of the notice, signed with HMAC-SHA256.

Headers of every request:

* ``Idempotency-Key`` — the same for every attempt of one notice: a receiver keeps the
  first and acknowledges the rest;
* ``X-Nufair-Timestamp`` — Unix seconds when the attempt was signed;
* ``X-Nufair-Signature`` — ``sha256=<hex>`` of HMAC-SHA256 over
  ``"<timestamp>.<idempotency key>.".encode() + body`` with the shared secret, so that a
  receiver can check origin, integrity and freshness (:func:`verify_signature`).

Any 2xx status is a delivery; anything else (or no answer) is a failed attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from catalog.schema.outbox import NoticeRead
from ingest.sinks import DeliveryError, Receipt

SIGNATURE_HEADER = "X-Nufair-Signature"
TIMESTAMP_HEADER = "X-Nufair-Timestamp"


def signature(secret: bytes, timestamp: str, key: str, body: bytes) -> str:
    """``sha256=<hex>`` of the HMAC-SHA256 of ``timestamp.key.body`` under ``secret``."""
    mac = hmac.new(secret, f"{timestamp}.{key}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: bytes, timestamp: str, key: str, body: bytes, given: str,
                     *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Check a received webhook: right signature and a timestamp within ``tolerance_s``."""
    try:
        age = abs((now if now is not None else time.time()) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(
        signature(secret, timestamp, key, body), given)


class WebhookSink:
    """POST each notice to ``url``."""

    def __init__(self, url: str, secret: bytes, *, formats: tuple[str, ...] = ("gcn-json",),
                 timeout_s: float = 5.0, name: str = "webhook") -> None:
        if not secret:
            raise ValueError("a webhook needs a non-empty secret")
        self.url = url
        self.secret = secret
        self.formats = formats
        self.name = name
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def deliver(self, notice: NoticeRead) -> Receipt:
        """POST the payload with its idempotency key, timestamp and HMAC signature headers;
        a transport error or a non-2xx answer is a :class:`DeliveryError`."""
        ts = str(int(time.time()))
        headers = {
            "Content-Type": notice.media_type,
            "Idempotency-Key": notice.idempotency_key,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: signature(self.secret, ts, notice.idempotency_key,
                                        notice.payload),
            "X-Nufair-Format": notice.format,
        }
        try:
            response = self._client.post(self.url, content=notice.payload, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}",
                                status_code=response.status_code)
        return Receipt(detail=f"HTTP {response.status_code}", status_code=response.status_code)

    def close(self) -> None:
        """Close the HTTP client's pooled connections."""
        self._client.close()
