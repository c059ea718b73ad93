"""Security headers of every answer, the pages' Content-Security-Policy, and redirects
that never send a client to the origin named in the request's ``Host`` header."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message, Scope

from catalog.fair import skyview
from catalog.fair.http import TEMPLATES_DIR
from nufair.edge.shapes import under

#: The interactive API docs (Swagger UI, served from this app: no other host is needed).
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; worker-src blob:; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")

#: Headers every answer carries unless it sets them itself (raw ASGI form, in this order).
_EVERY_ANSWER = ((b"x-content-type-options", b"nosniff"),
                 (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"strict-origin-when-cross-origin"))
_CSP = b"content-security-policy"
_PAGE_TYPES = (b"text/html", b"application/xhtml+xml")


def inline_style_hashes(folder: Path = TEMPLATES_DIR) -> list[str]:
    """CSP ``'sha256-…'`` sources of every ``<style>`` block in the page templates."""
    hashes = []
    for template in sorted(folder.glob("*.html")):
        for css in re.findall(r"<style>(.*?)</style>", template.read_text("utf-8"), re.S):
            digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return hashes


def page_csp(public_base_url: str, sky_survey: str | None = None) -> str:
    """Content-Security-Policy of the HTML pages: no inline script (JSON-LD blocks are data,
    never run), the templates' own inline styles by hash, images from this service, and
    what the interactive sky needs (its HiPS survey's origin only when ``sky_survey``)."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(public_base_url))
    styles = " ".join(inline_style_hashes()) or "'none'"
    return skyview.with_sky("default-src 'none'; script-src 'none'; "
                            f"style-src {styles}; img-src 'self' {origin} data:; "
                            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
                            sky_survey)


class SecurityHeaders:
    """Adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and a
    ``Referrer-Policy`` to every answer, a ``Content-Security-Policy`` to HTML pages, and
    rebuilds redirect ``Location``s that were derived from the request's ``Host`` header
    (Starlette's trailing-slash redirect does that) from the configured public base URL.

    It works on the raw header list of the ``http.response.start`` message: this runs for
    every answer on the event loop, where building a header object per answer showed.
    """

    def __init__(self, public_base_url: str, sky_survey: str | None = None) -> None:
        self.base = public_base_url.rstrip("/")
        self.page_csp = page_csp(public_base_url, sky_survey).encode("latin-1")
        self._docs_csp = DOCS_CSP.encode("latin-1")

    def apply(self, message: Message, scope: Scope) -> None:
        """Secure the headers of the ``http.response.start`` ``message`` of the request
        ``scope``, in place."""
        headers: list[tuple[bytes, bytes]] = list(message["headers"])
        message["headers"] = headers
        names = {name for name, _ in headers}
        for name, value in _EVERY_ANSWER:
            if name not in names:
                headers.append((name, value))
        if _CSP not in names and self._is_page(headers):
            docs = under(scope["path"], DOCS_PATHS)
            headers.append((_CSP, self._docs_csp if docs else self.page_csp))
        if 300 <= message["status"] < 400 and b"location" in names:
            mutable = MutableHeaders(scope=message)
            host = Headers(scope=scope).get("host", "")
            mutable["location"] = self.safe_location(mutable["location"], host)

    @staticmethod
    def _is_page(headers: list[tuple[bytes, bytes]]) -> bool:
        kind = next((value for name, value in headers if name == b"content-type"), b"")
        return kind.startswith(_PAGE_TYPES)

    def safe_location(self, location: str, host: str) -> str:
        """``location``, with an origin taken from the ``Host`` header replaced by the base."""
        parts = urlsplit(location)
        if not parts.netloc or parts.netloc.lower() != host.lower():
            return location
        if parts.netloc.lower() == urlsplit(self.base).netloc.lower():
            return location
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base + rest
