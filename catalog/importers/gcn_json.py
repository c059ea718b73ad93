"""GCN Kafka JSON notices of IceCube's ``single_neutrino_alerts`` topic.

Each notice is validated against the official GCN schema (package data in
``catalog/schemas_external``, registered under ``https://gcn.nasa.gov/schema/main/`` so its
relative ``$ref``s resolve offline) and mapped to one
:class:`~catalog.notices.parsed.NoticeRecord`. Notices of other missions (KM3NeT, Super-K, IceCube's
LVK follow-up searches) are refused with :class:`~catalog.errors.NotANeutrinoAlert`.

Mapping:

* ``id`` ``"<run>_<event>"`` -> run, event; ``event_name`` -> name;
* ``alert_type`` initial / update / retraction -> kind (``subsequent`` counts as an update);
* ``record_number`` -> ``source_rev`` as given (GCN JSON counts from 1, VOEvent ``Rev`` from 0);
* ``ra``/``dec``/``ra_dec_error`` + ``containment_probability`` (default 0.9) -> a circle;
* ``nu_energy`` [TeV]; ``p_astro`` -> signalness; ``far`` [Hz] -> per year with a 365-day
  year (:data:`~catalog.importers._common.SECONDS_PER_YEAR`);
* ``trigger_time`` -> event time; ``alert_datetime`` -> issued_at.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema.exceptions import best_match

from catalog.errors import InvalidInput, NotANeutrinoAlert, UnsupportedFormat
from catalog.importers._common import (
    OBSERVATORY,
    SECONDS_PER_YEAR,
    Measured,
    decode_utf8,
    parse_utc,
)
from catalog.notices.gcn_schema import ICECUBE_SCHEMA, SCHEMA_BASE, validator
from catalog.notices.parsed import (
    ErrorRegion,
    NoticeRecord,
    RevisionKind,
    Source,
    Stream,
    notice_key,
    time_precision,
)

PIPELINE_STREAMS = {
    "Gold Track Alert": Stream.GOLD,
    "Bronze Track Alert": Stream.BRONZE,
    "Cascade Alert": Stream.CASCADE,
}

ALERT_KINDS = {
    "initial": RevisionKind.INITIAL,
    "update": RevisionKind.UPDATE,
    "subsequent": RevisionKind.UPDATE,
    "retraction": RevisionKind.RETRACTION,
}

_NOT_REAL_TENSES = frozenset({"test", "injection", "planned", "commanded"})
_ID_RE = re.compile(r"^(\d+)_(\d+)$")


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"JSON contains {name}, which strict JSON does not allow")


def load_json(data: bytes) -> Any:
    """Decode strict JSON (no NaN / Infinity) or raise ``InvalidInput``."""
    text = decode_utf8(data)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _identify(doc: dict[str, Any]) -> None:
    """Refuse anything but an IceCube single-neutrino alert, saying what it is."""
    schema = str(doc.get("$schema", ""))
    mission = doc.get("mission")
    if schema == ICECUBE_SCHEMA:
        if mission not in (None, "IceCube"):
            # The schema leaves "mission" a free string; IceCube's schema does not make a
            # KM3NeT (or any other) notice an IceCube alert.
            raise NotANeutrinoAlert(
                f"notice uses IceCube's schema but names mission {mission!r}; nufair "
                "archives IceCube single-neutrino alerts only")
        return
    if "/icecube/lvk_nu_track_search" in schema:
        raise NotANeutrinoAlert(
            "IceCube LVK nu-track-search notice: a follow-up of a gravitational-wave event, "
            "not a single-neutrino alert"
        )
    if schema.startswith(SCHEMA_BASE) or mission is not None:
        raise NotANeutrinoAlert(
            f"GCN notice of {mission or 'another mission'} ({schema or 'no $schema'}); "
            "nufair archives IceCube single-neutrino alerts only"
        )
    raise UnsupportedFormat("JSON document is not a GCN Kafka notice (no GCN $schema)")


def _validate(doc: dict[str, Any]) -> None:
    """Raise ``InvalidInput`` on a schema violation, ``NotANeutrinoAlert`` on a test tense."""
    error = best_match(validator().iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise InvalidInput(
            f"GCN IceCube notice does not match the official schema at {where}: {error.message}"
        )
    tense = doc.get("alert_tense", "current")
    if tense in _NOT_REAL_TENSES:
        raise NotANeutrinoAlert(f"GCN notice with alert_tense={tense!r}; not archived")


def _run_event(doc: dict[str, Any]) -> tuple[int, int]:
    """Run and event from the first ``id`` of the form ``"<run>_<event>"``."""
    ids = doc.get("id")
    match = next(
        (m for m in (_ID_RE.match(str(v)) for v in (ids if isinstance(ids, list) else [ids])) if m),
        None,
    )
    if match is None:
        raise InvalidInput(f"GCN IceCube notice has no 'id' of the form '<run>_<event>': {ids!r}")
    return int(match[1]), int(match[2])


def _stream(doc: dict[str, Any]) -> Stream:
    """The alert stream named by ``pipeline``."""
    pipeline = doc.get("pipeline")
    if pipeline not in PIPELINE_STREAMS:
        raise InvalidInput("GCN IceCube notice has no 'pipeline', so its stream is unknown")
    return PIPELINE_STREAMS[pipeline]


def _regions_and_extra(doc: dict[str, Any]) -> tuple[list[ErrorRegion], dict[str, Any]]:
    """The error circle of ``ra_dec_error``, and the fields kept verbatim as provenance."""
    regions: list[ErrorRegion] = []
    extra: dict[str, Any] = {}
    error_value = doc.get("ra_dec_error")
    containment = float(doc.get("containment_probability", 0.9))
    if isinstance(error_value, list) and (
        len(error_value) == 1 or (len(error_value) >= 2 and error_value[0] == error_value[1])
    ):
        error_value = error_value[0]
    if isinstance(error_value, int | float):
        regions.append(ErrorRegion(containment, radius_deg=float(error_value)))
    elif error_value is not None:
        # An ellipse has no ErrorRegion form; keep it verbatim rather than invent a circle.
        extra["ra_dec_error_ellipse"] = error_value
    for key in ("healpix_url", "systematic_included", "alert_tense", "instrument"):
        if key in doc:
            extra[key] = doc[key]
    return regions, extra


def _quantities(doc: dict[str, Any]) -> Measured:
    """The issue time and the measured energy, signalness and FAR."""
    far_hz = doc.get("far")
    issued = doc.get("alert_datetime")
    return Measured(
        issued_at=parse_utc(issued, "alert_datetime") if issued else None,
        energy_tev=float(doc["nu_energy"]) if doc.get("nu_energy") is not None else None,
        signalness=float(doc["p_astro"]) if doc.get("p_astro") is not None else None,
        # far is in Hz (events per second); times seconds per (365-day) year.
        far_per_year=float(far_hz) * SECONDS_PER_YEAR if far_hz is not None else None,
    )


def parse_gcn_json(data: bytes) -> list[NoticeRecord]:
    """Parse one GCN Kafka JSON notice of an IceCube single-neutrino alert.

    Parameters
    ----------
    data
        The JSON document (UTF-8).

    Returns
    -------
    list of NoticeRecord
        One record.

    Raises
    ------
    InvalidInput
        Malformed JSON, a schema violation, or a required field missing.
    NotANeutrinoAlert
        Another mission's notice, or a test/injection notice.
    UnsupportedFormat
        JSON that is not a GCN notice at all.
    """
    doc = load_json(data)
    if not isinstance(doc, dict):
        raise UnsupportedFormat("JSON document is not an object, so not a GCN notice")
    _identify(doc)
    _validate(doc)
    run, event = _run_event(doc)
    stream = _stream(doc)
    kind = ALERT_KINDS.get(doc.get("alert_type", "initial"), RevisionKind.INITIAL)
    ra, dec = doc.get("ra"), doc.get("dec")
    if kind is not RevisionKind.RETRACTION and (ra is None or dec is None):
        raise InvalidInput("GCN IceCube notice has no 'ra'/'dec'")
    regions, extra = _regions_and_extra(doc)
    record_number = doc.get("record_number")
    source_rev = int(record_number) if record_number is not None else None
    trigger = parse_utc(doc.get("trigger_time"), "trigger_time")
    measured = _quantities(doc)
    return [
        NoticeRecord(
            observatory=OBSERVATORY,
            run_id=run,
            event_id=event,
            name=_first(doc.get("event_name")),
            stream=stream,
            event_time=trigger,
            kind=kind,
            source=Source.GCN_JSON,
            source_rev=source_rev,
            # The same notice as the VOEvent / AMON row of Rev record_number - 1.
            source_key=notice_key(stream, run, event, source_rev - 1)
            if source_rev is not None
            else f"gcn-json:{run}:{event}:-",
            time_precision_s=time_precision(str(doc.get("trigger_time"))),
            ra=float(ra) if ra is not None else None,
            dec=float(dec) if dec is not None else None,
            regions=tuple(regions),
            retraction_reason=doc.get("additional_info")
            if kind is RevisionKind.RETRACTION
            else None,
            extra=extra,
            issued_at=measured.issued_at,
            energy_tev=measured.energy_tev,
            signalness=measured.signalness,
            far_per_year=measured.far_per_year,
        )
    ]
