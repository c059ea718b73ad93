"""VOEvent 2.0 notices shaped like IceCube's GCN notices (packets 173, 174 and 176).

Built with voevent-parse (the field's VOEvent library) and checked against the VOEvent 2.0
XSD shipped in ``catalog/notices/schemas`` (see SOURCES.md there). The parameters follow
the real notices in GCN's AMON stream: ``Packet_Type``, ``AMON_ID``, ``run_id``,
``event_id``, ``Event_TJD``/``Event_SOD``, ``Stream``, ``Rev``, ``signalness``, ``FAR``
(per year), ``energy`` (TeV), ``src_error_90``/``src_error_50`` (deg), the ``Trigger_ID``
group with the ``Retraction`` flag, and ``Citations`` (``supersedes`` / ``retraction``) to
the notices a revision replaces.
"""

from __future__ import annotations

from datetime import UTC
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


def build(n: NoticeInput) -> etree._Element:
    """The VOEvent of ``n`` as a voevent-parse element tree."""
    packet, code, _, _, _ = n.codes
    t = n.event_time.astimezone(UTC)
    mjd = t.timestamp() / 86400.0 + 40587.0  # POSIX days since the MJD origin (UTC)
    tjd = int(mjd) - TJD_OFFSET
    sod = (mjd - int(mjd)) * 86400.0

    v = vp.Voevent(stream="placeholder", stream_id="0", role=vp.definitions.roles.observation)
    v.attrib["ivorn"] = n.ivorn
    vp.set_who(v, date=n.issued_at.astimezone(UTC).replace(tzinfo=None),
               author_ivorn="nufair/IceCube")
    vp.set_author(v, contactName="nufair realtime pipeline")
    v.Who.Description = "VOEvent created by nufair with voevent-parse."

    what = [
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
            what.append(_param(
                f"src_error_{level}", f"{radius:.4f}", unit="deg", ucd="stat.error.sys",
                description=f"Angular error of the source, statistical only, "
                f"({level}% containment)."))
    if n.skymap_url:
        what.append(_param("skymap_fits", n.skymap_url, ucd="meta.ref.url",
                           description="Skymap FITS file"))
    retracted = n.kind == "retraction"
    v.What.extend(what)
    v.What.append(vp.Group([
        _param("SubType", "indi"),
        _param("Test", "false"),
        _param("RADec_valid", "true" if n.ra is not None else "false"),
        _param("Retraction", "true" if retracted else "false"),
        _param("InternalTest", "false"),
    ], name="Trigger_ID"))

    if n.ra is not None and n.dec is not None:
        err = n.r90_deg if n.r90_deg is not None else 0.0
        vp.add_where_when(
            v,
            coords=vp.Position2D(ra=round(n.ra, 4), dec=round(n.dec, 4), err=round(err, 4),
                                 units="deg", system=vp.definitions.sky_coord_system.utc_fk5_geo),
            obs_time=t,
            observatory_location="GEOLUN")
        v.WhereWhen.Description = "The RA,Dec coordinates are of the type: source_object."
    # voevent-parse 1.0.3's list helper uses ``collections.Iterable`` (gone since Python
    # 3.10), so every element list is appended here directly instead of through add_*.
    vp.add_how(v, descriptions="nufair realtime pipeline (IceCube-style alert)")
    for uri in REFERENCES:
        v.How.append(vp.Reference(uri))
    vp.add_why(v, importance=1.0)
    v.Why.append(vp.Inference(probability=1.0, concept="process.variation.burst;em"))
    if n.citations:
        citations = etree.SubElement(v, "Citations")
        for c in n.citations:
            citations.append(vp.EventIvorn(c.ivorn, c.relation))
        v.Citations.Description = (f"Retracted: {n.retraction_reason or 'no reason given'}"
                                   if retracted else f"Revision {n.revision} of the alert.")
    if retracted:
        v.Description = f"Retraction: {n.retraction_reason or 'no reason given'}"
    return v


def render(n: NoticeInput) -> RenderedNotice:
    """Render and validate against the VOEvent 2.0 XSD (a failure is a bug: it raises)."""
    payload = vp.dumps(build(n), pretty_print=True)
    schema().assertValid(etree.fromstring(payload))
    return RenderedNotice("voevent", MEDIA_TYPE, f"{file_stem(n)}.xml", payload)
