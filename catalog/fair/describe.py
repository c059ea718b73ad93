"""Human-readable words about a record, shared by every format (titles, abstracts, units)."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.fair.config import Creator, FairConfig
from catalog.fair.records import AlertRecord
from catalog.models import RevisionPublic

#: Stream labels as IceCube writes them.
STREAM_LABELS = {"gold": "Gold", "bronze": "Bronze", "cascade": "Cascade", "hese": "HESE",
                 "ehe": "EHE", "none": "archival"}

#: Unified Astronomy Thesaurus terms of every alert: (label, UAT concept number).
UAT_SUBJECTS = (("Neutrino astronomy", 1100), ("High energy astrophysics", 739),
                ("Transient sources", 1851))


#: The headline of a simulated record: its page's banner and its descriptions open with it.
SIMULATED_HEADLINE = "Simulated — not a real observation."

#: What a simulated record says after the headline.
SIMULATED_NOTE = ("This alert was made from a simulated detector event ({observatory}) to "
                  "test the pipeline: do not follow it up or cite it as a detection.")


def simulated_note(rec: AlertRecord) -> str:
    """The explanation after :data:`SIMULATED_HEADLINE` (descriptions and the banner)."""
    return SIMULATED_NOTE.format(observatory=rec.event.observatory)


def uat_uri(number: int) -> str:
    """The IRI of Unified Astronomy Thesaurus concept ``number``."""
    return f"http://astrothesaurus.org/uat/{number}"


def iso(t: datetime) -> str:
    """ISO 8601 in UTC with a Z, seconds precision."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stream_label(stream: str) -> str:
    """The stream as IceCube spells it (``gold`` → ``Gold``); unknown streams unchanged."""
    return STREAM_LABELS.get(stream, stream)


def title(rec: AlertRecord) -> str:
    """The dataset title: alert name, observatory and stream, and the version number unless
    this is the concept record."""
    base = f"{rec.name}: {rec.event.observatory} {stream_label(rec.event.stream)} neutrino alert"
    if rec.is_concept:
        return base
    return f"{base} (version {rec.revision.number})"


def version_label(rec: AlertRecord) -> str | None:
    """The version number the record shows, as text; ``None`` when no version is published."""
    return None if rec.shown is None else str(rec.revision.number)


def published(rec: AlertRecord) -> datetime:
    """When the record was first published: its first version (or its revision) was issued."""
    rev = rec.versions[0].revision if rec.is_concept and rec.versions else rec.revision
    return issued(rec, rev)


def issued(rec: AlertRecord, rev: RevisionPublic) -> datetime:
    """When ``rev``'s notice was issued; for an imported notice whose source gives no issue
    time (an AMON table row), the alert's event time — never the time nufair imported it."""
    if rev.issued_at is not None:
        return rev.issued_at
    return rev.event_time or rec.event.event_time


def position_text(rec: AlertRecord) -> str:
    """The direction in words: RA/Dec in degrees and, when given, the 90 % error rectangle."""
    rev = rec.revision
    if rev.ra is None or rev.dec is None:
        return "no direction given"
    text = f"RA {rev.ra:.2f}°, Dec {rev.dec:+.2f}° (ICRS)"
    box = rev.error90
    if box.ra_plus is not None and box.dec_plus is not None:
        text += (f", 90 % region RA +{box.ra_plus:.2f}/−{box.ra_minus:.2f}°, "
                 f"Dec +{box.dec_plus:.2f}/−{box.dec_minus:.2f}°")
    return text


def abstract(rec: AlertRecord, simulated: bool = False) -> str:
    """The dataset description: who saw what and when, the direction and the estimates the
    revision has, which version this is, and the retraction if there is one; a simulated
    record's opens with :func:`simulated_note`."""
    e, rev = rec.event, rec.revision
    parts = [SIMULATED_HEADLINE.upper(), simulated_note(rec)] if simulated else []
    if rec.retraction is not None:  # first, so that no reader or harvester misses it
        parts.append(f"WITHDRAWN: this alert was retracted on {iso(withdrawn_at(rec))} "
                     f"({rec.retraction.retraction_reason or 'no reason given'}). The record "
                     "is kept so that citations resolve; do not use it for follow-up.")
    named = f" {e.name}" if e.name else ""  # an unnamed alert is named by run and event
    parts += [f"{stream_label(e.stream)} high-energy neutrino alert{named} from the "
              f"{e.observatory} run {e.run_id}, event {e.event_id}, detected at "
              f"{iso(e.event_time)}. Best-fit direction: {position_text(rec)}."]
    if rev.energy_tev is not None:
        parts.append(f"Most probable neutrino energy {rev.energy_tev:.0f} TeV.")
    if rev.signalness is not None:
        parts.append(f"Signalness {rev.signalness:.3f}.")
    if rev.far_per_year is not None:
        parts.append(f"False-alarm rate {rev.far_per_year:.3g} per year.")
    if rec.is_concept:
        parts.append(f"This record always shows the latest of {len(rec.versions)} version(s).")
    else:
        parts.append(f"Version {rev.number} ({rev.kind}, from {rev.source}).")
    return " ".join(parts)


def is_simulated(rec: AlertRecord, cfg: FairConfig) -> bool:
    """Whether the record's event is simulated (its observatory is a simulated one)."""
    return cfg.is_simulated(rec.event.observatory)


def description(rec: AlertRecord, cfg: FairConfig) -> str:
    """The abstract every format gives, with the simulation warning where it applies."""
    return abstract(rec, simulated=is_simulated(rec, cfg))


def creator(rec: AlertRecord, cfg: FairConfig) -> Creator:
    """Who the record credits (:meth:`FairConfig.creator_of` its observatory)."""
    return cfg.creator_of(rec.event.observatory)


def withdrawn_at(rec: AlertRecord) -> datetime:
    """When a retracted record was withdrawn (the DOI's own time, else the retraction's);
    only for a record that has a retraction."""
    assert rec.retraction is not None
    return (rec.focus.withdrawn_at or rec.retraction.issued_at or rec.retraction.created_at)
