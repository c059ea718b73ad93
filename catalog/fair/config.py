"""Configuration of the FAIR layer, and the URLs it publishes.

The wiring (``nufair/``) builds a :class:`FairConfig` from the settings; nothing here reads
the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

#: SPDX identifier and legal-code URL of the licence of every record.
LICENSE_SPDX = "CC-BY-4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/legalcode"
#: COAR access-right vocabulary: open access.
ACCESS_RIGHT_URI = "http://purl.org/coar/access_right/c_abf2"
ACCESS_RIGHT_LABEL = "open access"
#: The access conditions in words (schema.org ``conditionsOfAccess``), naming the COAR term.
ACCESS_CONDITIONS = (f"Open access ({ACCESS_RIGHT_URI}): no registration, no embargo, no "
                     "fee; metadata and files may be reused under CC-BY-4.0.")
#: The OAI-PMH ``adminEmail`` when no contact is configured.
DEFAULT_ADMIN_EMAIL = "nufair@example.org"


def file_url(base_url: str, key: str, filename: str) -> str:
    """The one public URL of a stored file: under the landing page of its record.

    ``key`` is the DOI suffix of the version the file belongs to (the concept DOI's for a
    file of the whole event). The landing page, DataCite, signposting, DataLink and the
    notices' ``healpix_url`` all give this URL.
    """
    return (f"{base_url.rstrip('/')}/records/{quote(key, safe='')}/files/"
            f"{quote(filename, safe='')}")


@dataclass(frozen=True, slots=True)
class Creator:
    """Who a record credits as its creator (citations, DataCite, JSON-LD, DCAT).

    ``affiliation`` and ``affiliation_ror`` are ``None`` for a creator without one.
    """

    name: str
    affiliation: str | None = None
    affiliation_ror: str | None = None


@dataclass(frozen=True, slots=True)
class FairConfig:
    """Identity of the archive and how its identifiers are made.

    Attributes
    ----------
    base_url
        Public URL of the service (no trailing slash).
    doi_prefix
        DOI prefix (``10.5072`` is DataCite's test prefix).
    doi_resolver
        URL before ``prefix/suffix`` that resolves a DOI. ``None``: the service itself
        (``{base_url}/doi/``) for the local provider, ``https://doi.org/`` otherwise.
    provider
        ``local`` or ``datacite``.
    publisher, publisher_ror
        Who publishes the records (DataCite ``publisher``).
    creator, creator_affiliation, creator_affiliation_ror
        The organisational creator of every alert, and its affiliation with its ROR ID.
    software_url, software_name
        The pipeline that compiles the records (``IsCompiledBy``).
    simulated_observatories
        Observatories whose events are simulated: their records credit
        ``simulation_creator`` (never the collaboration of a real detector) and say on
        every page and in every description that they are not real observations.
    simulation_creator
        The creator of a simulated record.
    sky_survey
        Base URL of the HiPS survey under the pages' interactive sky; ``None``: a grid.
    """

    base_url: str
    doi_prefix: str = "10.5072"
    doi_resolver: str | None = None
    provider: str = "local"
    publisher: str = "nufair neutrino alert archive"
    publisher_ror: str | None = None
    creator: str = "IceCube Collaboration"
    creator_affiliation: str = "University of Wisconsin–Madison"
    creator_affiliation_ror: str = "https://ror.org/01y2jtd41"
    software_url: str = "https://github.com/icecube/skymap_scanner"
    software_name: str = "IceCube realtime pipeline"
    catalog_title: str = "nufair catalog of high-energy neutrino alerts"
    oai_page_size: int = 100
    admin_email: str = DEFAULT_ADMIN_EMAIL
    simulated_observatories: tuple[str, ...] = ("nufair-sim",)
    simulation_creator: str = "nufair event simulator"
    #: The DataCite repository symbol (``PROVIDER.REPOSITORY``) of the OAI ``datacentreSymbol``.
    datacentre_symbol: str = "NUFAIR.ALERTS"
    sky_survey: str | None = None

    def is_simulated(self, observatory: str) -> bool:
        """Whether events of ``observatory`` are simulated, not observed."""
        return observatory in self.simulated_observatories

    def creator_of(self, observatory: str) -> Creator:
        """The creator a record of ``observatory`` credits: the detector's collaboration for
        a real event, the simulator for a simulated one."""
        if self.is_simulated(observatory):
            return Creator(self.simulation_creator)
        return Creator(self.creator, self.creator_affiliation, self.creator_affiliation_ror)

    @property
    def base(self) -> str:
        """The public base URL without a trailing slash, to which every path is appended."""
        return self.base_url.rstrip("/")

    def doi_url(self, doi: str) -> str:
        """The resolvable URL of a DOI (the ``@id`` of a record)."""
        resolver = self.doi_resolver
        if resolver is None:
            resolver = f"{self.base}/doi/" if self.provider == "local" else "https://doi.org/"
        return resolver + doi

    def record_url(self, key: str) -> str:
        """The landing page of the record ``key`` (a DOI suffix or event key), URL-quoted."""
        return f"{self.base}/records/{quote(key, safe='')}"

    def export_url(self, key: str, fmt: str) -> str:
        """Where the record ``key`` is offered in the metadata or citation format ``fmt``."""
        return f"{self.record_url(key)}/export/{fmt}"

    def file_url(self, key: str, filename: str) -> str:
        """The public URL of a stored file of record ``key`` (the module's :func:`file_url`)."""
        return file_url(self.base, key, filename)

    def linkset_url(self, key: str) -> str:
        """The RFC 9264 linkset of record ``key`` (FAIR Signposting level 2)."""
        return f"{self.record_url(key)}/linkset"

    @property
    def catalog_url(self) -> str:
        """The IRI of the DCAT catalog (also its human page)."""
        return f"{self.base}/catalog"

    @property
    def series_url(self) -> str:
        """The IRI of the dataset series that holds every alert (a fragment of the catalog)."""
        return f"{self.base}/catalog#alerts"
