"""The VOEvent broker sink: VOEvent notices sent over the VOEvent Transport Protocol.

VTP (IVOA Note "VOEvent Transport Protocol", Allan & Denny 2009) is a TCP exchange in which
every message is a 4-byte network-order (big-endian) length followed by that many bytes of
XML. An author connects to a broker's receiver port, sends one VOEvent and waits for a
``<trn:Transport role="ack">`` (accepted) or ``role="nak"`` (refused, with the reason in
``Meta/Result``); then the connection is closed.

Why the framing is written here: the only maintained implementation, Comet, is a Twisted
application: its sender (``comet.protocol.sender.VOEventSender``) needs a running Twisted
reactor, which is global and cannot be restarted, and it reports neither the ack nor the nak
back to its caller (only through log lines). The dispatcher needs a plain blocking call that
says "delivered" or raises, so we implement the few lines of framing with :mod:`socket` and
:mod:`struct`; tests check it against a real Comet broker.

An ack must name our event (its ``Origin`` is the VOEvent's IVORN). A nak is a failed
attempt (the dispatcher retries), except a nak that says the broker has already seen this
IVORN: that is the answer to a repeat of a notice whose first ack was lost, so the notice is
held by the broker and counts as delivered (otherwise it would be retried forever).
"""

from __future__ import annotations

import socket
import struct

from defusedxml import ElementTree as SafeET

from catalog.schema.outbox import NoticeRead
from ingest.sinks import DeliveryError, Receipt

#: The 4-byte, network-order length prefix of every VTP message.
LENGTH = struct.Struct("!I")
#: Largest reply we read (an ack or nak is a few hundred bytes).
MAX_REPLY_BYTES = 1 << 20
#: Namespace of the VTP transport messages.
TRANSPORT_NS = "http://www.telescope-networks.org/xml/Transport/v1.1"
#: Words of a nak meaning "I already hold this event" (Comet: "Previously seen by this broker").
ALREADY_SEEN = "previously seen"


def frame(payload: bytes) -> bytes:
    """One VTP message: the 4-byte big-endian length, then ``payload``."""
    return LENGTH.pack(len(payload)) + payload


def read_frame(sock: socket.socket, max_bytes: int = MAX_REPLY_BYTES) -> bytes:
    """Read one VTP message from ``sock`` (``ConnectionError`` if it closes first)."""
    (size,) = LENGTH.unpack(_read_exactly(sock, LENGTH.size))
    if size > max_bytes:
        raise ConnectionError(f"VTP message of {size} bytes exceeds {max_bytes}")
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(chunks)} of {n} bytes")
        chunks.extend(chunk)
    return bytes(chunks)


def voevent_ivorn(payload: bytes) -> str:
    """The ``ivorn`` attribute of a VOEvent document."""
    root = SafeET.fromstring(payload)
    ivorn = root.get("ivorn")
    if not ivorn:
        raise ValueError("the VOEvent has no ivorn attribute")
    return str(ivorn)


class VTPSink:
    """Send VOEvent notices to a broker's receiver port (``host``, ``port``).

    Parameters
    ----------
    host, port
        The broker's author (receiver) endpoint, e.g. Comet's ``--receive-port``.
    timeout_s
        Limit of the connection and of the wait for the ack.
    """

    def __init__(self, host: str, port: int, *, timeout_s: float = 10.0,
                 name: str = "vtp") -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.name = name
        self.formats: tuple[str, ...] = ("voevent",)

    def deliver(self, notice: NoticeRead) -> Receipt:
        """Send the VOEvent and wait for the broker's ack; a nak for an event it already holds
        counts as delivered, any other nak or reply is a :class:`DeliveryError`."""
        if notice.format != "voevent":
            raise DeliveryError(f"the VTP sink sends VOEvents, not {notice.format}")
        try:
            ivorn = voevent_ivorn(notice.payload)
        except (ValueError, SafeET.ParseError) as exc:
            raise DeliveryError(f"not a VOEvent: {exc}") from exc
        try:
            with socket.create_connection((self.host, self.port),
                                          timeout=self.timeout_s) as sock:
                sock.sendall(frame(notice.payload))
                reply = read_frame(sock)
        except (OSError, ConnectionError) as exc:
            raise DeliveryError(f"VTP {self.host}:{self.port}: {type(exc).__name__}: "
                                f"{exc}") from exc
        return self._judge(reply, ivorn)

    def _judge(self, reply: bytes, ivorn: str) -> Receipt:
        try:
            root = SafeET.fromstring(reply)
        except SafeET.ParseError as exc:
            raise DeliveryError(f"unparsable VTP reply: {exc}") from exc
        if root.tag != f"{{{TRANSPORT_NS}}}Transport":
            raise DeliveryError(f"unexpected VTP reply <{root.tag}>")
        role = root.get("role")
        origin = (root.findtext("Origin") or "").strip()
        broker = (root.findtext("Response") or "").strip() or f"{self.host}:{self.port}"
        if role == "ack":
            if origin != ivorn:
                raise DeliveryError(f"ack for {origin!r}, not for {ivorn!r}")
            return Receipt(detail=f"VTP ack from {broker}")
        if role == "nak":
            reason = (root.findtext("Meta/Result") or "no reason given").strip()
            if ALREADY_SEEN in reason.lower():
                return Receipt(detail=f"VTP nak from {broker}, already held: {reason}")
            raise DeliveryError(f"VTP nak from {broker}: {reason}")
        raise DeliveryError(f"VTP reply with role {role!r}")

    def close(self) -> None:
        """Nothing to release: every delivery opens and closes its own connection."""
        return None
