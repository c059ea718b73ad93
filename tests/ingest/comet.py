"""A real Comet VOEvent broker for the tests, and a small VTP subscriber.

The broker is Comet's own ``twistd comet`` in a child process, on two free loopback ports:
the receiver (authors submit there) and the broadcaster (subscribers listen there). It
checks what it receives the way it does in production: the VOEvent 2.0 schema, a valid
IVORN with a local part, and "not previously seen"; only 127.0.0.1 may submit or subscribe.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from ingest.sinks.vtp import TRANSPORT_NS, frame, read_frame
from tests.serving import free_port

BROKER_IVORN = "ivo://nufair.test/broker"
SUBSCRIBER_IVORN = "ivo://nufair.test/subscriber"


def _twistd() -> str:
    return str(Path(sys.executable).with_name("twistd"))


class CometBroker:
    """``twistd -n comet --receive --broadcast`` on loopback; ``start``/``stop`` at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.receive_port = free_port()
        self.broadcast_port = free_port()
        self.log = folder / "comet.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.folder / "eventdb").mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [_twistd(), "--nodaemon", "--pidfile=", "comet",
                 "--receive", "--receive-port", str(self.receive_port),
                 "--broadcast", "--broadcast-port", str(self.broadcast_port),
                 "--local-ivo", BROKER_IVORN, "--eventdb", str(self.folder / "eventdb"),
                 "--broadcast-test-interval", "0",
                 "--author-whitelist", "127.0.0.1/32",
                 "--subscriber-whitelist", "127.0.0.1/32", "--verbose"],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"comet exited: {self.log.read_text()[-2000:]}")
            text = self.log.read_bytes()[offset:].decode()
            if all(f"starting on {port}" in text
                   for port in (self.receive_port, self.broadcast_port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"comet did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            self._proc = None


def _transport(role: str, origin: str) -> bytes:
    """A VTP transport message (ack / iamalive) from our subscriber."""
    root = etree.Element(f"{{{TRANSPORT_NS}}}Transport", nsmap={"trn": TRANSPORT_NS},
                         attrib={"version": "1.0", "role": role})
    etree.SubElement(root, "Origin").text = origin
    etree.SubElement(root, "Response").text = SUBSCRIBER_IVORN
    etree.SubElement(root, "TimeStamp").text = datetime.now(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


class Subscriber:
    """A VTP subscriber on the broker's broadcast port: receives and acknowledges events."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        # The broker greets each new subscriber with role="authenticate" once it has put
        # it on its distribution list: after this, every event it relays reaches us.
        first = etree.fromstring(read_frame(self.sock))
        assert first.get("role") == "authenticate", etree.tostring(first)

    def next_event(self) -> bytes:
        """The next VOEvent relayed by the broker, exactly as sent (acknowledged)."""
        while True:
            raw = read_frame(self.sock)
            root = etree.fromstring(raw)
            if root.tag == f"{{{TRANSPORT_NS}}}Transport":
                if root.get("role") == "iamalive":
                    self.sock.sendall(frame(_transport("iamalive", BROKER_IVORN)))
                continue
            self.sock.sendall(frame(_transport("ack", root.get("ivorn", ""))))
            return raw

    def close(self) -> None:
        self.sock.close()
