"""The token table: from settings, or from a file re-read when it changes (rotation without
a restart)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from nufair.settings import DEV_TOKEN, SCOPES, Settings, hash_token


class DevTokenRefused(ValueError):
    """A tokens file holds the development token's digest outside development."""


class TokenTable:
    """Callable returning {sha256 hex: scopes}.

    With ``settings.tokens_file`` set, the file (JSON, same shape as ``NUFAIR_TOKENS``) is
    re-read whenever its modification time or size changes; a file that fails to parse
    keeps the previous table (and the error is kept in ``last_error``), so a half-written
    rotation never locks everybody out.

    The development token never comes from the file: in production a file holding its
    digest is refused as a whole (at start-up :class:`DevTokenRefused` is raised; on a later
    rotation the previous table stays and ``last_error`` says why); in development its
    entry is dropped (a configured tokens file turns the development token off).
    """

    def __init__(self, settings: Settings) -> None:
        self._static = settings.token_scopes()
        self._file = settings.tokens_file
        self._production = settings.environment != "development"
        self._stamp: tuple[int, int] | None = None
        self._table = self._static
        self._lock = threading.Lock()
        self.last_error: str | None = None
        if self._file is not None:
            self()
            if self.last_error is not None and "development token" in self.last_error:
                raise DevTokenRefused(self.last_error)

    def __call__(self) -> dict[str, frozenset[str]]:
        """The table now: {sha256 hex: scopes}, re-reading the tokens file if it changed."""
        if self._file is None:
            return self._static
        try:
            st = self._file.stat()
        except OSError as exc:
            self.last_error = str(exc)
            return self._table
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            with self._lock:
                self._reload(self._file, stamp)
        return self._table

    def _reload(self, path: Path, stamp: tuple[int, int]) -> None:
        try:
            table = parse_tokens(path.read_text("utf-8"), production=self._production)
        except (ValueError, AttributeError, TypeError) as exc:
            self.last_error = f"{path}: {exc}"
            return
        self._table = {**self._static, **table}
        self._stamp = stamp
        self.last_error = None


def parse_tokens(text: str, *, production: bool) -> dict[str, frozenset[str]]:
    """Parse a tokens file ({sha256 hex: [scopes]}); the development token never counts.

    Raises ValueError for a malformed file, unknown scopes, or (with ``production``) a file
    that holds the development token's digest; without ``production`` that entry is dropped.
    """
    raw = json.loads(text)
    table = {str(d).strip().lower(): frozenset(s) for d, s in raw.items()}
    for scopes in table.values():
        if not scopes <= set(SCOPES):
            raise ValueError(f"unknown scopes {sorted(scopes - set(SCOPES))}")
    dev = hash_token(DEV_TOKEN)
    if dev in table and production:
        raise ValueError("the development token is refused outside development")
    table.pop(dev, None)
    return table
