"""Format detection, folder expansion and the bundled sample."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from catalog.errors import InvalidInput, UnsupportedFormat
from catalog.importers import iter_paths, parse_document, parse_document_report, sample_paths
from catalog.notices.parsed import Source
from tests.catalog.importers.conftest import notice_bytes


def test_sample_paths_and_dispatch() -> None:
    """Every bundled sample file reaches its importer by content, and all their records come out."""
    paths = sample_paths()
    assert len(paths) == 13
    sources: dict[Source, int] = {}
    names = 0
    for path in paths:
        report = parse_document_report(path.read_bytes(), filename=path.name)
        names += len(report.names)
        for record in report.records:
            sources[record.source] = sources.get(record.source, 0) + 1
    assert sources == {Source.GCN_VOEVENT: 8, Source.ICECAT1: 348, Source.AMON_TABLE: 287 + 22 + 11}
    assert names > 200  # the circulars index: names only


def test_json_dispatch() -> None:
    """A GCN JSON notice without a file name is recognised by its content."""
    data = notice_bytes("single_neutrino_alerts.gold_bronze_track_alerts.example.json")
    (record,) = parse_document(data)
    assert record.source is Source.GCN_JSON


def test_bad_utf8() -> None:
    """Undecodable bytes are refused with the offending byte and its offset."""
    with pytest.raises(InvalidInput, match="not valid UTF-8: byte 0xff at offset 3"):
        parse_document(b"abc\xff")


def test_unsupported() -> None:
    """A document no importer recognises is refused, naming the file."""
    with pytest.raises(UnsupportedFormat, match=r"notes\.txt"):
        parse_document(b"hello, world\n", filename="notes.txt")


def test_rejected_rows_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Rows a CSV importer leaves out are logged with file and line, and reported in full."""
    data = notice_bytes("IceCube_Gold_Bronze_Tracks_2023-2024_additions.csv")
    with caplog.at_level(logging.WARNING, logger="catalog.importers"):
        records = parse_document(data, filename="additions.csv")
    assert len(records) == 13
    assert "additions.csv line 2 left out" in caplog.text
    assert len(parse_document_report(data).rejected) == 3


def test_iter_paths(tmp_path: Path) -> None:
    """Folders are walked recursively in name order, keeping known suffixes in any case; a file
    named explicitly is always taken; a missing path is an error."""
    (tmp_path / "b").mkdir()
    for name in ("b/z.xml", "a.json", "b/c.csv", "notes.md", "x.TXT"):
        (tmp_path / name).write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_paths([tmp_path])]
    assert found == ["a.json", "b/c.csv", "b/z.xml", "x.TXT"]
    assert list(iter_paths([tmp_path / "notes.md"])) == [tmp_path / "notes.md"]
    with pytest.raises(InvalidInput, match="no such file"):
        list(iter_paths([tmp_path / "missing"]))
