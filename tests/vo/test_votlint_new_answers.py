"""STILTS votlint on the VOTables the issue 15 work added or changed: uploaded arrays,
timestamps, booleans and unicode written back (TABLEDATA and BINARY2), the DataLink table
with its FITS MOC rows, and the refusals of /datalink/moc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from catalog.notices.parsed import NoticeRecord
from tests.vo.vizier import FIELDS, ROWS, vizier_votable


def _votlint(body: bytes, tmp_path: Path) -> str:
    """votlint's complaints about ``body`` (empty when there are none)."""
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    path = tmp_path / "answer.vot"
    path.write_bytes(body)
    done = subprocess.run([stilts, "votlint", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    return (done.stdout + done.stderr).strip()


@pytest.mark.parametrize("fmt", ["votable/td", "votable"])
def test_uploaded_datatypes_written_back(live_url: str, tmp_path: Path, fmt: str) -> None:
    """Arrays, timestamps, 1/0 booleans, unicode text and NULLs pass votlint."""
    r = httpx.post(f"{live_url}/tap/sync",
                   data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.src",
                         "UPLOAD": "src,param:src", "RESPONSEFORMAT": fmt},
                   files={"src": ("src.xml", vizier_votable(FIELDS, ROWS))})
    assert r.status_code == 200, r.text
    assert _votlint(r.content, tmp_path) == ""


def test_datalink_and_moc_refusals(live_url: str, tmp_path: Path,
                                   alerts: list[NoticeRecord]) -> None:
    """The {links} table and the 400 / 406 refusals of /datalink/moc pass votlint."""
    links = httpx.get(f"{live_url}/datalink", params={"ID": "1"})
    assert links.status_code == 200 and b"RESPONSEFORMAT=fits" in links.content
    assert _votlint(links.content, tmp_path) == ""
    moc = f"{live_url}/datalink/moc?ID=1&LEVEL=90"
    for r in (httpx.get(moc + "&RESPONSEFORMAT=png"),
              httpx.get(moc, headers={"Accept": "image/png"})):
        assert r.status_code in (400, 406)
        assert _votlint(r.content, tmp_path) == ""
