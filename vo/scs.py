"""Simple Cone Search 1.03 over the current alerts (``nufair.alerts``).

RA, DEC, SR in decimal degrees are required; VERB (1, 2, 3) picks the columns, each with
the publisher DID, which the DataLink service descriptor of the answer points at. SR=0 or an
empty region gives an empty table, not an error; a bad or out-of-range value gives the
error document of the standard (INFO name="Error"), never a database message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from vo.config import VoConfig
from vo.datalink import service_descriptor
from vo.errors import VoError
from vo.formats.fields import FieldSpec, convert_rows, xml_attr, xml_text
from vo.formats.votable import document, votable
from vo.storage import VoStorage
from vo.tables import ALERTS, ColumnInfo

#: SCS 1.03 needs these UCD1 names on the id and position columns.
_SCS_UCD = {"obs_publisher_did": "ID_MAIN", "ra": "POS_EQ_RA_MAIN", "dec": "POS_EQ_DEC_MAIN"}


def _float(params: Mapping[str, Any], name: str) -> float:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        raise VoError(f"{name} is required")
    try:
        value = float(str(raw))
    except ValueError:
        raise VoError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise VoError(f"{name}={raw!r} is not a finite number")
    return value


def columns_for(verb: int) -> list[ColumnInfo]:
    """The columns of VERB=1 (id and position), 2 (the principal ones) or 3 (all)."""
    cols = [c for c in ALERTS.columns if c.moc_level is None]
    if verb == 1:
        return [c for c in cols if c.name in ("obs_publisher_did", "ra", "dec")]
    if verb == 2:
        return [c for c in cols if c.principal or c.name in _SCS_UCD]
    return cols


@dataclass(frozen=True, slots=True)
class Cone:
    """A cone search asked for: the centre (RA in [0, 360)), the radius, VERB and its
    columns."""

    ra: float
    dec: float
    sr: float
    verb: int
    columns: list[ColumnInfo]

    @property
    def names(self) -> list[str]:
        """The names of the columns."""
        return [c.name for c in self.columns]


def search(storage: VoStorage, cfg: VoConfig, params: Mapping[str, Any]) -> bytes:
    """The SCS 1.03 answer (TABLEDATA) for RA, DEC, SR and VERB in ``params``;
    :class:`VoError` for a missing, unreadable or out-of-range value."""
    cone = cone_of(params)
    rows, overflow = storage.cone(cone.ra, cone.dec, cone.sr, cone.names, cfg.max_rows)
    return answer(cfg, cone, rows, overflow)


def cone_of(params: Mapping[str, Any]) -> Cone:
    """The cone of RA, DEC, SR and VERB in ``params``; :class:`VoError` for a missing,
    unreadable or out-of-range value."""
    ra, dec, sr = _float(params, "RA"), _float(params, "DEC"), _float(params, "SR")
    if not 0 <= ra <= 360:
        raise VoError(f"RA={ra} is outside [0, 360]")
    if not -90 <= dec <= 90:
        raise VoError(f"DEC={dec} is outside [-90, 90]")
    if not 0 <= sr <= 180:
        raise VoError(f"SR={sr} is outside [0, 180]")
    verb_raw = params.get("VERB", "2")
    try:
        verb = int(str(verb_raw))
    except ValueError:
        raise VoError(f"VERB={verb_raw!r} must be 1, 2 or 3") from None
    verb = min(max(verb, 1), 3)
    return Cone(ra % 360.0, dec, sr, verb, columns_for(verb))


def answer(cfg: VoConfig, cone: Cone, rows: list[tuple[Any, ...]], overflow: bool) -> bytes:
    """The SCS 1.03 document of ``rows`` of the cone's columns."""
    cols = cone.columns
    specs = [FieldSpec(c.name, c.datatype, c.arraysize, c.xtype, c.unit,
                       _SCS_UCD.get(c.name, c.ucd), None, c.description) for c in cols]
    # Every VERB has the publisher DID: the DataLink service descriptor points at it, so
    # a client gets each alert's links (pyvo's iter_datalinks, TOPCAT's activation).
    did = next(i for i, c in enumerate(cols) if c.name == "obs_publisher_did")
    specs[did] = replace(specs[did], id="datalink_id")
    out = convert_rows([r[:len(cols)] for r in rows], specs)
    return votable(specs, out, serialization="tabledata", overflow=overflow,
                   extra_resources=[service_descriptor(cfg, "datalink_id")])


def error_document(message: str) -> bytes:
    """The SCS 1.03 error answer: a VOTable whose INFO name="Error" says why."""
    return document('<RESOURCE type="results">\n'
                    f'<INFO ID="Error" name="Error" value="{xml_attr(message)}"/>\n'
                    f'<INFO name="QUERY_STATUS" value="ERROR">{xml_text(message)}</INFO>\n'
                    "</RESOURCE>\n")
