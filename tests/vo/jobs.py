"""What the TAP async (UWS) tests share: the real app with the VO setup a test chooses, and
reading job ids and phases from answers of TestClient or of a real HTTP client (httpx)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx
from fastapi.testclient import TestClient
from lxml import etree

from nufair.app import create_app
from nufair.context import NufairApp
from nufair.settings import Settings
from vo.context import VoHost, context_of, install_vo, setup_of
from vo.uws.policy import JobPolicy
from vo.uws.service import JobService

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}
QUERY = "SELECT name FROM nufair.revisions ORDER BY name"


class Answer(Protocol):
    """What the tests read of an HTTP answer, whichever client got it."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""

    @property
    def text(self) -> str:
        """The body as text."""

    @property
    def content(self) -> bytes:
        """The body."""


def make_app(settings: Settings, policy: JobPolicy | None = None, **vo: Any) -> NufairApp:
    """The real app; ``policy`` replaces its job caps, ``vo`` overrides fields of its VO
    configuration (timings, workers)."""
    app = create_app(settings)
    setup = setup_of(app)
    install_vo(app, replace(setup, config=replace(setup.config, **vo),
                            policy=policy or setup.policy))
    return app


def jobs_of(app: VoHost) -> JobService:
    """The job service of a running ``app``."""
    return context_of(app).jobs


def job_id(response: Answer) -> str:
    """The id of a job from the 303 of its creation."""
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return urlparse(location).path.rsplit("/", 1)[1]


def phase_of(doc: str) -> str:
    """The phase written in a UWS job document."""
    found = etree.fromstring(doc.encode()).findtext("uws:phase", namespaces=NS)
    assert found is not None
    return str(found)


def submit(client: TestClient | httpx.Client, query: str = QUERY, **extra: str) -> str:
    """Create a job of ``query`` (and ``extra`` parameters) without following the 303; its
    id."""
    return job_id(client.post("/tap/async", data={"LANG": "ADQL", "QUERY": query, **extra},
                              follow_redirects=False))


def is_votable_error(r: Answer) -> bool:
    """Whether ``r`` is a VOTable with QUERY_STATUS=ERROR."""
    return r.headers["content-type"].startswith("application/x-votable+xml") and (
        'name="QUERY_STATUS" value="ERROR"' in r.text)
