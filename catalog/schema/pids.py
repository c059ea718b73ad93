"""Entities of the FAIR layer: persistent identifiers (DOIs) of events and revisions.

One row per DOI. An event has one *concept* DOI (``revision_pk`` NULL) that always resolves
to its latest version; each published revision (not a retraction) has one *version* DOI.
``updated_at`` moves whenever the metadata a DOI describes changes (a new version, a
retraction): it is the OAI-PMH datestamp, so incremental harvesters see the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from catalog.schema.base import TIMESTAMPTZ, Entity, Identified, Keyed, Stamped, column, table_of

__all__ = ["DOI_STATES", "Doi", "DoiAlias", "DoiBase", "DoiRead", "doi_aliases", "dois"]

#: DataCite DOI states (REST API): draft → registered → findable; registered = hidden.
DOI_STATES = ("draft", "registered", "findable")


class DoiBase(Entity):
    """A DOI, the event or revision it names, and its state at the provider."""

    doi: str = column(Text, comment="prefix/suffix, lower case")
    suffix: str = column(Text, comment="opaque suffix; the landing-page id")
    kind: str = column(Text, comment="concept (the event) or version (a revision)")
    event_pk: int = column(BigInteger, foreign_key="events.id")
    revision_pk: int | None = column(BigInteger, default=None, foreign_key="revisions.id")
    provider: str = column(Text, comment="local or datacite")
    state: str = column(Text, comment="draft, registered (hidden) or findable")
    withdrawn_at: datetime | None = column(
        TIMESTAMPTZ, default=None,
        comment="set when the event is retracted: the record becomes a tombstone")
    registered_at: datetime | None = column(
        TIMESTAMPTZ, default=None, comment="last successful synchronisation with the provider")


class Doi(Stamped, DoiBase, Keyed, table=True):
    """The ``dois`` table: at most one concept DOI per event, one version DOI per revision."""

    __tablename__: ClassVar[str] = "dois"
    __table_args__ = (
        UniqueConstraint("doi", name="uq_dois_doi"),
        UniqueConstraint("suffix", name="uq_dois_suffix"),
        UniqueConstraint("revision_pk", name="uq_dois_revision_pk"),
        CheckConstraint("kind IN ('concept', 'version')", name="kind"),
        CheckConstraint("(kind = 'concept') = (revision_pk IS NULL)", name="kind_revision"),
        CheckConstraint("state IN ('draft', 'registered', 'findable')", name="state"),
        Index("uq_dois_concept", "event_pk", unique=True,
              postgresql_where=text("kind = 'concept'")),
        Index("ix_dois_updated_at_id", "updated_at", "id"),
        Index("ix_dois_event_pk", "event_pk"),
    )


class DoiRead(Stamped, DoiBase, Identified):
    """A stored DOI as storage returns it, with the number of the revision it names."""

    revision_number: int | None


# The Core table storage writes against: the same object the model maps.
dois = table_of(Doi)


class DoiAlias(Stamped, Keyed, table=True):
    """The ``doi_aliases`` table: a DOI whose record was merged into another's.

    Two events found to be one (a source's misprinted event number, migration 0017) keep
    one concept DOI; the other event's DOI is moved here and resolves to ``target_pk``'s
    record, so that it stays resolvable (a registered DOI is never deleted).
    """

    __tablename__: ClassVar[str] = "doi_aliases"
    __table_args__ = (
        UniqueConstraint("doi", name="uq_doi_aliases_doi"),
        UniqueConstraint("suffix", name="uq_doi_aliases_suffix"),
        CheckConstraint("kind IN ('concept', 'version')", name="kind"),
        Index("ix_doi_aliases_target_pk", "target_pk"),
    )

    doi: str = column(Text, comment="prefix/suffix, lower case")
    suffix: str = column(Text, comment="opaque suffix; its landing page shows the target")
    kind: str = column(Text, comment="what it named: concept (an event) or version")
    target_pk: int = column(BigInteger, foreign_key="dois.id",
                            comment="the DOI whose record this one now resolves to")
    provider: str = column(Text, comment="local or datacite")
    state: str = column(Text, comment="its state at the provider when it was merged")
    minted_at: datetime = column(TIMESTAMPTZ, comment="when the DOI was minted")
    registered_at: datetime | None = column(
        TIMESTAMPTZ, default=None, comment="last synchronisation with the provider")
    reason: str = column(Text, comment="why its record was merged into the target's")
    merged_from: dict[str, Any] = column(
        JSONB, comment="the event (and revision) it named, as stored before the merge")


# The Core table of the aliases.
doi_aliases = table_of(DoiAlias)
