"""Fixtures of the FAIR tests: a catalog with a revised, a retracted and a plain alert."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xmlschema
from rdflib import Graph
from rdflib.namespace import SH
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from catalog.fair.config import FairConfig
from catalog.fair.records import RecordService
from catalog.notices.parsed import NoticeRecord, RevisionKind, Source, Stream
from catalog.schema.events import artifacts, events, revisions
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from nufair.app import create_app, make_engine
from nufair.settings import Settings
from tests.catalog.records_factory import record
from tests.serving import free_socket, serving

SCHEMAS = Path(__file__).parent / "schemas"
BASE = "http://testserver"
IVORN = "ivo://nasa.gsfc.gcn/AMON#ICECUBE_GOLD_Event2020-06-15T14:49:17.37_134191_17593623_0"


def seed_records() -> list[NoticeRecord]:
    """Three alerts: A (two revisions, Gold), B (Bronze, then retracted), C (Gold, IceCat-1)."""
    t1 = datetime(2020, 6, 15, 15, 0, tzinfo=UTC)
    a0 = dataclasses.replace(record(rev=0, name="IceCube-200615A", issued=t1, energy_tev=183.0,
                                    signalness=0.5, far_per_year=0.9, r50=0.4),
                             ivorn=IVORN)
    a1 = dataclasses.replace(
        record(rev=1, ra=142.9499, dec=3.66, issued=datetime(2020, 6, 15, 18, 0, tzinfo=UTC),
               box90=(1.3, 1.1, 1.0, 0.9), energy_tev=183.0, signalness=0.5,
               far_per_year=0.9),
        ivorn=IVORN.replace("_0", "_1"))
    tb = datetime(2021, 3, 2, 8, 0, tzinfo=UTC)
    b0 = dataclasses.replace(record(run=135000, event=42, rev=0, ra=10.0, dec=-20.0,
                                    name="IceCube-210302A", time=tb, issued=tb),
                             stream=Stream.BRONZE)
    b1 = dataclasses.replace(
        record(run=135000, event=42, rev=1, ra=None, dec=None, r90=None,  # type: ignore[arg-type]
               kind=RevisionKind.RETRACTION, time=tb,
               issued=datetime(2021, 3, 2, 12, 0, tzinfo=UTC)),
        stream=Stream.BRONZE, retraction_reason="detector calibration artefact")
    tc = datetime(2019, 1, 8, 1, 2, 3, tzinfo=UTC)
    c0 = record(run=131000, event=7, rev=None, ra=300.5, dec=45.25, name="IceCube-190108A",
                time=tc, source=Source.ICECAT1, key="icecat-1:131000:7", energy_tev=120.0)
    return [a0, a1, b0, b1, c0]


@pytest.fixture
def fair_cfg() -> FairConfig:
    """The FAIR settings of the tests: the defaults (local DOIs, test prefix) under ``BASE``."""
    return FairConfig(base_url=BASE)


@pytest.fixture
def fair(storage: CatalogStorage) -> FairStorage:
    """The DOI and harvest storage on the test database."""
    return FairStorage(storage.engine)


@pytest.fixture
def seeded(storage: CatalogStorage, fair: FairStorage, fair_cfg: FairConfig) -> RecordService:
    """The catalog with the three alerts stored and their DOIs minted."""
    storage.import_records(seed_records())
    fair.mint_missing(fair_cfg.doi_prefix, fair_cfg.provider)
    return RecordService(storage, fair)


def load_dcat_shapes() -> Graph:
    """The DCAT-AP 3.0.1 shapes with their range shapes.

    The released ``ranges.ttl`` lists property shapes that neither file defines (e.g.
    ``dcat:DatasetShape/4918ff7a…``); pySHACL refuses such a graph, so those dangling
    ``sh:property`` references (and only those) are dropped. Every defined shape stays.
    """
    g = Graph()
    shacl = SCHEMAS / "shacl" / "dcat-ap-3.0.1"
    g.parse(shacl / "dcat-ap-SHACL.ttl")
    g.parse(shacl / "ranges.ttl")
    dangling = [(s, o) for s, o in g.subject_objects(SH.property)
                if g.value(o, SH.path) is None]
    assert 0 < len(dangling) < 10  # the upstream defect, not a wholesale loss of shapes
    for s, o in dangling:
        g.remove((s, SH.property, o))
    return g


@pytest.fixture(scope="session")
def datacite_xsd() -> xmlschema.XMLSchema:
    """The official DataCite kernel-4.6 schema (offline copy), loaded once per session."""
    return xmlschema.XMLSchema(str(SCHEMAS / "kernel-4.6" / "metadata.xsd"))


def add_artifact(engine: Engine, root: Path, event_name: str, revision: int | None,
                 filename: str, content: bytes, media_type: str, role: str) -> None:
    """Store a file under the artifact folder and its row (what ingest will do)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / filename).write_bytes(content)
    with engine.begin() as conn:
        ev = conn.execute(select(events.c.id).where(events.c.name == event_name)).scalar_one()
        rev_pk = None if revision is None else conn.execute(
            select(revisions.c.id).where(revisions.c.event_pk == ev,
                                         revisions.c.number == revision)).scalar_one()
        conn.execute(insert(artifacts).values(
            event_pk=ev, revision_pk=rev_pk, role=role, filename=filename,
            media_type=media_type, size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(), md5=hashlib.md5(content).hexdigest(),
            storage_url=(root / filename).as_uri()))


@pytest.fixture
def live_url(settings: Settings, db_url: str, tmp_path: Path) -> Iterator[str]:
    """The real app on a real socket, its public URL set to where it listens; seeded."""
    sock = free_socket()
    host, port = sock.getsockname()
    url = f"http://{host}:{port}"
    cfg = settings.model_copy(update={"public_base_url": url, "oai_page_size": 3})
    eng = make_engine(db_url)
    try:
        CatalogStorage(eng).import_records(seed_records())
        add_artifact(eng, tmp_path / "artifacts", "IceCube-200615A", 1, "skymap.fits",
                     b"SIMPLE  =                    T" + bytes(2850), "application/fits",
                     "skymap-fits")
    finally:
        eng.dispose()
    with serving(create_app(cfg), sock) as base:
        yield base
