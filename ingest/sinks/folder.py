"""The folder sink (default): each notice becomes a file under a folder.

Files are written to a temporary name and renamed into place, so a reader never sees half
a notice; a repeated delivery rewrites the same name with the same bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from catalog.storage_outbox import OutboxNotice
from ingest.sinks import DeliveryError, Receipt


class FolderSink:
    """Write notices to ``root/<format>/<filename>``."""

    def __init__(self, root: Path, formats: tuple[str, ...] = ("gcn-json", "voevent", "circular"),
                 name: str = "folder") -> None:
        self.root = Path(root)
        self.formats = formats
        self.name = name

    def path_of(self, notice: OutboxNotice) -> Path:
        return self.root / notice.format / notice.filename

    def deliver(self, notice: OutboxNotice) -> Receipt:
        target = self.path_of(notice)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(notice.payload)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc}") from exc
        return Receipt(detail=str(target))

    def close(self) -> None:
        return None
