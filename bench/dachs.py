"""The DaCHS side of ``bench.vo``: load the same alerts into a local GAVO DaCHS.

DaCHS is the reference VO server of issue 5. It is stood up once per machine with
``../shared/peers/dachs-setup.sh`` (Debian packages, loopback, port 8080; see
``bench/README.md`` for the pgsphere fix PostgreSQL ≥ 15.8 needs). This module then writes
the alerts that ``bench.vo`` loaded into nufair — read back from ``nufair.alerts``, so both
servers hold the same rows — as a CSV plus a resource descriptor, imports them with
``dachs imp`` (as the ``dachsroot`` user, which needs root here) and reloads the server.

The table mirrors what nufair's ConeSearch returns at VERB=2 (the principal columns of
``nufair.alerts``): positions carry DaCHS's q3c index (``//scs#q3cindex``), and ``moc90`` is
a pgsphere ``smoc`` of the circular 90 % region at the HEALPix order nufair tiles that region
with (``catalog.sky.tile_order``), with a GIN index. Nothing here runs in CI.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SCHEMA = "nufairbench"
INPUTS = Path("/var/gavo/inputs") / SCHEMA
BASE = "http://127.0.0.1:8080"

#: Columns exported from ``nufair.alerts``: (name, DaCHS type, unit, UCD, verbLevel).
COLUMNS: tuple[tuple[str, str, str, str, int], ...] = (
    ("alert_id", "bigint", "", "meta.id", 10),
    ("name", "text", "", "meta.id;meta.main", 1),
    ("stream", "text", "", "meta.code.class", 10),
    ("event_time", "timestamp", "", "time.epoch", 10),
    ("revision", "integer", "", "meta.version", 10),
    ("ra", "double precision", "deg", "pos.eq.ra;meta.main", 1),
    ("dec", "double precision", "deg", "pos.eq.dec;meta.main", 1),
    ("r50", "double precision", "deg", "pos.angDistance;stat.error", 15),
    ("r90", "double precision", "deg", "pos.angDistance;stat.error", 10),
    ("energy", "double precision", "TeV", "phys.energy", 10),
    ("signalness", "double precision", "", "stat.probability", 10),
    ("obs_publisher_did", "text", "", "meta.ref.ivoid", 10),
)

_RD = """<resource schema="{schema}" resdir=".">
  <meta name="creationDate">2026-01-01T00:00:00Z</meta>
  <meta name="title">nufair benchmark alerts</meta>
  <meta name="description">The synthetic alerts of nufair's bench.vo, for a side-by-side
    latency comparison.</meta>
  <meta name="subject">neutrino-astronomy</meta>
  <meta name="creator">nufair</meta>
  <meta name="contentLevel">Research</meta>
  <meta name="type">Catalog</meta>
  <table id="alerts" onDisk="True" mixin="//scs#q3cindex" adql="True">
    <primary>alert_id</primary>
    <stc>Position ICRS "ra" "dec"</stc>
{columns}
    <column name="moc90" type="smoc" ucd="pos.outline;obs.field"
      description="MOC of the circular 90% region." verbLevel="30"/>
    <index columns="moc90" method="GIN"/>
    <script type="preIndex" lang="SQL">
      UPDATE \\qName SET moc90 = smoc(LEAST(GREATEST(CEIL(LN(234.4 / r90) / LN(2.0)), 3), 14)::int,
        scircle(spoint(RADIANS(ra), RADIANS(dec)), RADIANS(r90)))
    </script>
  </table>
  <data id="import">
    <sources pattern="data/alerts.csv"/>
    <csvGrammar names="{names}"/>
    <make table="alerts"><rowmaker idmaps="*"/></make>
  </data>
  <service id="cone" allowed="scs.xml">
    <meta name="shortName">nufairbench cone</meta>
    <meta name="testQuery">
      <meta name="ra">10</meta><meta name="dec">10</meta><meta name="sr">1</meta>
    </meta>
    <scsCore queriedTable="alerts"><FEED source="//scs#coreDescs"/></scsCore>
  </service>
</resource>
"""

#: What ``bench.vo`` exports from nufair (same column order as ``COLUMNS``).
EXPORT_SQL = (
    "SELECT "
    + ", ".join(c[0] for c in COLUMNS)
    + " FROM nufair.alerts WHERE r90 IS NOT NULL ORDER BY alert_id"
)


@dataclass(frozen=True, slots=True)
class Dachs:
    """Where the loaded DaCHS answers."""

    base: str
    scs_url: str
    tap_url: str
    table: str


def available(base: str = BASE) -> str | None:
    """None when DaCHS answers and can be loaded here, else why not."""
    if shutil.which("dachs") is None:
        return "the dachs command is not installed (run ../shared/peers/dachs-setup.sh)"
    if shutil.which("su") is None or not Path("/var/gavo").is_dir():
        return "no /var/gavo: DaCHS is not set up"
    try:
        httpx.get(base + "/tap/availability", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        return (
            f"DaCHS does not answer at {base} ({exc}); start it: su dachsroot -c "
            "'dachs serve start'"
        )
    return None


def _column_xml(name: str, typ: str, unit: str, ucd: str, verb: int) -> str:
    unit_attr = f' unit="{unit}"' if unit else ""
    return (
        f'    <column name="{name}" type="{typ}"{unit_attr} ucd="{ucd}" '
        f'verbLevel="{verb}" description="{name} (as in nufair.alerts)"/>'
    )


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return str(v.replace(tzinfo=None).isoformat())
    return str(v)


def load(rows: Sequence[Sequence[Any]], base: str = BASE) -> Dachs:
    """Import ``rows`` (``EXPORT_SQL`` order) into DaCHS as ``nufairbench.alerts``."""
    (INPUTS / "data").mkdir(parents=True, exist_ok=True)
    with (INPUTS / "data" / "alerts.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        for r in rows:
            w.writerow([_cell(v) for v in r])
    (INPUTS / "q.rd").write_text(
        _RD.format(
            schema=SCHEMA,
            names=",".join(c[0] for c in COLUMNS),  # comma separated (pitfall 5)
            columns="\n".join(_column_xml(*c) for c in COLUMNS),
        )
    )
    subprocess.run(["chown", "-R", "dachsroot:gavo", str(INPUTS)], check=True)
    subprocess.run(
        ["su", "dachsroot", "-c", f"cd {INPUTS} && dachs imp q"], check=True, capture_output=True
    )
    subprocess.run(["su", "dachsroot", "-c", "dachs serve reload"], check=True, capture_output=True)
    return Dachs(base, f"{base}/{SCHEMA}/q/cone/scs.xml", f"{base}/tap/sync", f"{SCHEMA}.alerts")
