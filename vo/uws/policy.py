"""Who may do what with TAP jobs: callers, their quota keys, and the caps of the job list.

Bounds (issue 12, :class:`JobPolicy`): a job belongs to its creator's bearer token (its
SHA-256) or, without a token, to nobody; anonymous jobs are reachable by their id only,
192 random bits. Caps count jobs per *quota key*: the owner, or ``ip:<client address>``
for anonymous jobs (so behind a proxy, uvicorn must be told to trust its forwarded
headers). Over a cap a creation is refused with 429 (that key) or 503 (everybody);
DESTRUCTION and EXECUTIONDURATION are clamped to their maxima, as UWS lets a service do;
a result over ``result_bytes`` turns its job into ERROR, saying which MAXREC would fit.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: Retry-After (seconds) of a job creation refused over a cap.
RETRY_AFTER_S = 30


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a request: the token owner (SHA-256 hex; None: anonymous) and quota key."""

    owner: str | None
    quota_key: str

    @classmethod
    def of(cls, owner: str | None, address: str | None) -> Caller:
        """An owner is their own quota key; an anonymous caller's is their address.

        An IPv6 address counts as its /64 network: one host gets a whole /64.
        """
        return cls(owner, owner if owner is not None else client_key(address))


def client_key(address: str | None) -> str:
    """``ip:<address>`` (IPv6: ``ip:<its /64>``) of an anonymous caller."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"ip:{address or 'unknown'}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """Caps and bounds of the job list (issue 12); the defaults are the service's.

    ``owner_active``: PENDING/QUEUED/EXECUTING jobs per quota key; ``owner_jobs``: jobs
    kept per quota key (any phase); ``all_active``: active jobs of everybody;
    ``owner_running``: EXECUTING jobs per quota key (fair scheduling); ``owner_bytes`` and
    ``all_bytes``: bytes of results and uploads kept per quota key and in all (checked
    before new uploads are stored; a result lands whole); ``max_destruction_s``:
    the latest destruction time, from now; ``result_bytes``: the largest result kept;
    ``wait_s``: the longest WAIT; ``waits_per_client`` and ``waits_total``: WAITs held at
    once per quota key and in all (per process); over them a WAIT answers at once.
    """

    owner_active: int = 10
    owner_jobs: int = 100
    all_active: int = 1000
    owner_running: int = 1
    owner_bytes: int = 256 * 1024 * 1024
    all_bytes: int = 8 * 1024 * 1024 * 1024
    max_destruction_s: float = 7 * 86_400
    result_bytes: int = 16 * 1024 * 1024
    wait_s: float = 60.0
    waits_per_client: int = 4
    waits_total: int = 200


@dataclass(frozen=True, slots=True)
class JobLimits:
    """Defaults and timings of the job list (built from :class:`vo.config.VoConfig`)."""

    retention_s: float
    duration_s: int
    workers: int
    poll_s: float
    sweep_s: float
