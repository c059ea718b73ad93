"""Pieces shared by the scan tests: a small fast scan config and polling helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from nufair.settings import Settings

T = TypeVar("T")

#: A scan that takes seconds on two busy cores: nside 4, then the children of the 4 best.
FAST = {"scan_nsides": "4:0,8:4", "scan_seeds": 3, "scan_iterations": 6,
        "scan_snapshot_s": 0.0, "scan_poll_s": 0.1, "dask_workers": 2,
        "dask_processes": False}


def fast_settings(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={**FAST, **more})


def wait_for(probe: Callable[[], T | None], timeout_s: float = 120.0, every_s: float = 0.05,
             what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")
