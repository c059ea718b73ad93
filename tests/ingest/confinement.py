"""What the security tests look for after a hostile request: files under a root, and files
of the hostile names anywhere they could have escaped to."""

from __future__ import annotations

from pathlib import Path

#: The mark every hostile file name of the tests carries.
MARK = "TRAVERSAL"


def files_under(root: Path) -> list[Path]:
    """Every file below ``root``, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def escaped_files(tmp_path: Path) -> list[Path]:
    """Files of the hostile names anywhere in this session's test folders, next to them,
    and at the issue's absolute target."""
    found = list(tmp_path.parent.rglob(f"*{MARK}*"))
    found += tmp_path.parent.parent.glob(f"*{MARK}*")
    return found + [p for p in (Path("/srv/elsewhere"),) if p.exists()]
