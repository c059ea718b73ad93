"""Every SQL statement of the FAIR layer: DOI minting, record look-ups, harvesting pages.

Minting is idempotent and can run inside another transaction (``mint_in``, bound to a
:func:`catalog.storage.unit.catalog_tx` as :class:`DoiStore`): each flow that stores
revisions mints their DOIs as an explicit step of its transaction, so that a revision and
its DOI land together, and ``mint_missing`` catches up on anything stored before (start-up,
the CLI importer).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from catalog.schema.base import Created, Identified
from catalog.schema.events import ArtifactBase, artifacts, events, revisions
from catalog.schema.pids import DoiRead, doi_aliases, dois
from catalog.storage.fair_harvest import (
    ICECAT,
    DeletedItem,
    HarvestItem,
    Position,
    deleted_item,
    deleted_items,
    earliest_datestamp,
    harvest_page,
)
from catalog.storage.fair_harvest import doi_select as _doi_select

#: Crockford base-32 alphabet (no I, L, O, U): suffixes survive being read aloud or retyped.
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_suffix() -> str:
    """An opaque DOI suffix, 10 random Crockford base-32 characters as ``xxxxx-xxxxx``.

    50 random bits: with a million DOIs the chance that a new one collides is ~1e-9, and a
    collision is caught by the unique constraint and retried anyway.
    """
    chars = "".join(secrets.choice(CROCKFORD) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


class ArtifactRead(Created, ArtifactBase, Identified):
    """A stored file of an event (or of one of its revisions), as storage returns it: with
    its revision's number and the landing-page key it is served under
    (:data:`ARTIFACT_LANDING_KEY`; None while that DOI is not minted)."""

    revision_number: int | None
    landing_key: str | None


@dataclass(frozen=True, slots=True)
class MintSummary:
    """What one minting pass did: DOIs minted (concept, version) and DOIs withdrawn."""

    concepts: int
    versions: int
    withdrawn: int


#: The landing-page key under which an artifact is served (``/records/{key}/files/{name}``):
#: the suffix of its revision's version DOI, or of the concept DOI for a file of the whole
#: event. NULL while that DOI is not minted (a retraction's revision never has one). A
#: correlated subquery: select it beside columns of ``artifacts``.
ARTIFACT_LANDING_KEY = (
    select(dois.c.suffix)
    .where(or_(dois.c.revision_pk == artifacts.c.revision_pk,
               and_(artifacts.c.revision_pk.is_(None), dois.c.event_pk == artifacts.c.event_pk,
                    dois.c.kind == "concept")))
    .correlate(artifacts)
    .scalar_subquery())


def artifacts_select() -> Select[tuple[object, ...]]:
    """Artifacts as :class:`ArtifactRead`: the row, its revision's number, its landing key."""
    return (select(artifacts, revisions.c.number.label("revision_number"),
                   ARTIFACT_LANDING_KEY.label("landing_key"))
            .select_from(artifacts.outerjoin(revisions,
                                             revisions.c.id == artifacts.c.revision_pk)))


#: Rows per INSERT (7 parameters each; PostgreSQL allows 65535 per statement).
_CHUNK = 5000


class FairStorage:
    """Reads and writes of the ``dois`` table, and the catalog reads the FAIR views need."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ minting

    def mint_missing(self, prefix: str, provider: str) -> MintSummary:
        """Mint every missing DOI and record every retraction, in one transaction."""
        with self.engine.begin() as conn:
            return mint_in(conn, prefix, provider)

    def mark_registered(self, ids: Sequence[int], state: str) -> None:
        """Record that the provider now holds these DOIs in ``state``."""
        with self.engine.begin() as conn:
            conn.execute(update(dois).where(dois.c.id.in_(list(ids)))
                         .values(state=state, registered_at=func.now()))

    # -------------------------------------------------------------------- reads

    def find_suffix(self, suffix: str) -> DoiRead | None:
        """The DOI with this suffix (any case), if any."""
        with self.engine.connect() as conn:
            row = conn.execute(_doi_select().where(dois.c.suffix == suffix.lower())
                               ).mappings().first()
        return None if row is None else DoiRead.model_validate(row)

    def merged_into(self, suffix: str) -> tuple[str, DoiRead] | None:
        """(that DOI, the DOI it resolves to now) when the DOI with this suffix was merged
        into another's record (``doi_aliases``: two events found to be one)."""
        stmt = (_doi_select().add_columns(doi_aliases.c.doi.label("alias_doi"))
                .join(doi_aliases, doi_aliases.c.target_pk == dois.c.id)
                .where(doi_aliases.c.suffix == suffix.lower()))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else (row["alias_doi"], DoiRead.model_validate(row))

    def dois_of_event(self, event_pk: int) -> list[DoiRead]:
        """The concept DOI first, then the version DOIs in revision order."""
        with self.engine.connect() as conn:
            rows = conn.execute(_doi_select().where(dois.c.event_pk == event_pk)
                                .order_by(dois.c.revision_pk.nulls_first(), dois.c.id)
                                ).mappings().all()
        return [DoiRead.model_validate(r) for r in rows]

    def artifacts_of_event(self, event_pk: int) -> list[ArtifactRead]:
        """The artifacts of an event with their revision numbers."""
        stmt = artifacts_select().where(artifacts.c.event_pk == event_pk).order_by(artifacts.c.id)
        with self.engine.connect() as conn:
            return [ArtifactRead.model_validate(r) for r in conn.execute(stmt).mappings()]

    def artifact_location(self, artifact_id: int) -> tuple[str | None, str] | None:
        """(landing key, filename) of an artifact; None when there is no such artifact."""
        with self.engine.connect() as conn:
            row = conn.execute(select(ARTIFACT_LANDING_KEY, artifacts.c.filename)
                               .where(artifacts.c.id == artifact_id)).first()
        return None if row is None else (row[0], row[1])

    def dois_needing_sync(self, provider: str, limit: int = 500) -> list[DoiRead]:
        """DOIs whose metadata changed since the provider last saw them."""
        stmt = (_doi_select().where(dois.c.provider == provider,
                                    or_(dois.c.registered_at.is_(None),
                                        dois.c.registered_at < dois.c.updated_at))
                .order_by(dois.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [DoiRead.model_validate(r) for r in conn.execute(stmt).mappings()]

    def earliest_datestamp(self) -> datetime | None:
        """The oldest datestamp of any item, DOI or alias (OAI-PMH ``earliestDatestamp``)."""
        with self.engine.connect() as conn:
            return earliest_datestamp(conn)

    def harvest_page(self, *, since: datetime | None = None, until: datetime | None = None,
                     set_spec: str | None = None, after: Position | None = None,
                     limit: int = 100) -> list[HarvestItem | DeletedItem]:
        """DOIs and aliased DOIs by (updated_at, table, id), filtered by datestamp range and
        OAI set (:func:`catalog.storage.fair_harvest.harvest_page`).

        ``until`` is inclusive (OAI-PMH), ``after`` is the keyset position of the previous
        page. Sets: ``stream:<s>``, ``catalog:icecat1``, ``status:retracted``.
        """
        with self.engine.connect() as conn:
            return harvest_page(conn, since=since, until=until, set_spec=set_spec,
                                after=after, limit=limit)

    def deleted_item(self, suffix: str) -> DeletedItem | None:
        """The aliased DOI with this suffix (any case) as a deleted item, if any."""
        with self.engine.connect() as conn:
            return deleted_item(conn, suffix)

    def aliases_needing_sync(self, provider: str, limit: int = 500) -> list[DeletedItem]:
        """Aliased DOIs the provider holds (registered before their merge) that it has not
        been told of since: their metadata must now point at the record they resolve to."""
        with self.engine.connect() as conn:
            pks = list(conn.execute(
                select(doi_aliases.c.id).where(
                    doi_aliases.c.provider == provider,
                    doi_aliases.c.registered_at.is_not(None),
                    doi_aliases.c.registered_at < doi_aliases.c.updated_at)
                .order_by(doi_aliases.c.id).limit(limit)).scalars())
            return deleted_items(conn, pks)

    def mark_alias_registered(self, alias_pk: int, state: str) -> None:
        """Record that the provider now holds the aliased DOI ``alias_pk`` in ``state``."""
        with self.engine.begin() as conn:
            conn.execute(update(doi_aliases).where(doi_aliases.c.id == alias_pk)
                         .values(state=state, registered_at=func.clock_timestamp()))

    def all_dois(self) -> list[DoiRead]:
        """Every DOI, in order of minting."""
        with self.engine.connect() as conn:
            rows = conn.execute(_doi_select().order_by(dois.c.id)).mappings().all()
        return [DoiRead.model_validate(r) for r in rows]

    def all_event_pks(self, limit: int | None = None) -> list[int]:
        """Events that have a concept DOI, newest first."""
        stmt = (select(events.c.id).join(dois, and_(dois.c.event_pk == events.c.id,
                                                     dois.c.kind == "concept"))
                .order_by(events.c.event_time.desc(), events.c.id.desc()))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def item_memberships(self, event_pk: int) -> tuple[str, bool]:
        """(stream, is part of IceCat-1) of an event."""
        with self.engine.connect() as conn:
            row = conn.execute(select(events.c.stream, ICECAT.label("icecat"))
                               .where(events.c.id == event_pk)).one()
        return row.stream, bool(row.icecat)


@dataclass(frozen=True, slots=True)
class PidMinting:
    """Which DOIs the flows mint with the revisions they store: prefix and provider."""

    prefix: str
    provider: str


class DoiStore:
    """DOI minting on one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def mint(self, pids: PidMinting, event_pks: Iterable[int]) -> MintSummary:
        """Mint the missing DOIs of ``event_pks`` and record their retractions."""
        return mint_in(self.conn, pids.prefix, pids.provider, event_pks=event_pks)


def mint_in(conn: Connection, prefix: str, provider: str,
            event_pks: Iterable[int] | None = None) -> MintSummary:
    """Mint missing DOIs and record retractions for ``event_pks`` (all events if None).

    Runs on the caller's connection, inside the caller's transaction. Each event gets a
    concept DOI, each non-retraction revision a version DOI; an event whose current revision
    is a retraction has its DOIs withdrawn. Every DOI of a touched event gets a new
    ``updated_at`` (its metadata changed: a new version, or the withdrawal).
    """
    scope = None if event_pks is None else sorted(set(event_pks))
    state = "findable" if provider == "local" else "draft"
    prefix = prefix.lower()
    touched: set[int] = set()

    def in_scope(col: ColumnElement[int]) -> ColumnElement[bool]:
        return literal(True) if scope is None else col.in_(scope)

    concepts = versions = 0
    for _attempt in range(5):  # retried only after a suffix collision
        need_concept = list(conn.execute(
            select(events.c.id).where(in_scope(events.c.id), ~exists().where(
                dois.c.event_pk == events.c.id, dois.c.kind == "concept"))).scalars())
        need_version = conn.execute(
            select(revisions.c.id, revisions.c.event_pk)
            .where(in_scope(revisions.c.event_pk), revisions.c.kind != "retraction",
                   ~exists().where(dois.c.revision_pk == revisions.c.id))
            .order_by(revisions.c.event_pk, revisions.c.number)).all()
        if not need_concept and not need_version:
            break
        rows = [{"kind": "concept", "event_pk": pk, "revision_pk": None} for pk in need_concept]
        rows += [{"kind": "version", "event_pk": r.event_pk, "revision_pk": r.id}
                 for r in need_version]
        for row in rows:
            suffix = new_suffix()
            row.update(suffix=suffix, doi=f"{prefix}/{suffix}", provider=provider, state=state)
        done: list[Any] = []
        for i in range(0, len(rows), _CHUNK):  # PostgreSQL takes at most 65535 parameters
            done += conn.execute(insert(dois).values(rows[i:i + _CHUNK])
                                 .on_conflict_do_nothing()
                                 .returning(dois.c.kind, dois.c.event_pk)).all()
        concepts += sum(1 for d in done if d.kind == "concept")
        versions += sum(1 for d in done if d.kind == "version")
        touched.update(d.event_pk for d in done)

    # Withdrawal: events whose current revision is a retraction.
    retraction = (select(func.coalesce(revisions.c.issued_at, revisions.c.created_at))
                  .where(revisions.c.id == events.c.current_revision_pk,
                         revisions.c.kind == "retraction").scalar_subquery())
    withdrawn = conn.execute(
        update(dois).where(dois.c.event_pk == events.c.id, in_scope(dois.c.event_pk),
                           dois.c.withdrawn_at.is_(None), retraction.is_not(None))
        .values(withdrawn_at=retraction).returning(dois.c.event_pk)).scalars().all()
    touched.update(withdrawn)
    ordered = sorted(touched)
    for i in range(0, len(ordered), _CHUNK):
        conn.execute(update(dois).where(dois.c.event_pk.in_(ordered[i:i + _CHUNK]))
                     .values(updated_at=func.clock_timestamp()))
    return MintSummary(concepts=concepts, versions=versions, withdrawn=len(withdrawn))
