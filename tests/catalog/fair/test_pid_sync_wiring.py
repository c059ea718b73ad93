"""`nufair pids sync` and the in-server loop, configured from settings, against the stand-in."""

from __future__ import annotations

import time

from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

from catalog.storage.events import CatalogStorage, EventQuery
from catalog.storage.fair import FairStorage
from nufair.app import create_app
from nufair.cli import main
from nufair.settings import Settings
from tests.catalog.fair.conftest import seed_records
from tests.catalog.fair.datacite_standin import StandIn, make_standin
from tests.serving import free_socket, serving

USER, PASSWORD, PREFIX = "ACME.NUFAIR", "s3cret", "10.80001"


def _env(db_url: str, url: str) -> dict[str, str]:
    return {"NUFAIR_DATABASE_URL": db_url, "NUFAIR_PID_PROVIDER": "datacite",
            "NUFAIR_DOI_PREFIX": PREFIX, "NUFAIR_DATACITE_URL": url + "/",
            "NUFAIR_DATACITE_USER": USER, "NUFAIR_DATACITE_PASSWORD": PASSWORD}


def test_cli_sync_registers_every_doi_from_settings(storage: CatalogStorage,
                                                    db_url: str) -> None:
    storage.import_records(seed_records())
    standin = StandIn(user=USER, password=PASSWORD, prefix=PREFIX)
    with serving(make_standin(standin), free_socket()) as url:
        result = CliRunner().invoke(main, ["pids", "sync"], env=_env(db_url, url))
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(main, ["pids", "sync"], env=_env(db_url, url))
    fair = FairStorage(storage.engine)
    stored = {d.doi for pk in _event_pks(storage) for d in fair.dois_of_event(pk)}
    assert stored and set(standin.dois) == stored
    assert "0 DOI(s) registered" in again.output


def test_server_loop_registers_new_imports(storage: CatalogStorage, db_url: str) -> None:
    standin = StandIn(user=USER, password=PASSWORD, prefix=PREFIX)
    with serving(make_standin(standin), free_socket()) as url:
        settings = Settings(database_url=SecretStr(db_url), pid_provider="datacite",
                            doi_prefix=PREFIX, datacite_url=url + "/", datacite_user=USER,
                            datacite_password=SecretStr(PASSWORD), pid_sync_interval_s=0.2)
        app = create_app(settings)
        with TestClient(app):
            app.catalog_context.storage.import_records(seed_records())
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(standin.dois) < 3:
                time.sleep(0.1)
    assert len(standin.dois) >= 3


def _event_pks(storage: CatalogStorage) -> list[int]:
    return [e.id for e in storage.list_events(EventQuery(limit=1000)).items]
