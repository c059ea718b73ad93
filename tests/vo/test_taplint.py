"""STILTS taplint, the IVOA community validator, against the running app.

Needs the ``stilts`` command (Debian package ``stilts``; CI installs it). The only stages
allowed to fail are the ObsLocTAP ones: this service does not publish that model.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from catalog.notices.parsed import NoticeRecord

#: taplint stages that test data models this service does not publish (ObsLocTAP; ObsCore
#: it publishes: ivoa.obscore).
NOT_APPLICABLE = ("LOC",)

#: Reports of the installed taplint that are its own age, not the service's fault: STILTS
#: 3.4.7 (Debian; its starjava vo library of 2022) predates ADQL 2.1's
#: ``features-adql-conditional`` (COALESCE), which later starjava releases list among the
#: ADQL 2.1 feature keys; declaring it is what lets pyvo and newer TOPCAT see COALESCE.
OUTDATED = ('E-CAP-KEYX-1 Unknown standard feature key '
            '"ivo://ivoa.net/std/TAPRegExt#features-adql-conditional" for language ADQL',)


#: Reports of votlint 3.4.7 (inside taplint) reading a result with a DALI polygon column
#: (``xtype="polygon"``, region50 / region90) in BINARY or BINARY2: it cannot, and fails the
#: same way on STILTS' own BINARY2 output of that table (TABLEDATA passes; astropy and STILTS
#: ``tpipe`` read our BINARY2 stream). Allowed only after a query that selects one.
POLYGON_READ = ("YEOF", "YSTE")
POLYGON_COLUMNS = re.compile(r"\bregion(50|90)\b")


def _problems(out: str) -> tuple[list[str], int]:
    """The E/F reports that count, and how many were allowed as known validator faults."""
    problems, allowed, query = [], 0, ""
    for line in out.splitlines():
        if "Submitting query:" in line:
            query = line
        if not re.match(r"^[EF]-[A-Z]{3}-", line) or line[2:5] in NOT_APPLICABLE:
            continue
        if line.strip() in OUTDATED or (line[6:10] in POLYGON_READ
                                        and POLYGON_COLUMNS.search(query)):
            allowed += 1
            continue
        problems.append(line)
    return problems, allowed


def test_taplint_reports_no_errors_or_failures(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """STILTS taplint finds no error or failure in the TAP service."""
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    out = subprocess.run([stilts, "taplint", f"tapurl={live_url}/tap", "report=EFI"],
                         capture_output=True, text=True, timeout=300, check=False).stdout
    problems, allowed = _problems(out)
    assert problems == [], "\n".join(problems)
    totals = re.search(r"Totals: Errors: (\d+);", out)
    assert totals is not None, out[-2000:]
    assert int(totals.group(1)) == allowed, out[-2000:]
