"""Run as a child process by the consumer crash test: consume one raw event, let the
pipeline commit it, then die with SIGKILL before the message is acknowledged.

``python -m tests.ingest.consumer_worker DB_URL DATA_DIR QUEUE``
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from catalog.storage.events import CatalogStorage
from ingest.consumer import ConsumerConfig, RawEventConsumer
from ingest.pipeline import Accepted
from nufair.app import make_engine
from nufair.ingest import make_context
from nufair.settings import Settings
from tests.ingest.amqp import params


def main() -> None:
    url, data_dir, queue = sys.argv[1:4]
    settings = Settings(database_url=SecretStr(url), data_dir=Path(data_dir))
    runtime = make_context(CatalogStorage(make_engine(url)), settings)

    def accept_then_die(body: Any) -> Accepted:
        runtime.pipeline.accept(body)  # committed here
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # ... and the ack never happens
        raise AssertionError("unreachable")

    RawEventConsumer(params(), accept_then_die, ConsumerConfig(queue=queue)).run(
        max_messages=1, idle_timeout_s=30)


if __name__ == "__main__":
    main()
