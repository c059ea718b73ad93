"""Tables of the FAIR layer: persistent identifiers (DOIs) of events and revisions.

One row per DOI. An event has one *concept* DOI (``revision_pk`` NULL) that always resolves
to its latest version; each published revision (not a retraction) has one *version* DOI.
``updated_at`` moves whenever the metadata a DOI describes changes (a new version, a
retraction): it is the OAI-PMH datestamp, so incremental harvesters see the change.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from catalog.schema.events import metadata

#: DataCite DOI states (REST API): draft → registered → findable; registered = hidden.
DOI_STATES = ("draft", "registered", "findable")

dois = Table(
    "dois",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("doi", Text, nullable=False, comment="prefix/suffix, lower case"),
    Column("suffix", Text, nullable=False, comment="opaque suffix; the landing-page id"),
    Column("kind", Text, nullable=False, comment="concept (the event) or version (a revision)"),
    Column("event_pk", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("revision_pk", BigInteger, ForeignKey("revisions.id"), nullable=True),
    Column("provider", Text, nullable=False, comment="local or datacite"),
    Column("state", Text, nullable=False, comment="draft, registered (hidden) or findable"),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True,
           comment="set when the event is retracted: the record becomes a tombstone"),
    Column("registered_at", DateTime(timezone=True), nullable=True,
           comment="last successful synchronisation with the provider"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("doi", name="uq_dois_doi"),
    UniqueConstraint("suffix", name="uq_dois_suffix"),
    UniqueConstraint("revision_pk", name="uq_dois_revision_pk"),
    CheckConstraint("kind IN ('concept', 'version')", name="kind"),
    CheckConstraint("(kind = 'concept') = (revision_pk IS NULL)", name="kind_revision"),
    CheckConstraint("state IN ('draft', 'registered', 'findable')", name="state"),
    Index("uq_dois_concept", "event_pk", unique=True, postgresql_where=text("kind = 'concept'")),
    Index("ix_dois_updated_at_id", "updated_at", "id"),
    Index("ix_dois_event_pk", "event_pk"),
)
