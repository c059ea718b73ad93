"""GCN Kafka JSON notices (IceCube's ``gcn.notices.icecube.gold_bronze_track_alerts`` topic),
valid against the official ``gcn/notices/icecube/single_neutrino_alerts.schema.json``.

The schema files ship in ``catalog.schemas_external`` (see its SOURCES.md) and are
registered under their official ``$id`` URIs, so the relative ``$ref``s resolve offline.
Every notice built here is validated before it is returned: an invalid notice is a bug and
never reaches the outbox.

Test and simulation traffic is marked with ``alert_tense: "test"``, the schema's own value
for "a test trigger" (``core/Alert.schema.json``); the schema has no other test field.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import best_match

from catalog.notices.gcn_schema import ICECUBE_SCHEMA as SCHEMA_ID
from catalog.notices.gcn_schema import validator
from catalog.notices.model import NoticeInput, RenderedNotice, file_stem, iso_z

MEDIA_TYPE = "application/json"


def build(n: NoticeInput) -> dict[str, Any]:
    """The GCN JSON notice of ``n`` as a dict (validated against the official schema).

    ``record_number`` counts notices of the event from 1 (revision 0 → 1); ``far`` is in Hz;
    a retraction keeps the position of the revision it retracts and says why in
    ``additional_info``; a test notice (:attr:`NoticeInput.test`) has ``alert_tense`` ``test``.
    """
    _, _, _, pipeline, topology = n.codes
    doc: dict[str, Any] = {
        "$schema": SCHEMA_ID,
        "mission": "IceCube",
        "instrument": "IC86",
        "messenger": "Neutrino",
        "pipeline": pipeline,
        "record_number": n.revision + 1,
        "id": [f"{n.run_id}_{n.event_id}"],
        "alert_datetime": iso_z(n.issued_at, 3),
        "alert_type": n.kind,
        "alert_tense": "test" if n.test else "current",
        "alert_topology": topology,
        "number_of_events": 1,
        "trigger_time": iso_z(n.event_time, 6),
    }
    if n.name:
        doc["event_name"] = [n.name]
    if n.ra is not None and n.dec is not None:
        doc["ra"] = round(n.ra, 4)
        doc["dec"] = round(n.dec, 4)
        if n.r90_deg is not None:
            doc["ra_dec_error"] = round(n.r90_deg, 4)
            doc["containment_probability"] = 0.9
            doc["systematic_included"] = n.systematics is not None
    if n.skymap_url:
        doc["healpix_url"] = n.skymap_url
    if n.energy_tev is not None:
        doc["nu_energy"] = round(n.energy_tev, 4)
    if n.signalness is not None:
        doc["p_astro"] = round(n.signalness, 5)
    if n.far_hz is not None:
        doc["far"] = float(f"{n.far_hz:.4e}")
    notes = _notes(n)
    if notes:
        doc["additional_info"] = notes
    check(doc)
    return doc


def _notes(n: NoticeInput) -> str:
    """``additional_info``: a test warning, the retraction's reason, how the regions include
    systematics, the cited notices."""
    notes = []
    if n.test:
        notes.append(f"TEST: simulated event from {n.observatory}, not a real observation")
    if n.systematics is not None and n.r90_deg is not None:
        notes.append(systematics_note(n.systematics))
    if n.kind == "retraction":
        notes.append(f"Retraction: {n.retraction_reason or 'no reason given'}")
    notes.extend(f"{c.relation} {c.ivorn}" for c in n.citations)
    return "; ".join(notes)


def systematics_note(systematics: str) -> str:
    """How a region with systematics was made (``additional_info``, VOEvent descriptions)."""
    return (f"Error regions include systematic uncertainties: 2DeltaLLH thresholds "
            f"calibrated per energy bin on simulation with systematic variations "
            f"({systematics})")


def check(doc: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first schema violation of ``doc``, if any."""
    error = best_match(validator().iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ValueError(f"GCN JSON notice invalid at {where}: {error.message}")


def render(n: NoticeInput) -> RenderedNotice:
    """The GCN JSON notice of ``n`` as a stored notice (indented ``.json``)."""
    payload = json.dumps(build(n), indent=2, allow_nan=False).encode("utf-8")
    return RenderedNotice("gcn-json", MEDIA_TYPE, f"{file_stem(n)}.json", payload)
