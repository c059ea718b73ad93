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

#: Reports of the installed taplint that are its own age, not the service's fault: STILTS
#: 3.4.7 (Debian; its starjava vo library of 2022) predates ADQL 2.1's
#: ``features-adql-conditional`` (COALESCE), which later starjava releases list among the
#: ADQL 2.1 feature keys; declaring it is what lets pyvo and newer TOPCAT see COALESCE.
OUTDATED = ('E-CAP-KEYX-1 Unknown standard feature key '
            '"ivo://ivoa.net/std/TAPRegExt#features-adql-conditional" for language ADQL',)


def test_taplint_reports_no_errors_or_failures(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """STILTS taplint finds no error or failure in the TAP service."""
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    out = subprocess.run([stilts, "taplint", f"tapurl={live_url}/tap", "report=EF"],
                         capture_output=True, text=True, timeout=300, check=False).stdout
    problems = [line for line in out.splitlines()
                if re.match(r"^[EF]-[A-Z]{3}-", line) and line[2:5] not in NOT_APPLICABLE
                and line.strip() not in OUTDATED]
    assert problems == [], "\n".join(problems)
    totals = re.search(r"Totals: Errors: (\d+);", out)
    assert totals is not None, out[-2000:]
    outdated = sum(line.strip() in OUTDATED for line in out.splitlines())
    assert int(totals.group(1)) == outdated, out[-2000:]
