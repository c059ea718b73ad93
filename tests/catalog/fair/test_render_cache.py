"""Renderings kept for a record's next view (issue 12): a kept rendering is byte for byte
what rendering the record afresh gives, and a change to the record (a file attached, which
does not move the DOI's ``updated_at``) is rendered anew."""

from __future__ import annotations

import functools
import json
import warnings

import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

from catalog.fair import landing
from catalog.fair.config import FairConfig
from catalog.fair.records import RecordService
from catalog.fair.render_cache import RENDERINGS, RenderCache, fingerprint
from catalog.storage.events import CatalogStorage
from nufair.settings import Settings
from tests.catalog.fair.conftest import add_artifact

#: Every export format the landing pages render, with a style for the bibliography.
FORMATS = [(fmt, "apa" if fmt == "bibliography" else None) for fmt in landing._RENDER]
#: The exports whose blank nodes get new labels at each rendering: rdflib's parser of each.
RDF_BLANK_NODES = {"dcat-jsonld": "json-ld", "dcat-rdfxml": "xml"}


def _graph(body: bytes, rdf_format: str) -> Graph:
    with warnings.catch_warnings():  # rdflib's own use of its deprecated ConjunctiveGraph
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=body, format=rdf_format)


def _fresh(rec: object, cfg: FairConfig, fmt: str, style: str | None) -> bytes:
    """The export rendered without the cache (the renderers themselves)."""
    RENDERINGS.clear()
    body, _ = landing.render_export(rec, cfg, fmt, style)  # type: ignore[arg-type]  # a record
    RENDERINGS.clear()
    return body


@pytest.mark.parametrize(("fmt", "style"), FORMATS)
def test_a_kept_rendering_is_the_fresh_one(seeded: RecordService, fair_cfg: FairConfig,
                                           fmt: str, style: str | None) -> None:
    """The second request of an export is answered from the cache with the same bytes."""
    expected = _fresh(seeded.load("IceCube-200615A"), fair_cfg, fmt, style)
    first, _ = landing.render_export(seeded.load("IceCube-200615A"), fair_cfg, fmt, style)
    hits = RENDERINGS.hits
    again, _ = landing.render_export(seeded.load("IceCube-200615A"), fair_cfg, fmt, style)
    assert RENDERINGS.hits > hits
    assert first == again
    if fmt in RDF_BLANK_NODES:  # blank node labels are drawn afresh by each rendering
        rdf = RDF_BLANK_NODES[fmt]
        assert isomorphic(_graph(first, rdf), _graph(expected, rdf))
    else:
        assert first == expected


def test_the_page_jsonld_is_kept_and_equal(seeded: RecordService, fair_cfg: FairConfig) -> None:
    """The JSON-LD a page embeds, kept, equals the negotiated export parsed."""
    RENDERINGS.clear()
    rec = seeded.load("IceCube-190108A")
    first = landing.full_jsonld(rec, fair_cfg)
    assert landing.full_jsonld(seeded.load("IceCube-190108A"), fair_cfg) is first
    body, _ = landing.render_export(rec, fair_cfg, "json-ld")
    assert json.loads(body) == first


def test_a_changed_record_is_rendered_anew(seeded: RecordService, fair_cfg: FairConfig,
                                           storage: CatalogStorage, settings: Settings) -> None:
    """Attaching a file changes the record's fingerprint, and the kept exports are not served
    for it: the new DataCite XML lists the file, as a fresh rendering does."""
    before = seeded.load("IceCube-200615A")
    old, _ = landing.render_export(before, fair_cfg, "datacite-xml")
    add_artifact(storage.engine, settings.data_dir / "artifacts", "IceCube-200615A", None,
                 "kept.fits", b"SIMPLE  =  T" + bytes(100), "application/fits", "skymap-fits")
    after = seeded.load("IceCube-200615A")
    assert after.focus.updated_at == before.focus.updated_at  # the stamp alone would miss it
    assert fingerprint(after) != fingerprint(before)
    new, _ = landing.render_export(after, fair_cfg, "datacite-xml")
    assert new != old
    assert new == _fresh(after, fair_cfg, "datacite-xml", None)


def test_the_cache_is_bounded_and_drops_the_least_recent() -> None:
    """Past its size the least recently used entry goes; a used one stays."""
    cache = RenderCache(entries=3)
    made: list[int] = []

    def make(i: int) -> bytes:
        made.append(i)
        return str(i).encode()

    for i in range(3):
        cache.get(i, functools.partial(make, i))
    assert cache.get(0, lambda: make(99)) == b"0"  # a hit: 0 is now the most recent
    cache.get(3, lambda: make(3))  # 1, the least recent, goes
    assert len(cache) == 3
    assert cache.get(1, lambda: make(1)) == b"1"
    assert made == [0, 1, 2, 3, 1]
