"""The folder sink (default): each notice becomes a file under a folder.

Files are written to a temporary name and renamed into place, so a reader never sees half
a notice; a repeated delivery rewrites the same name with the same bytes. The format and
file name must be plain names and the target must resolve inside the root
(:func:`ingest.safepath.contained`); otherwise nothing is written and the delivery fails
with :class:`ingest.safepath.UnsafePath`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from catalog.schema.outbox import NoticeRead
from ingest.safepath import contained
from ingest.sinks import DeliveryError, Receipt


class FolderSink:
    """Write notices to ``root/<format>/<filename>``."""

    def __init__(self, root: Path, formats: tuple[str, ...] = ("gcn-json", "voevent", "circular"),
                 name: str = "folder") -> None:
        self.root = Path(root)
        self.formats = formats
        self.name = name

    def path_of(self, notice: NoticeRead) -> Path:
        """Where ``notice`` goes; :class:`ingest.safepath.UnsafePath` if that would not be
        a file of ``root/<format>/``."""
        return contained(self.root, notice.format, notice.filename)

    def deliver(self, notice: NoticeRead) -> Receipt:
        """Write the payload atomically to :meth:`path_of` (temporary file, fsync, rename)."""
        target = self.path_of(notice)  # UnsafePath before anything is created
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            contained(self.root, notice.format, notice.filename)  # no link swapped in meanwhile
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
        """Nothing to release: every delivery opens and closes its own file."""
        return None
