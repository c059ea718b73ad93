"""The registry schemas, offline (tests/vo/schemas_external): OAI-PMH, RegistryInterface,
VOResource, VODataService, VORegistry, TAPRegExt and SimpleDALRegExt's cone search."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xmlschema

from tests.catalog.fair.conftest import SCHEMAS as FAIR_SCHEMAS

HERE = Path(__file__).parent / "schemas_external"


def registry_schema(extra: Sequence[str] = (),
                    locations: Sequence[tuple[str, str]] = ()) -> xmlschema.XMLSchema:
    """OAI-PMH and the registry schemas (with ``extra`` schema files and ``locations``,
    for the other metadata formats of the OAI-PMH interface). STC 1.30 (imported by
    VODataService for its coverage, which the records do not use) is not a valid XSD 1.0
    schema (xmlschema: "the derived group is an illegal restriction"), so the schemas are
    built laxly and every build error must be STC's."""
    schema = xmlschema.XMLSchema(
        [str(FAIR_SCHEMAS / "oai-pmh" / "OAI-PMH.xsd"), str(HERE / "RegistryInterface.xsd"),
         str(HERE / "VODataService.xsd"), str(HERE / "TAPRegExt.xsd"),
         str(HERE / "ConeSearch.xsd"), str(HERE / "VORegistry.xsd"), *extra],
        locations=[("http://www.ivoa.net/xml/VOResource/v1.0", str(HERE / "VOResource.xsd")),
                   ("http://www.ivoa.net/xml/VODataService/v1.1",
                    str(HERE / "VODataService.xsd")),
                   ("http://www.ivoa.net/xml/STC/stc-v1.30.xsd", str(HERE / "stc.xsd")),
                   ("http://www.w3.org/1999/xlink", str(HERE / "xlink.xsd")), *locations],
        validation="lax")
    for error in schema.all_errors:
        assert "stc" in str(getattr(error.source, "url", "") or error).lower(), error
    return schema
