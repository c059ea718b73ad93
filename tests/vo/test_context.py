"""The VO layer's wiring: its typed context refuses to be used before it is built, and its
errors carry the codes, statuses and headers the one error handler answers with."""

from __future__ import annotations

import pytest

from catalog.errors import NufairError
from nufair.context import NufairApp
from nufair.settings import Settings
from vo.config import VoConfig
from vo.context import VoSetup, context_of, install_vo, setup_of
from vo.error_shape import is_vo_path, votable_error
from vo.errors import (
    RETRY_AFTER_S,
    AdqlError,
    NotFound,
    ServiceBusy,
    TooManyJobs,
    Unauthorized,
    VoError,
)
from vo.uws.policy import JobPolicy


def test_no_context_before_the_app_runs() -> None:
    """Without install_vo and vo_running, the VO layer says so instead of guessing."""
    app = NufairApp(Settings())
    with pytest.raises(RuntimeError, match="not installed"):
        setup_of(app)
    with pytest.raises(RuntimeError, match="not running"):
        context_of(app)
    setup = VoSetup(VoConfig(base_url="http://example.org"), JobPolicy(owner_active=1))
    install_vo(app, setup)
    assert setup_of(app) is setup
    assert dict(setup.tokens()) == {}  # no tokens: every caller is anonymous
    with pytest.raises(RuntimeError, match="not running"):
        context_of(app)


def test_vo_errors_are_the_house_errors_with_their_headers() -> None:
    """VO errors are NufairErrors (one handler renders them); caps say when to retry."""
    assert issubclass(VoError, NufairError)
    adql = AdqlError("unexpected token", 2, 8)
    assert (adql.message, adql.code, adql.status) == (
        "unexpected token (line 2, column 8)", "adql_syntax", 400)
    assert (NotFound("no job").status, NotFound("no job").headers) == (404, {})
    assert ServiceBusy("busy").headers == {"Retry-After": str(RETRY_AFTER_S)}
    assert ServiceBusy("busy", 30).headers == {"Retry-After": "30"}
    assert (TooManyJobs("cap", 30).status, TooManyJobs("cap", 30).headers) == (
        429, {"Retry-After": "30"})
    assert Unauthorized("who?").headers == {"WWW-Authenticate": "Bearer"}


def test_error_shape_of_the_vo_paths() -> None:
    """Errors under /tap, /scs and /datalink are VOTables with the status, code and headers."""
    assert is_vo_path("/tap") and is_vo_path("/tap/async/x") and is_vo_path("/datalink/moc")
    assert not is_vo_path("/tapestry") and not is_vo_path("/api/v1/events")
    r = votable_error(503, "service_busy", "all <slots> busy", {"Retry-After": "5"})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.headers["content-type"].startswith("application/x-votable+xml")
    assert b'<INFO name="QUERY_STATUS" value="ERROR">all &lt;slots&gt; busy</INFO>' in r.body
    assert b'<INFO name="code" value="service_busy"/>' in r.body
