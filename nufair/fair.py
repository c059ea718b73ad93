"""Wiring of the FAIR layer: settings → FairConfig, the context on the app, DOI minting."""

from __future__ import annotations

from fastapi import FastAPI

from catalog.fair_api import make_context
from catalog.fair_config import FairConfig
from catalog.fair_http import FAIR_STATE
from catalog.storage import CatalogStorage
from nufair.settings import Settings


def fair_config(settings: Settings) -> FairConfig:
    return FairConfig(base_url=settings.public_base_url, doi_prefix=settings.doi_prefix,
                      doi_resolver=settings.doi_resolver, provider=settings.pid_provider,
                      oai_page_size=settings.oai_page_size)


def install_fair(app: FastAPI, storage: CatalogStorage, settings: Settings) -> None:
    """Mint missing DOIs, hook minting into imports, and put the context on the app."""
    ctx, _ = make_context(storage, fair_config(settings), settings.data_dir / "artifacts")
    setattr(app.state, FAIR_STATE, ctx)
