"""Hostile requests to TAP async (issue 12): ids, parameters and bodies made to break the
job list are answered 4xx in VOTable, never 500."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.vo.jobs import QUERY, is_votable_error, phase_of, submit

HOSTILE: list[tuple[str, str, dict[str, str] | None]] = [
    ("GET", "/tap/async?LAST=" + "9" * 30, None),
    ("GET", "/tap/async?LAST=" + "9" * 5000, None),
    ("GET", "/tap/async?LAST=-1", None),
    ("GET", "/tap/async?AFTER=a%00b", None),
    ("GET", "/tap/async?AFTER=99999-01-01", None),
    ("GET", "/tap/async?PHASE=%00", None),
    ("GET", "/tap/async/a%00b", None),
    ("GET", "/tap/async/a%00b/phase", None),
    ("GET", "/tap/async/a%00b/results/result", None),
    ("GET", "/tap/async/a%00b/parameters", None),
    ("DELETE", "/tap/async/a%00b", None),
    ("POST", "/tap/async/a%00b/phase", {"PHASE": "RUN"}),
    ("GET", "/tap/async/" + "x" * 5000, None),
    ("GET", "/tap/async/%E2%80%AE", None),
    ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": "SELECT\x00 1"}),
    ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": QUERY, "RUNID": "a\x00"}),
    ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": QUERY, "X\x00": "1"}),
    ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": QUERY, "DESTRUCTION": "soon"}),
    ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": QUERY, "EXECUTIONDURATION": "1e5"}),
    ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": QUERY,
                            "EXECUTIONDURATION": "9" * 5000}),
]


def test_hostile_requests_get_4xx(client: TestClient) -> None:
    """Issue 12 item 5: a bigint overflow, a NUL byte in an id or a parameter was a 500."""
    for method, path, data in HOSTILE:
        r = client.request(method, path, data=data, follow_redirects=False)
        assert r.status_code < 500, (method, path, r.text)
        if path.startswith("/tap/async?LAST=999"):
            assert r.status_code in (200, 400)
        elif path.startswith("/tap/async/") and "%00" in path:  # refused at the edge
            assert r.status_code == 400 and is_votable_error(r), (method, path, r.text)
        elif path.startswith("/tap/async/"):
            assert r.status_code == 404, (method, path, r.text)
        else:
            assert r.status_code == 400 and is_votable_error(r), (method, path, r.text)
    part = b'--b\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
    body = (part % (b"LANG", b"", b"ADQL") + part % (b"QUERY", b"", QUERY.encode())
            + part % (b"t\x00", b'; filename="t.xml"', b"<VOTABLE/>") + b"--b--\r\n")
    r = client.post("/tap/async", content=body, follow_redirects=False,
                    headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and "NUL" in r.text
    r = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": QUERY, "DESTRUCTION": "soon"},
                    headers={"Authorization": "Bearer nufair-dev-token"}, follow_redirects=False)
    assert r.status_code == 400
    assert client.get("/tap/async", headers={"Authorization": "Bearer nufair-dev-token"}
                      ).text.count("jobref") == 0  # a refused creation leaves no job


def test_hostile_parameters_of_an_existing_job_get_4xx(client: TestClient) -> None:
    """NUL bytes and unreadable values for an existing job are 4xx VOTables."""
    jid = submit(client)
    for path, data in ((f"/tap/async/{jid}", {"RUNID": "\x00"}),
                       (f"/tap/async/{jid}", {"DESTRUCTION": "a\x00"}),
                       (f"/tap/async/{jid}/destruction", {"DESTRUCTION": "\x00"}),
                       (f"/tap/async/{jid}/executionduration", {"EXECUTIONDURATION": "nan"}),
                       (f"/tap/async/{jid}/parameters", {"QUERY": "\x00"})):
        r = client.post(path, data=data, follow_redirects=False)
        assert r.status_code == 400 and is_votable_error(r), (path, data, r.text)
    for wait in ("nan", "x", "\x00"):
        r = client.get(f"/tap/async/{jid}", params={"WAIT": wait})
        assert r.status_code == 400 and is_votable_error(r), wait
    client.post(f"/tap/async/{jid}/phase", data={"PHASE": "ABORT"})
    r = client.get(f"/tap/async/{jid}", params={"WAIT": "1e999"})  # ended: answers at once
    assert r.status_code == 200 and phase_of(r.text) == "ABORTED"
    # A destruction in the far past (and a far offset) is no overflow: the job is gone.
    r = client.post(f"/tap/async/{jid}/destruction",
                    data={"DESTRUCTION": "0001-01-01T00:00:00+14:00"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/tap/async/{jid}").status_code == 404
