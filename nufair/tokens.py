"""The token table: from settings, or from a file re-read when it changes (rotation without
a restart)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from nufair.settings import SCOPES, Settings


class TokenTable:
    """Callable returning {sha256 hex: scopes}.

    With ``settings.tokens_file`` set, the file (JSON, same shape as ``NUFAIR_TOKENS``) is
    re-read whenever its modification time or size changes; a file that fails to parse
    keeps the previous table (and the error is kept in ``last_error``), so a half-written
    rotation never locks everybody out.
    """

    def __init__(self, settings: Settings) -> None:
        self._static = settings.token_scopes()
        self._file = settings.tokens_file
        self._stamp: tuple[int, int] | None = None
        self._table = self._static
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def __call__(self) -> dict[str, frozenset[str]]:
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
            raw = json.loads(path.read_text("utf-8"))
            table = {str(d): frozenset(s) for d, s in raw.items()}
            for scopes in table.values():
                if not scopes <= set(SCOPES):
                    raise ValueError(f"unknown scopes {sorted(scopes - set(SCOPES))}")
        except (ValueError, AttributeError, TypeError) as exc:
            self.last_error = f"{path}: {exc}"
            return
        self._table = {**self._static, **table}
        self._stamp = stamp
        self.last_error = None
