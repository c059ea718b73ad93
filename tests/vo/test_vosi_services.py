"""Issue 15 (capabilities): VOSI capabilities and availability of the cone search and of
DataLink, read by pyvo's VOSI parser (pedantic) and its DataLink service client."""

from __future__ import annotations

import io

import httpx
import pytest
import pyvo
from pyvo.io import vosi


@pytest.mark.parametrize(("service", "standard", "access"), [
    ("scs", "ivo://ivoa.net/std/ConeSearch", "/scs?"),
    ("datalink", "ivo://ivoa.net/std/DataLink#links-1.1", "/datalink"),
])
def test_capabilities_of_scs_and_datalink(live_url: str, service: str, standard: str,
                                          access: str) -> None:
    """Each service lists its standard interface and its own VOSI endpoints, which answer."""
    r = httpx.get(f"{live_url}/{service}/capabilities")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    caps = vosi.parse_capabilities(io.BytesIO(r.content), pedantic=True)
    by_id = {c.standardid: c for c in caps}
    assert set(by_id) == {standard, "ivo://ivoa.net/std/VOSI#capabilities",
                          "ivo://ivoa.net/std/VOSI#availability"}
    (std,) = by_id[standard].interfaces
    assert std.role == "std" and std.accessurls[0].content == live_url + access
    for sid in ("ivo://ivoa.net/std/VOSI#capabilities", "ivo://ivoa.net/std/VOSI#availability"):
        url = by_id[sid].interfaces[0].accessurls[0].content
        assert httpx.get(url).status_code == 200, url
    avail = vosi.parse_availability(io.BytesIO(httpx.get(
        f"{live_url}/{service}/availability").content), pedantic=True)
    assert avail.available is True


def test_pyvo_datalink_service_reads_its_capabilities(live_url: str) -> None:
    """pyvo's DataLink service client finds the DataLink capability."""
    service = pyvo.dal.adhoc.DatalinkService(live_url + "/datalink")
    ids = [c.standardid for c in service.capabilities]
    assert "ivo://ivoa.net/std/DataLink#links-1.1" in ids
