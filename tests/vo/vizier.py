"""A VOTable as VizieR and TOPCAT upload them, written by hand: column names that are not
ADQL regular identifiers and one column of each VOTable datatype (issue 15 item 3)."""

from __future__ import annotations

#: Positions (the first inside IceCube-170922A's circle, the second far from every
#: alert), then one row of each datatype per source.
RA = [77.43, 10.0, 314.5]
DEC = [5.72, -45.0, 13.0]

FIELDS = """
<FIELD name="_RAJ2000" datatype="double" ucd="pos.eq.ra;meta.main" unit="deg"/>
<FIELD name="_DEJ2000" datatype="double" ucd="pos.eq.dec;meta.main" unit="deg"/>
<FIELD name="B-V" datatype="float" unit="mag"/>
<FIELD name="select" datatype="int"><VALUES null="-1"/></FIELD>
<FIELD name="ok" datatype="boolean"/>
<FIELD name="Name (SIMBAD)" datatype="unicodeChar" arraysize="*"/>
<FIELD name="obs_time" datatype="char" arraysize="*" xtype="timestamp"/>
<FIELD name="flux" datatype="double" arraysize="3"/>
<FIELD name="ids" datatype="long" arraysize="*"/>
<FIELD name="flag" datatype="unsignedByte"/>
"""
ROWS: list[tuple[str, ...]] = [
    ("0.52", "1", "T", "Ⅰ Zw 1", "2021-03-04T05:06:07.5", "1.5 2.5 3.5", "7 8", "3"),
    ("", "-1", "F", "β Cyg", "2019-12-31T23:59:59Z", "0 -1 1e300", "", "255"),
    ("-0.1", "3", "", "M 87", "", "NaN 2 3", "9", "0"),
]


def vizier_votable(fields: str, rows: list[tuple[str, ...]], positions: bool = True) -> bytes:
    """A TABLEDATA VOTable of ``fields`` and ``rows`` (preceded by the positions)."""
    cells = []
    for i, row in enumerate(rows):
        pos = [str(RA[i]), str(DEC[i])] if positions else []
        cells.append("<TR>" + "".join(f"<TD>{v}</TD>" for v in [*pos, *row]) + "</TR>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
            f'<RESOURCE><TABLE name="src">{fields}<DATA><TABLEDATA>{"".join(cells)}'
            '</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>').encode()
