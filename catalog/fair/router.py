"""The FAIR layer's HTTP surface in one router, and the context its handlers share."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from catalog.fair import browse, home, landing, oai
from catalog.fair.config import FairConfig
from catalog.fair.http import FairContext
from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage, MintSummary

router = APIRouter()
router.include_router(landing.router)
router.include_router(home.router)
router.include_router(browse.router)
router.include_router(oai.router)


def make_context(storage: CatalogStorage, cfg: FairConfig, artifact_root: Path,
                 extra_roots: tuple[Path, ...] = ()) -> tuple[FairContext, MintSummary]:
    """Build the FAIR context and mint every missing DOI.

    Files are served from ``artifact_root`` and ``extra_roots`` (a ``file://`` artifacts URL).

    Later revisions get their DOIs in their own transaction: minting is an explicit step of
    each flow (``CatalogStorage.pids``, ``catalog.publish.Publisher.mint_dois``); this mints
    once at start-up whatever was stored without it (an older database, the CLI).
    """
    fair = FairStorage(storage.engine)
    summary = fair.mint_missing(cfg.doi_prefix, cfg.provider)
    ctx = FairContext(cfg=cfg, fair=fair, records=RecordService(storage, fair),
                      artifact_root=artifact_root, extra_roots=extra_roots)
    return ctx, summary
