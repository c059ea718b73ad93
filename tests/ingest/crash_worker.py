"""Run as a child process by the crash tests: do some work, then die with SIGKILL.

``python -m tests.ingest.crash_worker DB_URL after-commit``: store a revision with its
notices, then die before any delivery. ``... mid-send``: store, claim the notices as a
dispatcher would (1 s lease), then die before sending them.
"""

from __future__ import annotations

import os
import signal
import sys

from catalog.storage.events import CatalogStorage
from nufair.app import make_engine
from tests.ingest.helpers import publish_config, publishing, reco_record


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    engine = make_engine(url)
    publisher, outbox = publishing(CatalogStorage(engine),
                           publish_config(("folder", ("gcn-json", "voevent")),
                                          ("webhook", ("gcn-json",))))
    publisher.publish([reco_record()])
    if mode == "mid-send":
        claimed = outbox.claim_due(["folder", "webhook"], limit=10, lease_s=1.0)
        print(len(claimed), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
