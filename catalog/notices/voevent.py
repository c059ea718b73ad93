"""VOEvent 2.0 notices shaped like IceCube's GCN notices (packets 173, 174 and 176).

Built with voevent-parse (the field's VOEvent library) and checked against the VOEvent 2.0
XSD shipped in ``catalog/notices/schemas`` (see SOURCES.md there). The parameters follow
the real notices in GCN's AMON stream: ``Packet_Type``, ``AMON_ID``, ``run_id``,
``event_id``, ``Event_TJD``/``Event_SOD``, ``Stream``, ``Rev``, ``signalness``, ``FAR``
(per year), ``energy`` (TeV), ``src_error_90``/``src_error_50`` (deg), the ``Trigger_ID``
group with the ``Retraction`` flag, and ``Citations`` (``supersedes`` / ``retraction``) to
the notices a revision replaces.

Test and simulation traffic (:attr:`NoticeInput.test`) goes out as ``role="test"`` with the
``Test`` and ``InternalTest`` flags true, as GCN marks its own test notices, so that brokers
and subscribers that filter tests drop it. ``AuthorIVORN`` and the contact come from
:attr:`NoticeInput.author` (the settings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files

import voeventparse as vp
from lxml import etree

from catalog.notices.model import TJD_OFFSET, NoticeInput, RenderedNotice, file_stem

MEDIA_TYPE = "application/xml"

#: Where the AMON notices point readers for the stream's description.
REFERENCES = ("https://gcn.gsfc.nasa.gov/amon.html",
              "https://gcn.gsfc.nasa.gov/amon_icecube_gold_bronze_events.html")


@cache
def schema() -> etree.XMLSchema:
    """The VOEvent 2.0 XML schema (the XSD that voevent-parse ships, as a project file)."""
    xsd = files("catalog.notices").joinpath("schemas/VOEvent-v2.0.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


def _param(name: str, value: str, unit: str | None = None, ucd: str | None = None,
           description: str | None = None) -> etree._Element:
    p = vp.Param(name, value=value, unit=unit, ucd=ucd)
    if description:
        p.Description = description
    return p


def _tjd_sod(t: datetime) -> tuple[int, float]:
    """Truncated Julian Day and seconds of day (UTC) of an aware datetime."""
    mjd = t.timestamp() / 86400.0 + 40587.0  # POSIX days since the MJD origin (UTC)
    return int(mjd) - TJD_OFFSET, (mjd - int(mjd)) * 86400.0


def _skeleton(n: NoticeInput) -> vp.Voevent:
    """An observation (or test) VOEvent with the notice's IVORN and its Who block."""
    roles = vp.definitions.roles
    v = vp.Voevent(stream="placeholder", stream_id="0",
                   role=roles.test if n.test else roles.observation)
    v.attrib["ivorn"] = n.ivorn
    # set_who prefixes "ivo://" itself: give it the IVORN without its scheme.
    vp.set_who(v, date=n.issued_at.astimezone(UTC).replace(tzinfo=None),
               author_ivorn=n.author.ivorn.removeprefix("ivo://"))
    contact = {"contactName": n.author.contact_name}
    if n.author.contact_email:
        contact["contactEmail"] = n.author.contact_email
    vp.set_author(v, **contact)
    v.Who.Description = "VOEvent created by nufair with voevent-parse."
    return v


def _identity_params(n: NoticeInput, packet: int, code: int,
                     t: datetime) -> list[etree._Element]:
    """The Params every notice has: packet, identifiers, TJD/SOD, stream and revision."""
    tjd, sod = _tjd_sod(t)
    return [
        _param("Packet_Type", str(packet)),
        _param("Pkt_Ser_Num", str(n.revision + 1)),
        _param("AMON_ID", f"{n.run_id}{n.event_id:08d}", ucd="meta.id",
               description="Alert identification number."),
        _param("run_id", str(n.run_id), ucd="meta.id", description="Run id."),
        _param("event_id", str(n.event_id), ucd="meta.id",
               description="Event id within a given run."),
        _param("Event_TJD", str(tjd), unit="days", ucd="time"),
        _param("Event_SOD", f"{sod:.2f}", unit="sec", ucd="time"),
        _param("Stream", str(code), unit="dn", ucd="meta.id",
               description="IceCube coincidence stream identification"),
        _param("Rev", str(n.revision), unit="dn", ucd="meta.id",
               description="Alert revision"),
    ]


def _measurement_params(n: NoticeInput) -> list[etree._Element]:
    """The optional Params: name, signalness, FAR, energy, error radii and sky map."""
    what = []
    if n.name:
        what.append(_param("event_name", n.name, ucd="meta.id", description="Alert name."))
    if n.signalness is not None:
        what.append(_param("signalness", f"{n.signalness:.4f}", unit="dn",
                           ucd="stat.probability",
                           description="Probability of a neutrino event being astrophysical "
                           "in origin."))
    if n.far_per_year is not None:
        what.append(_param("FAR", f"{n.far_per_year:.4f}", unit="yr^-1",
                           ucd="stat.probability",
                           description="False Alarm Rate. Number per year."))
    if n.energy_tev is not None:
        what.append(_param("energy", f"{n.energy_tev:.4f}", unit="TeV", ucd="phys.energy",
                           description="Likely neutrino energy (in TeV)."))
    for level, radius in ((90, n.r90_deg), (50, n.r50_deg)):
        if radius is not None:
            kind = ("statistical only" if n.systematics is None else
                    f"statistical and systematic, thresholds calibrated on {n.systematics}")
            what.append(_param(
                f"src_error_{level}", f"{radius:.4f}", unit="deg", ucd="stat.error.sys",
                description=f"Angular error of the source, {kind}, "
                f"({level}% containment)."))
    if n.skymap_url:
        what.append(_param("skymap_fits", n.skymap_url, ucd="meta.ref.url",
                           description="Skymap FITS file"))
    return what


def _trigger_group(n: NoticeInput) -> etree._Element:
    """The ``Trigger_ID`` Group of flags, with ``Retraction`` set for a retraction."""
    return vp.Group([
        _param("SubType", "indi"),
        _param("Test", _bool(n.test)),
        _param("RADec_valid", "true" if n.ra is not None else "false"),
        _param("Retraction", "true" if n.kind == "retraction" else "false"),
        _param("InternalTest", _bool(n.test)),
    ], name="Trigger_ID")


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def _description(n: NoticeInput) -> str | None:
    """The event's top-level Description: a test warning and/or the retraction's reason."""
    parts = []
    if n.test:
        parts.append(f"TEST: simulated event from {n.observatory}, not a real observation.")
    if n.kind == "retraction":
        parts.append(f"Retraction: {n.retraction_reason or 'no reason given'}")
    return " ".join(parts) or None


def _add_where_when(v: vp.Voevent, ra: float, dec: float, r90_deg: float | None,
                    t: datetime) -> None:
    """Add the WhereWhen block: the direction with its 90 % radius, and the event time."""
    err = r90_deg if r90_deg is not None else 0.0
    vp.add_where_when(
        v,
        coords=vp.Position2D(ra=round(ra, 4), dec=round(dec, 4), err=round(err, 4),
                             units="deg", system=vp.definitions.sky_coord_system.utc_fk5_geo),
        obs_time=t,
        observatory_location="GEOLUN")
    v.WhereWhen.Description = "The RA,Dec coordinates are of the type: source_object."


def _add_how_and_why(v: vp.Voevent) -> None:
    """Add the How block (pipeline and references) and the Why block."""
    # voevent-parse 1.0.3's list helper uses ``collections.Iterable`` (gone since Python
    # 3.10), so every element list is appended here directly instead of through add_*.
    vp.add_how(v, descriptions="nufair realtime pipeline (IceCube-style alert)")
    for uri in REFERENCES:
        v.How.append(vp.Reference(uri))
    vp.add_why(v, importance=1.0)
    v.Why.append(vp.Inference(probability=1.0, concept="process.variation.burst;em"))


def _add_citations(v: vp.Voevent, n: NoticeInput) -> None:
    """Add the Citations block: the notices this revision supersedes or retracts."""
    citations = etree.SubElement(v, "Citations")
    for c in n.citations:
        citations.append(vp.EventIvorn(c.ivorn, c.relation))
    v.Citations.Description = (f"Retracted: {n.retraction_reason or 'no reason given'}"
                               if n.kind == "retraction"
                               else f"Revision {n.revision} of the alert.")


def build(n: NoticeInput) -> etree._Element:
    """The VOEvent of ``n`` as a voevent-parse element tree."""
    packet, code, _, _, _ = n.codes
    t = n.event_time.astimezone(UTC)
    v = _skeleton(n)
    v.What.extend(_identity_params(n, packet, code, t))
    v.What.extend(_measurement_params(n))
    v.What.append(_trigger_group(n))
    if n.ra is not None and n.dec is not None:
        _add_where_when(v, n.ra, n.dec, n.r90_deg, t)
    _add_how_and_why(v)
    if n.citations:
        _add_citations(v, n)
    description = _description(n)
    if description:
        v.Description = description
    return v


def render(n: NoticeInput) -> RenderedNotice:
    """Render and validate against the VOEvent 2.0 XSD (a failure is a bug: it raises)."""
    payload = vp.dumps(build(n), pretty_print=True)
    schema().assertValid(etree.fromstring(payload))
    return RenderedNotice("voevent", MEDIA_TYPE, f"{file_stem(n)}.xml", payload)
