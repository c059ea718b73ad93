"""Webhook addresses of subscriptions: their form, and the refusal of private targets.

A subscriber chooses the URL our dispatcher POSTs to, so the URL must not turn nufair into
a proxy into its own network (server-side request forgery): every address the host name
resolves to must be globally routable — no loopback, private, link-local (cloud metadata
at 169.254.169.254), multicast or reserved address. The check runs when the subscription
is created (its form) and again before every delivery attempt (the resolution), because a
name can resolve elsewhere later. Operators who deliver inside their own network turn the
resolution check off explicitly (``allow_private``).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from catalog.errors import InvalidInput


class PrivateTarget(ValueError):
    """A webhook host that resolves to an address that is not globally routable."""


def check_webhook_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host and no credentials, else
    :class:`InvalidInput`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}", details={"webhook_url": url[:200]}) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL is http:// or https:// with a host",
                           details={"webhook_url": url[:200]})
    if parts.username is not None or parts.password is not None or port == 0:
        raise InvalidInput("a webhook URL carries no credentials and a real port",
                           details={"webhook_url": url[:200]})
    return url


def refuse_private(url: str, *, allow_private: bool = False) -> None:
    """Raise :class:`PrivateTarget` unless every address of ``url``'s host is global."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise PrivateTarget(f"cannot resolve {host!r}: {exc}") from exc
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not addr.is_global or addr.is_multicast:
            raise PrivateTarget(f"{host!r} resolves to {addr}, which is not a public "
                                "address: refused")
