"""The serializations of a sky MOC (IVOA MOC 2.0): FITS, ASCII and JSON.

``/datalink/moc`` answers in the one a client asks for, by ``RESPONSEFORMAT`` (a media type
or a short name) or else by the ``Accept`` header; without either it answers ASCII, as it
always did. A name or media type the service does not write is refused (400 for
``RESPONSEFORMAT``, 406 for an ``Accept`` that allows none of them), never answered in
another form. The documents are written by mocpy (the IVOA reference implementation's
binding); nothing here encodes a MOC by hand.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from mocpy import MOC

from vo.errors import VoError


@dataclass(frozen=True, slots=True)
class MocFormat:
    """One serialization: its mocpy name and the media type of the answer."""

    name: str
    media_type: str


FITS = MocFormat("fits", "application/fits")
ASCII = MocFormat("ascii", "text/plain")
JSON = MocFormat("json", "application/json")

#: What RESPONSEFORMAT may say (lower case, parameters after ';' ignored) → the format.
RESPONSE_FORMATS: dict[str, MocFormat] = {
    "fits": FITS, "application/fits": FITS, "image/fits": FITS, "application/x-fits": FITS,
    "ascii": ASCII, "text": ASCII, "text/plain": ASCII,
    "json": JSON, "application/json": JSON,
}

#: Media types in the order a wildcard ``Accept`` gets them (ASCII first: the default).
_BY_MEDIA = {"text/plain": ASCII, "application/fits": FITS, "image/fits": FITS,
             "application/json": JSON}


class NotAcceptable(VoError):
    """An ``Accept`` header that allows none of the forms the resource has."""

    status = 406
    code = "not_acceptable"


def choose(response_format: str | None, accept: str | None) -> MocFormat:
    """The format of the answer: RESPONSEFORMAT first, then ``Accept``, else ASCII."""
    if response_format is not None and response_format.strip():
        key = response_format.split(";")[0].strip().lower()
        if key not in RESPONSE_FORMATS:
            raise VoError(f"RESPONSEFORMAT {response_format!r} is not a MOC serialization of "
                          "this service; use fits (application/fits), ascii (text/plain) or "
                          "json (application/json)")
        return RESPONSE_FORMATS[key]
    if not accept or not accept.strip():
        return ASCII
    return _negotiate(accept)


def _negotiate(accept: str) -> MocFormat:
    """The format ``accept`` prefers (highest q; ties: as the client listed them)."""
    best: tuple[float, int, MocFormat] | None = None
    for i, item in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for p in params:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        found = _match(media.lower())
        if found is None or q <= 0:
            continue
        if best is None or q > best[0]:
            best = (q, i, found)
    if best is None:
        raise NotAcceptable(f"Accept: {accept!r} allows none of the forms of a MOC "
                            "(application/fits, text/plain, application/json)")
    return best[2]


def _match(media: str) -> MocFormat | None:
    if media in ("*/*", "text/*"):
        return ASCII
    if media == "application/*":
        return FITS
    return _BY_MEDIA.get(media)


def serialize(ascii_moc: str, fmt: MocFormat) -> bytes:
    """The MOC given as ASCII MOC 2.0 (as the storage reads it) in ``fmt``."""
    if fmt is ASCII:
        return (ascii_moc.strip() + "\n").encode()
    moc = MOC.from_string(ascii_moc, format="ascii")
    if fmt is JSON:
        text: str = moc.to_string(format="json")
        return text.encode()
    out = io.BytesIO()
    moc.serialize(format="fits").writeto(out)
    return out.getvalue()
