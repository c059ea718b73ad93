"""Issue 16 item 9: the webhook verification snippet of the README works on a real signed
delivery, and refuses a tampered body, a wrong secret and a stale timestamp.

The snippet is taken from README.md as written (the python block under "Verifying webhook
signatures") and run against what a plain ``http.server`` receiver got from the webhook
sink; nothing of nufair's own verification is used.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from catalog.storage.events import CatalogStorage
from ingest.dispatcher import Dispatcher
from ingest.sinks.webhook import WebhookSink
from tests.ingest.helpers import publish_config, publishing, reco_record

README = Path(__file__).parents[2] / "README.md"
SECRET = b"readme-secret"


def _snippet() -> Callable[..., bool]:
    text = README.read_text()
    section = text[text.index("### Verifying webhook signatures"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)  # the documented code
    verify: Callable[..., bool] = namespace["verify"]
    return verify


@pytest.fixture
def captured() -> Iterator[tuple[str, list[tuple[Message, bytes]]]]:
    """A receiver that keeps each request's headers and raw body and answers 200."""
    got: list[tuple[Message, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_the_readme_snippet_verifies_a_real_delivery(
        storage: CatalogStorage,
        captured: tuple[str, list[tuple[Message, bytes]]]) -> None:
    url, got = captured
    publisher, outbox = publishing(storage, publish_config(("webhook", ("gcn-json",))))
    publisher.publish([reco_record()])
    (outcome,) = Dispatcher(outbox, [WebhookSink(url, SECRET)]).drain(10)
    assert outcome.ok
    (headers, body), = got
    verify = _snippet()
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, body + b" ")
    assert not verify(b"another-secret", headers, body)
    stale = Message()
    for k, v in headers.items():
        stale[k] = str(int(v) - 3600) if k.lower() == "x-nufair-timestamp" else v
    assert not verify(SECRET, stale, body)
