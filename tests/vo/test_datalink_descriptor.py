"""Issue 15 item 6: a TAP result with an alert's publisher DID gets DataLink links under
any alias, read through pyvo's DataLink client; DataLink also takes the bare alert id."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pyvo
from astropy.io.votable import parse
from astropy.table import Table

from catalog.notices.parsed import NoticeRecord


def _coverage_by_name(res: pyvo.dal.TAPResults) -> dict[str, int]:
    """{alert name: number of #coverage links} of a result, through pyvo."""
    return {str(name): sum(1 for row in links if row.semantics == "#coverage")
            for name, links in zip(res["name"], res.iter_datalinks(), strict=True)}


def test_aliased_did_gets_links_and_bare_alert_id_too(live_url: str,
                                                 alerts: list[NoticeRecord]) -> None:
    """``obs_publisher_did AS did`` carries the service descriptor: each alert gets its two
    MOC links (50 % and 90 %); DataLink gives the bare alert id the same links."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    want = {str(r.name): 2 for r in alerts}
    aliased = tap.search("SELECT name, obs_publisher_did AS did FROM nufair.alerts")
    assert _coverage_by_name(aliased) == want
    # The same alert, by DID and by bare id: the same links.
    row = tap.search("SELECT TOP 1 alert_id, obs_publisher_did FROM nufair.alerts "
                     "ORDER BY alert_id")
    did, alert_id = str(row["obs_publisher_did"][0]), str(row["alert_id"][0])
    urls = []
    for ident in (did, alert_id):
        dl = pyvo.dal.adhoc.DatalinkResults.from_result_url(
            str(httpx.URL(live_url + "/datalink", params={"ID": ident})))
        urls.append(sorted(str(r.access_url).split("?ID=")[-1].split("&")[1:]
                           for r in dl if r.semantics == "#coverage"))
    assert urls[0] == urls[1] and len(urls[0]) == 2


def test_uploaded_alert_id_gets_no_descriptor(live_url: str) -> None:
    """A column of an upload that happens to be called alert_id is not an alert's id."""
    buf = io.BytesIO()
    Table({"alert_id": np.array([1, 2])}).write(buf, format="votable")
    r = httpx.post(f"{live_url}/tap/sync",
                   data={"LANG": "ADQL", "QUERY": "SELECT alert_id FROM TAP_UPLOAD.t",
                         "UPLOAD": "t,param:t"}, files={"t": ("t.xml", buf.getvalue())})
    assert r.status_code == 200
    doc = parse(io.BytesIO(r.content))
    assert [res.type for res in doc.resources] == ["results"]
