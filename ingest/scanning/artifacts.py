"""Where the files of a scan are kept: the local artifact folder, or an fsspec URL.

Both stores take the files :func:`ingest.scanning.skymaps.write_products` wrote into a private
temporary folder (:meth:`ArtifactStore.scratch`) and put them under
``<event pk>/<revision number>/`` (:meth:`ArtifactStore.place`), returning the
``storage_url`` each artifact row records:

* :class:`LocalStore` (the default, ``data_dir/artifacts``) hard-links the files into the
  folder and records the path relative to it;
* :class:`FsspecStore` (``NUFAIR_ARTIFACTS_URL``: ``s3://bucket/prefix``,
  ``file:///srv/nufair-artifacts``, ...) uploads each file to ``<url>/<relative path>``,
  checks the stored size against the size measured before the upload, and records the full
  URL. Credentials and endpoints are fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL``,
  ``AWS_ACCESS_KEY_ID``, ...), which the landing pages use too when they read the files back.

``place`` runs BEFORE the transaction that stores the revision (the revision number it
will get names the folder; :mod:`ingest.scanning.update`), so no upload runs while a row
lock is held, and a failed upload raises :class:`ArtifactStoreError` before anything is
stored.

Every relative folder and file name must be plain path components, and a local target must
resolve inside the root (:mod:`ingest.safepath`); otherwise ``place`` raises
:class:`ArtifactStoreError` before it writes anything.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from ingest.safepath import UnsafePath, contained, posix_key

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from ingest.scanning.skymaps import WrittenFile


class ArtifactStoreError(RuntimeError):
    """A file could not be stored (write refused, store unreachable, size mismatch)."""


class ArtifactStore(Protocol):
    """Where the files of a revision go (see the module docstring)."""

    def scratch(self) -> Path:
        """A new private temporary folder for the products (the caller removes it)."""
        ...

    def place(self, rel: PurePosixPath, files: list[WrittenFile]) -> list[str]:
        """Store ``files`` under ``rel``; the ``storage_url`` of each, in order.

        Safe to call again with the same ``rel`` (a retried transaction): files are
        replaced, and the scratch copies stay where they are.
        """
        ...


class LocalStore:
    """Files in a local folder; ``storage_url`` is the path relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def scratch(self) -> Path:
        """A new private temporary folder inside the root."""
        # Inside the root: same file system, so place() can hard-link.
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".scan-", dir=self.root))

    def place(self, rel: PurePosixPath, files: list[WrittenFile]) -> list[str]:
        """Hard-link the files under ``root/rel``; their paths relative to the root."""
        try:
            target = contained(self.root, rel)
            for f in files:
                contained(self.root, rel, f.path.name)
        except UnsafePath as exc:
            raise ArtifactStoreError(f"refused to store outside {self.root}: {exc}") from exc
        target.mkdir(parents=True, exist_ok=True)
        urls = []
        for f in files:
            # A link, not a move: the transaction may be run again (a retried name
            # collision), and the temporary folder must still hold the files then.
            try:
                dst = contained(self.root, rel, f.path.name)  # again: the folder now exists
            except UnsafePath as exc:
                raise ArtifactStoreError(f"refused to store outside {self.root}: {exc}"
                                         ) from exc
            dst.unlink(missing_ok=True)
            try:
                os.link(f.path, dst)
            except OSError:  # another file system: copy
                shutil.copyfile(f.path, dst)
            urls.append((rel / f.path.name).as_posix())
        return urls


class FsspecStore:
    """Files uploaded through fsspec to ``<url>/<relative path>``; ``storage_url`` is that
    full URL."""

    def __init__(self, url: str) -> None:
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/")
        # Made now, so that an unknown protocol or a missing driver (s3fs, gcsfs, ...)
        # stops the app at start-up rather than the first scan.
        fs, base = url_to_fs(self.url)
        self.fs: AbstractFileSystem = fs
        self.base = base.rstrip("/")

    def scratch(self) -> Path:
        """A new private temporary folder in the system's temporary folder."""
        return Path(tempfile.mkdtemp(prefix="nufair-scan-"))

    def place(self, rel: PurePosixPath, files: list[WrittenFile]) -> list[str]:
        """Upload the files to ``base/rel``, checking each stored size; their URLs."""
        from fsspec.implementations.local import LocalFileSystem

        try:
            keys = [posix_key(rel, f.path.name) for f in files]
        except UnsafePath as exc:
            raise ArtifactStoreError(f"refused to store outside {self.url}: {exc}") from exc
        urls = []
        for f, key in zip(files, keys, strict=True):
            target = f"{self.base}/{key}"
            url = f"{self.url}/{key}"
            try:
                if isinstance(self.fs, LocalFileSystem):
                    # Folders exist on disk only; on an object store makedirs would
                    # create a missing bucket instead of reporting it.
                    self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
                self.fs.put_file(str(f.path), target)
                stored = self.fs.size(target)
            except Exception as exc:  # every driver has its own errors: one vocabulary here
                raise ArtifactStoreError(
                    f"upload of {f.path.name} to {url} failed: {type(exc).__name__}: {exc}"
                ) from exc
            if stored != f.size_bytes:
                raise ArtifactStoreError(
                    f"upload of {f.path.name} to {url}: {stored} bytes stored, "
                    f"{f.size_bytes} written")
            urls.append(url)
        return urls


def make_store(root: Path, url: str | None) -> ArtifactStore:
    """The configured store: ``url`` (fsspec) when given, else the local folder ``root``."""
    return FsspecStore(url) if url else LocalStore(root)
