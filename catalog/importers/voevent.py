"""GCN VOEvent 2.0 notices of IceCube (AMON packets 173, 174, 176 and legacy 158, 169).

A notice becomes one :class:`~catalog.notices.parsed.NoticeRecord`. The XML is parsed with
``defusedxml`` (no DTDs, no entities, no external references), so an XML bomb or an
external-entity attack is refused before any expansion. We read the few elements we need
with ElementTree rather than through voevent-parse: voevent-parse parses with lxml without
entity protection, and a second parse would double the cost of every notice.

Refused, with the reason in the error:

* notices from other observatories (LVK gravitational-wave notices, ANTARES, which still
  uses the VOEvent v1.1 schema) -> :class:`~catalog.errors.NotANeutrinoAlert`;
* test notices (``role="test"``, the ``Test``/``InternalTest`` flags, packet 159)
  -> :class:`~catalog.errors.NotANeutrinoAlert`;
* notices whose IVORN, AMON_ID or TJD/SOD contradict their parameters
  -> :class:`~catalog.errors.InconsistentNotice`;
* malformed XML and forbidden XML constructs -> :class:`~catalog.errors.InvalidInput`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as fast_et
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from catalog.errors import InvalidInput, NotANeutrinoAlert
from catalog.importers._common import (
    OBSERVATORY,
    Measured,
    angle_to_deg,
    energy_to_tev,
    parse_utc,
    rate_to_per_year,
    to_float,
    to_int,
)
from catalog.importers.voevent_checks import IVORN_RE, check_consistency
from catalog.notices.parsed import (
    ErrorRegion,
    NoticeRecord,
    RevisionKind,
    Source,
    Stream,
    notice_key,
    time_precision,
)

VOEVENT_V2_NS = "http://www.ivoa.net/xml/VOEvent/v2.0"

PACKET_STREAMS: dict[int, Stream] = {
    173: Stream.GOLD,  # ICECUBE_ASTROTRACK_GOLD
    174: Stream.BRONZE,  # ICECUBE_ASTROTRACK_BRONZE
    176: Stream.CASCADE,  # ICECUBE_CASCADE
    158: Stream.HESE,  # AMON_ICECUBE_HESE (legacy, 2016-2019)
    169: Stream.EHE,  # AMON_ICECUBE_EHE (legacy, 2016-2019)
}
"""GCN packet type -> alert stream, for the IceCube packets we archive."""

TEST_PACKETS = frozenset({159})
"""AMON_ICECUBE_TEST."""

OTHER_ICECUBE_PACKETS = frozenset({157, 166, 172})
"""AMON coincidence / cluster packets: IceCube-related but not single-neutrino alerts."""

_ERROR2RADIUS_CONTAINMENT = {173: 0.9, 174: 0.9, 176: 0.9, 158: 0.5, 169: 0.5}
"""Containment of ``Error2Radius`` when no ``src_error_*`` Param says it.

The current alerts repeat ``src_error_90`` there; the legacy HESE/EHE notices gave a 50 %
radius (as the GCN AMON HESE/EHE tables state in their headers).
"""



def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: Element | None, *path: str) -> Element | None:
    node = parent
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _text(parent: Element | None, *path: str) -> str | None:
    node = _child(parent, *path)
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


#: An XML declaration naming an encoding other than UTF-8 (the fast path reads UTF-8 only).
_OTHER_ENCODING = re.compile(r"""^\s*<\?xml[^>]*encoding=["'](?!utf-?8["'])""", re.IGNORECASE)


def _plain_utf8(data: bytes) -> str | None:
    """``data`` as text when it is UTF-8 and can hold no DTD (no ``<!DOCTYPE``, no
    ``<!ENTITY``); else ``None``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "<!DOCTYPE" in text or "<!ENTITY" in text or _OTHER_ENCODING.match(text[:200]):
        return None
    return text


def parse_xml(data: bytes) -> Element:
    """Parse ``data`` safely; XML bombs, DTDs and external entities raise ``InvalidInput``.

    A UTF-8 document without a DTD (every real notice) is parsed by the standard library's
    C parser from its text: entity bombs and external entities need a DTD, and a ``str`` is
    always read as UTF-8, so the check above sees what the parser reads. Every other
    document goes through defusedxml (about 5 times slower: its tree is built in Python),
    which refuses DTDs.
    """
    text = _plain_utf8(data)
    try:
        root: Element = (safe_et.fromstring(data, forbid_dtd=True) if text is None
                         else fast_et.fromstring(text))
    except DefusedXmlException as exc:
        raise InvalidInput(
            f"refused XML: {type(exc).__name__} (DTDs, entity declarations and external "
            "references are not allowed in notices)"
        ) from None
    except ParseError as exc:
        raise InvalidInput(f"malformed XML: {exc}") from None
    return root


def _params(what: Element | None) -> tuple[dict[str, Element], dict[str, dict[str, str]]]:
    """Top-level Params by name, and each Group's Params as name -> value."""
    params: dict[str, Element] = {}
    groups: dict[str, dict[str, str]] = {}
    if what is None:
        return params, groups
    for node in what:
        tag = _local(node.tag)
        if tag == "Param":
            params[node.get("name", "")] = node
        elif tag == "Group":
            groups[node.get("name", "")] = {
                p.get("name", ""): p.get("value", "") for p in node if _local(p.tag) == "Param"
            }
    return params, groups


def _flag(group: dict[str, str], name: str) -> bool:
    return group.get(name, "false").strip().lower() in ("true", "1", "yes")


def _refuse_foreign(root: Element, ivorn: str, packet: int | None) -> None:
    """Raise ``NotANeutrinoAlert`` unless this is an IceCube single-neutrino alert."""
    schema_location = " ".join(v for k, v in root.attrib.items() if k.endswith("schemaLocation"))
    if "ANTARES" in ivorn.upper():
        raise NotANeutrinoAlert(
            f"{ivorn} is an ANTARES notice (VOEvent v1.1 schema); nufair archives IceCube "
            "alerts only"
        )
    if "/LVC#" in ivorn or ivorn.startswith("ivo://gwnet/"):
        raise NotANeutrinoAlert(
            f"{ivorn} is an LVK gravitational-wave notice, not an IceCube neutrino alert"
        )
    if "VOEvent/v1.1" in schema_location or _local(root.tag) != "VOEvent":
        raise NotANeutrinoAlert(f"{ivorn or 'document'} is not a VOEvent 2.0 IceCube notice")
    if packet in OTHER_ICECUBE_PACKETS:
        raise NotANeutrinoAlert(
            f"{ivorn}: packet type {packet} is an AMON coincidence notice, not a "
            "single-neutrino alert"
        )
    if packet not in PACKET_STREAMS and packet not in TEST_PACKETS:
        raise NotANeutrinoAlert(
            f"{ivorn or 'VOEvent'} is not an IceCube neutrino alert (packet type {packet})"
        )


def _param_float(params: dict[str, Element], name: str) -> tuple[float, str | None] | None:
    node = params.get(name)
    if node is None or node.get("value") in (None, ""):
        return None
    return to_float(node.get("value"), f"Param {name}"), node.get("unit")


def _packet_type(params: dict[str, Element]) -> int | None:
    """The ``Packet_Type`` Param as an int (``None`` when the notice has none)."""
    node = params.get("Packet_Type")
    return to_int(node.get("value"), "Packet_Type") if node is not None else None


def _refuse_test(root: Element, ivorn: str, packet: int, trigger: dict[str, str]) -> None:
    """Raise ``NotANeutrinoAlert`` for a test notice (role, test packet or test flags)."""
    role = root.get("role", "observation")
    if (
        role != "observation"
        or packet in TEST_PACKETS
        or _flag(trigger, "Test")
        or _flag(trigger, "InternalTest")
    ):
        raise NotANeutrinoAlert(f"{ivorn} is a test notice (role={role!r}); not archived")


def _identifiers(ivorn: str, params: dict[str, Element]) -> tuple[int, int, int]:
    """Run, event and revision; the revision from the IVORN when there is no ``Rev`` Param."""
    run = to_int(params["run_id"].get("value") if "run_id" in params else None, "Param run_id")
    event = to_int(
        params["event_id"].get("value") if "event_id" in params else None, "Param event_id"
    )
    rev_node = params.get("Rev")
    if rev_node is not None:
        return run, event, to_int(rev_node.get("value"), "Param Rev")
    match = IVORN_RE.search(ivorn)
    if match is None:
        raise InvalidInput(f"{ivorn}: no Rev Param and no revision in the IVORN")
    return run, event, int(match["rev"])


def _direction(ivorn: str, position: Element | None) -> tuple[float | None, float | None]:
    """RA and Dec in degrees from the WhereWhen ``Position2D`` (``None`` where absent)."""
    unit = position.get("unit") if position is not None else None
    ra_text = _text(position, "Value2", "C1")
    dec_text = _text(position, "Value2", "C2")
    ra = angle_to_deg(to_float(ra_text, "RA (C1)"), unit, "RA") if ra_text else None
    dec = angle_to_deg(to_float(dec_text, "Dec (C2)"), unit, "Dec") if dec_text else None
    if dec is not None and not -90.0 <= dec <= 90.0:
        raise InvalidInput(f"{ivorn}: Dec {dec} is outside [-90, 90]")
    return ra, dec


def _error_regions(
    params: dict[str, Element], position: Element | None, packet: int
) -> list[ErrorRegion]:
    """The error circles: ``src_error_50/90`` Params, else ``Error2Radius`` of the packet."""
    regions: list[ErrorRegion] = []
    for name, containment in (("src_error_50", 0.5), ("src_error_90", 0.9)):
        value = _param_float(params, name)
        if value is not None:
            regions.append(ErrorRegion(containment, radius_deg=angle_to_deg(*value, name)))
    radius_text = _text(position, "Error2Radius")
    if not regions and radius_text is not None:
        unit = position.get("unit") if position is not None else None
        radius = angle_to_deg(to_float(radius_text, "Error2Radius"), unit, "Error2Radius")
        regions.append(ErrorRegion(_ERROR2RADIUS_CONTAINMENT[packet], radius_deg=radius))
    return regions


class _Naming(NamedTuple):
    """The NoticeRecord fields naming the revision (the IVORN is its source key too)."""

    name: str | None
    kind: RevisionKind
    retraction_reason: str | None
    extra: dict[str, Any]


def _revision_fields(params: dict[str, Element], trigger: dict[str, str], packet: int,
                     rev: int) -> _Naming:
    """Name, kind, retraction reason and the extra parameters kept of the revision."""
    name_node = params.get("event_name")
    retracted = _flag(trigger, "Retraction")
    extra: dict[str, Any] = {"packet_type": packet}
    for key in ("Stream", "AMON_ID", "skymap_fits", "skymap_png"):
        if key in params:
            extra[key] = params[key].get("value")
    return _Naming(
        name=name_node.get("value") if name_node is not None else None,
        kind=RevisionKind.RETRACTION
        if retracted
        else (RevisionKind.INITIAL if rev == 0 else RevisionKind.UPDATE),
        retraction_reason="retracted by IceCube (Retraction flag in the GCN notice)"
        if retracted
        else None,
        extra=extra,
    )


def _quantities(params: dict[str, Element], issued: str | None) -> Measured:
    """The issue time and the measured energy, signalness and FAR."""
    energy = _param_float(params, "energy")
    far = _param_float(params, "FAR")
    signal = _param_float(params, "signalness")
    return Measured(
        issued_at=parse_utc(issued, "Who/Date") if issued else None,
        energy_tev=energy_to_tev(*energy, "energy") if energy else None,
        signalness=signal[0] if signal else None,
        far_per_year=rate_to_per_year(*far, "FAR") if far else None,
    )


def parse_voevent(data: bytes) -> list[NoticeRecord]:
    """Parse one GCN VOEvent of an IceCube alert.

    Parameters
    ----------
    data
        The XML document.

    Returns
    -------
    list of NoticeRecord
        One record (a list for symmetry with the table importers).

    Raises
    ------
    InvalidInput, NotANeutrinoAlert, InconsistentNotice
        See the module docstring.
    """
    root = parse_xml(data)
    ivorn = root.get("ivorn", "")
    params, groups = _params(_child(root, "What"))
    packet = _packet_type(params)
    _refuse_foreign(root, ivorn, packet)
    assert packet is not None  # _refuse_foreign lets only known packets through
    trigger = groups.get("Trigger_ID", {})
    _refuse_test(root, ivorn, packet, trigger)
    run, event, rev = _identifiers(ivorn, params)

    coords = _child(root, "WhereWhen", "ObsDataLocation", "ObservationLocation", "AstroCoords")
    iso_time = _text(coords, "Time", "TimeInstant", "ISOTime")
    event_time = parse_utc(iso_time, "ISOTime")
    check_consistency(ivorn, params, packet, run, event, rev, event_time)
    position = _child(coords, "Position2D")
    ra, dec = _direction(ivorn, position)
    regions = _error_regions(params, position, packet)
    naming = _revision_fields(params, trigger, packet, rev)
    measured = _quantities(params, _text(root, "Who", "Date"))
    return [
        NoticeRecord(
            observatory=OBSERVATORY,
            run_id=run,
            event_id=event,
            stream=PACKET_STREAMS[packet],
            event_time=event_time,
            source=Source.GCN_VOEVENT,
            ra=ra,
            dec=dec,
            regions=tuple(regions),
            name=naming.name,
            kind=naming.kind,
            source_rev=rev,
            # One notice, whichever source carries it: the AMON table row of the same Rev
            # becomes the same revision (the IVORN is kept in ``ivorn``).
            source_key=notice_key(PACKET_STREAMS[packet], run, event, rev),
            ivorn=ivorn,
            time_precision_s=time_precision(iso_time or ""),
            retraction_reason=naming.retraction_reason,
            extra=naming.extra,
            issued_at=measured.issued_at,
            energy_tev=measured.energy_tev,
            signalness=measured.signalness,
            far_per_year=measured.far_per_year,
        )
    ]
