"""The one view every FAIR format is rendered from: an alert record and its versions.

A *record* is what a DOI names. The concept DOI names the event (shown as its latest
version); a version DOI names one revision. Retraction revisions get no DOI of their own:
they turn every record of the event into a tombstone.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.errors import NotFound
from catalog.fair.config import FairConfig
from catalog.models import EventDetail, RevisionPublic
from catalog.schema.pids import DoiRead
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import ArtifactRead, FairStorage


@dataclass(frozen=True, slots=True)
class Version:
    """A published revision and its version DOI."""

    doi: DoiRead
    revision: RevisionPublic


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A record (concept or version) with everything its formats say.

    Attributes
    ----------
    event
        The event with all its revisions.
    concept
        The event's concept DOI.
    versions
        Published revisions with their DOIs, oldest first.
    focus
        The DOI this record is (``concept`` or one of the versions' DOIs).
    retraction
        The retraction revision, if the event was retracted.
    files
        Files of the shown revision and of the event as a whole.
    """

    event: EventDetail
    concept: DoiRead
    versions: tuple[Version, ...]
    focus: DoiRead
    retraction: RevisionPublic | None
    files: tuple[ArtifactRead, ...]

    @property
    def is_concept(self) -> bool:
        """Whether this is the concept record (all versions) rather than one version."""
        return self.focus.kind == "concept"

    @property
    def key(self) -> str:
        """The landing-page id of this record."""
        return self.focus.suffix

    @property
    def latest(self) -> Version | None:
        """The newest published version; ``None`` when none is published."""
        return self.versions[-1] if self.versions else None

    @property
    def shown(self) -> Version | None:
        """The version whose content the record shows (the latest one for the concept)."""
        if self.is_concept:
            return self.latest
        return next(v for v in self.versions if v.doi.id == self.focus.id)

    @property
    def revision(self) -> RevisionPublic:
        """The revision whose parameters the record shows."""
        shown = self.shown
        if shown is not None:
            return shown.revision
        assert self.retraction is not None  # an event with no published version
        return self.retraction

    @property
    def withdrawn(self) -> bool:
        """Whether the event was retracted (its records are then tombstones)."""
        return self.retraction is not None

    @property
    def index(self) -> int | None:
        """The position of the shown version in ``versions``; ``None`` when none is shown."""
        shown = self.shown
        return None if shown is None else self.versions.index(shown)

    @property
    def previous(self) -> Version | None:
        """The version before this one (version records only)."""
        i = self.index
        return self.versions[i - 1] if i is not None and i > 0 and not self.is_concept else None

    @property
    def next(self) -> Version | None:
        """The version after this one (version records only)."""
        i = self.index
        if i is None or self.is_concept or i + 1 >= len(self.versions):
            return None
        return self.versions[i + 1]

    @property
    def superseded_by(self) -> Version | None:
        """The latest version, when this version record is not it."""
        if self.is_concept or self.latest is None or self.latest.doi.id == self.focus.id:
            return None
        return self.latest

    @property
    def name(self) -> str:
        """The alert name, or a description of the event when it has no name."""
        e = self.event
        return e.name or f"{e.observatory} run {e.run_id} event {e.event_id}"

    def file_key(self, f: ArtifactRead) -> str:
        """The record a file belongs to, whose URL is the file's one URL: its revision's
        version (the concept for a file of the whole event)."""
        if f.revision_number is not None:
            for v in self.versions:
                if v.revision.number == f.revision_number:
                    return v.doi.suffix
        return self.concept.suffix

    def file_url(self, cfg: FairConfig, f: ArtifactRead) -> str:
        """The one public URL of file ``f`` (under the landing page of :meth:`file_key`)."""
        return cfg.file_url(self.file_key(f), f.filename)

    @property
    def replaced_by(self) -> str | None:
        """Name of the event that replaces a retracted one, when the retraction says."""
        if self.retraction is None:
            return None
        value = self.retraction.provenance.get("replaced_by")
        return str(value) if value else None


class RecordService:
    """Loads records from the catalog and the DOI table."""

    def __init__(self, catalog: CatalogStorage, fair: FairStorage) -> None:
        self.catalog = catalog
        self.fair = fair

    def load(self, key: str) -> AlertRecord:
        """The record named by ``key``: a DOI suffix (of a merged DOI: the record it was
        merged into), or an event key (its concept record)."""
        row = self.fair.find_suffix(key)
        merged = self.fair.merged_into(key) if row is None else None
        if merged is not None:  # a DOI merged into another record shows that record
            row = merged[1]
        if row is not None:
            return self.for_event(row.event_pk, focus=row)
        with self.catalog.engine.connect() as conn:
            event_pk = self.catalog.resolve_event(conn, key).id
        return self.for_event(event_pk)

    def for_event(self, event_pk: int, focus: DoiRead | None = None) -> AlertRecord:
        """The record of event ``event_pk``: its concept record, or the DOI ``focus``'s.

        Files are those of the shown revision and of the event as a whole. Raises
        :class:`NotFound` when the event has no concept DOI yet.
        """
        event = self.catalog.get_event(str(event_pk))
        rows = self.fair.dois_of_event(event_pk)
        concept = next((r for r in rows if r.kind == "concept"), None)
        if concept is None:
            raise NotFound(f"event {event.name or event_pk} has no DOI yet",
                           details={"event": event.name})
        by_number = {r.revision_number: r for r in rows if r.kind == "version"}
        versions = tuple(Version(doi=by_number[rev.number], revision=rev)
                         for rev in event.revisions if rev.number in by_number)
        retraction = next((r for r in reversed(event.revisions) if r.kind == "retraction"
                           and event.retracted), None)
        focus = focus or concept
        shown_number = None
        if focus.kind == "version":
            shown_number = focus.revision_number
        elif versions:
            shown_number = versions[-1].revision.number
        files = tuple(a for a in self.fair.artifacts_of_event(event_pk)
                      if a.revision_number is None or a.revision_number == shown_number)
        return AlertRecord(event=event, concept=concept, versions=versions, focus=focus,
                           retraction=retraction, files=files)
