"""Who publishes the VO resources, as the registry records say it (:mod:`vo.registry`).

Set from the settings ``NUFAIR_VO_*`` (:func:`nufair.app.vo_config`). The IVOA
identifiers of the records are made of ``authority``: the authority itself (its
``vg:Authority`` record), ``<authority>/registry`` (the publishing registry, the OAI-PMH
interface, which manages the authority) and ``<authority>/tap`` (the services).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: An IVOA authority identifier as VOResource's ``AuthorityID`` type allows it, after
#: ``ivo://``: three or more characters, the first a letter or digit.
AUTHORITY = re.compile(r"ivo://([\w\d][\w\d\-_.!~*'()+=]{2,})")


@dataclass(frozen=True, slots=True)
class Curation:
    """The curation of the records: their authority, the services' title, publisher,
    creator and contact (the contact's e-mail may be unknown)."""

    authority: str = "ivo://nufair"
    title: str = "nufair: high-energy neutrino alerts (TAP, cone search, DataLink)"
    publisher: str = "nufair neutrino alert archive"
    creator: str = "IceCube Collaboration"
    contact_name: str = "nufair operators"
    contact_email: str | None = None

    def __post_init__(self) -> None:
        """Refuse an authority that is not ``ivo://`` and an IVOA authority ID."""
        if not AUTHORITY.fullmatch(self.authority):
            raise ValueError(f"not an IVOA authority identifier: {self.authority!r} "
                             "(ivo:// and three or more letters, digits or -_.!~*'()+=)")

    @property
    def authority_id(self) -> str:
        """The authority ID without ``ivo://`` (a registry's ``managedAuthority``)."""
        return self.authority.removeprefix("ivo://")

    @property
    def service_id(self) -> str:
        """The IVOA identifier of the services' record."""
        return f"{self.authority}/tap"

    @property
    def registry_id(self) -> str:
        """The IVOA identifier of the publishing registry's record."""
        return f"{self.authority}/registry"
