"""STILTS taplint, the IVOA community validator, against the running app.

Needs the ``stilts`` command (Debian package ``stilts``; CI installs it). The only stages
allowed to fail are the ObsCore / ObsLocTAP ones: this service publishes neither model.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from catalog.notices.parsed import NoticeRecord

#: taplint stages that test data models this service does not publish.
NOT_APPLICABLE = ("LOC", "OBS")


def test_taplint_reports_no_errors_or_failures(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """STILTS taplint finds no error or failure in the TAP service."""
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    out = subprocess.run([stilts, "taplint", f"tapurl={live_url}/tap", "report=EF"],
                         capture_output=True, text=True, timeout=300, check=False).stdout
    problems = [line for line in out.splitlines()
                if re.match(r"^[EF]-[A-Z]{3}-", line) and line[2:5] not in NOT_APPLICABLE]
    assert problems == [], "\n".join(problems)
    assert re.search(r"Totals: Errors: 0;", out), out[-2000:]
