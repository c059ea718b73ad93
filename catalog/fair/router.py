"""The FAIR layer's HTTP surface in one router, and the context its handlers share."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import APIRouter

from catalog.fair import browse, landing, oai
from catalog.fair.config import FairConfig
from catalog.fair.http import FairContext
from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage, MintSummary, mint_in

router = APIRouter()
router.include_router(landing.router)
router.include_router(browse.router)
router.include_router(oai.router)


def make_context(storage: CatalogStorage, cfg: FairConfig, artifact_root: Path,
                 extra_roots: tuple[Path, ...] = ()) -> tuple[FairContext, MintSummary]:
    """Build the FAIR context, mint every missing DOI, and mint with every later import.

    Files are served from ``artifact_root`` and ``extra_roots`` (a ``file://`` artifacts URL).

    DOIs are minted in the import transaction (a hook on ``CatalogStorage``), and once at
    start-up for whatever was stored without the hook (an older database, the CLI).
    """
    fair = FairStorage(storage.engine)
    storage.add_import_hook(lambda conn, pks: partial(
        mint_in, prefix=cfg.doi_prefix, provider=cfg.provider)(conn, event_pks=pks))
    summary = fair.mint_missing(cfg.doi_prefix, cfg.provider)
    ctx = FairContext(cfg=cfg, fair=fair, records=RecordService(storage, fair),
                      artifact_root=artifact_root, extra_roots=extra_roots)
    return ctx, summary
