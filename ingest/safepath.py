"""Paths that stay where they are meant to: every file nufair writes under a root.

Names that reach a path (observatory, notice format, file names) are validated at the
edge (:mod:`ingest.rawevent`); this module is the defence in depth of every writer (the
folder sink, the artifact stores, the skymap writer): each component must be a plain name,
and the resolved target (symbolic links followed) must lie inside the resolved root.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

#: Characters a path component never contains.
_FORBIDDEN = ("/", "\\", "\x00")


class UnsafePath(ValueError):
    """A path that would leave its root, or a component that is not a plain name."""


def check_component(name: str) -> str:
    """``name`` if it is one plain path component: not empty, not ``.`` or ``..``, no
    separator (``/``, ``\\``) and no NUL; else :class:`UnsafePath`."""
    if not name or name in (".", "..") or any(c in name for c in _FORBIDDEN):
        raise UnsafePath(f"unsafe path component {name[:80]!r}")
    return name


def components(*parts: str | PurePosixPath) -> list[str]:
    """The components of relative POSIX ``parts``, each checked by :func:`check_component`
    (``"12/0"`` gives ``["12", "0"]``; an absolute part or ``..`` is refused)."""
    out: list[str] = []
    for part in parts:
        text = str(part)
        if text.startswith("/"):
            raise UnsafePath(f"absolute path {text[:80]!r} where a relative one is expected")
        out.extend(check_component(c) for c in text.split("/"))
    return out


def contained(root: Path, *parts: str | PurePosixPath) -> Path:
    """``root / parts`` resolved, after checking that every component is a plain name and
    that the result (links followed) lies inside ``root``; else :class:`UnsafePath`."""
    base = Path(root).resolve()
    target = base.joinpath(*components(*parts)).resolve()
    if target != base and not target.is_relative_to(base):
        raise UnsafePath(f"{target} is outside {base}")
    return target


def posix_key(*parts: str | PurePosixPath) -> str:
    """The checked components of ``parts`` joined with ``/`` (an object-store key)."""
    return "/".join(components(*parts))
