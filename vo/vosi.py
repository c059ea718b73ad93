"""VOSI documents: availability, capabilities (TAPRegExt), tables (VOSI 1.1), examples."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from vo.adql.functions import UDFS
from vo.config import VoConfig
from vo.tables import KEYS, SCHEMAS, ColumnInfo, TableInfo, published_name

_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
_VS = 'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"'
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

#: TAPRegExt language features, by feature type (lower-case URIs, TAPRegExt 1.0 erratum 1).
FEATURES: dict[str, list[tuple[str, str]]] = {
    "ivo://ivoa.net/std/TAPRegExt#features-adqlgeo": [
        (f, "") for f in ("POINT", "CIRCLE", "POLYGON", "BOX", "CONTAINS", "INTERSECTS",
                          "DISTANCE", "AREA", "CENTROID", "COORD1", "COORD2", "COORDSYS")],
    "ivo://ivoa.net/std/TAPRegExt#features-udf": [
        (form, "HEALPix (NESTED) index or cell centre at the given order.")
        for form in UDFS.values()],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-sets": [
        ("UNION", ""), ("EXCEPT", ""), ("INTERSECT", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-common-table": [("WITH", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-string": [
        ("LOWER", ""), ("UPPER", ""), ("ILIKE", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-offset": [("OFFSET", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-type": [("CAST", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-unit": [("IN_UNIT", "")],
}

OUTPUT_FORMATS = [
    ("application/x-votable+xml", "votable", "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
    ("application/x-votable+xml;serialization=tabledata", "votable/td",
     "ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
    ("text/csv;header=present", "csv", None),
    ("text/tab-separated-values", "tsv", None),
]


def availability(up: bool, note: str) -> str:
    return (f'{_HEAD}<avail:availability xmlns:avail="http://www.ivoa.net/xml/VOSIAvailability/'
            f'v1.0"><avail:available>{"true" if up else "false"}</avail:available>'
            f"<avail:note>{escape(note)}</avail:note></avail:availability>\n")


def _iface(url: str, use: str = "full", role: str | None = None,
           version: str | None = None) -> str:
    attrs = ' xsi:type="vs:ParamHTTP"'
    if role:
        attrs += f' role="{role}"'
    if version:
        attrs += f' version="{version}"'
    return f'<interface{attrs}><accessURL use="{use}">{escape(url)}</accessURL></interface>'


def capabilities(cfg: VoConfig) -> str:
    base = cfg.base_url.rstrip("/")
    feats = ""
    for ftype, items in FEATURES.items():
        feats += f'<languageFeatures type="{ftype}">'
        for form, desc in items:
            feats += f"<feature><form>{escape(form)}</form>"
            if desc:
                feats += f"<description>{escape(desc)}</description>"
            feats += "</feature>"
        feats += "</languageFeatures>"
    outs = ""
    for mime, alias, ivo in OUTPUT_FORMATS:
        attr = f" ivo-id={quoteattr(ivo)}" if ivo else ""
        outs += f"<outputFormat{attr}><mime>{escape(mime)}</mime><alias>{alias}</alias>" \
                "</outputFormat>"
    tap = (
        '<capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">'
        f'{_iface(base + "/tap", "base", "std", "1.1")}'
        "<language><name>ADQL</name>"
        '<version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version>'
        '<version ivo-id="ivo://ivoa.net/std/ADQL#v2.1">2.1</version>'
        "<description>ADQL 2.1, translated to PostgreSQL; geometry on HEALPix order-29 "
        "indices, MOC columns on region tiles.</description>"
        f"{feats}</language>{outs}"
        '<uploadMethod ivo-id="ivo://ivoa.net/std/TAPRegExt#upload-inline"/>'
        # TAP makes upload-http mandatory with uploads (taplint E-CAP-MUPM): the method is
        # there, and fetches from the hosts the operator allows (vo.upload); others are
        # refused with an error that names the table.
        '<uploadMethod ivo-id="ivo://ivoa.net/std/TAPRegExt#upload-http"/>'
        f"<retentionPeriod><default>{cfg.retention_s}</default>"
        f"<hard>{cfg.retention_s}</hard></retentionPeriod>"
        f"<executionDuration><default>{int(cfg.timeout_s)}</default>"
        f"<hard>{int(cfg.timeout_s)}</hard></executionDuration>"
        f'<outputLimit><default unit="row">{cfg.default_maxrec}</default>'
        f'<hard unit="row">{cfg.max_rows}</hard></outputLimit>'
        f'<uploadLimit><hard unit="byte">{cfg.max_upload_bytes}</hard></uploadLimit>'
        "</capability>")
    others = [
        ("ivo://ivoa.net/std/VOSI#capabilities", base + "/tap/capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", base + "/tap/availability"),
        ("ivo://ivoa.net/std/VOSI#tables-1.1", base + "/tap/tables"),
        ("ivo://ivoa.net/std/DALI#examples", base + "/tap/examples"),
    ]
    body = tap + "".join(f'<capability standardID="{sid}">{_iface(url)}</capability>'
                         for sid, url in others)
    body += ('<capability standardID="ivo://ivoa.net/std/ConeSearch">'
             f'{_iface(base + "/scs?", "base", "std")}</capability>')
    body += ('<capability standardID="ivo://ivoa.net/std/DataLink#links-1.1">'
             f'{_iface(base + "/datalink", "full", "std")}</capability>')
    return (f'{_HEAD}<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/'
            f'v1.0" {_XSI} {_VS} xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">'
            f"{body}</vosi:capabilities>\n")


def _column(c: ColumnInfo) -> str:
    out = f"<column><name>{escape(published_name(c.name))}</name>"
    out += f"<description>{escape(c.description)}</description>"
    if c.unit:
        out += f"<unit>{escape(c.unit)}</unit>"
    if c.ucd:
        out += f"<ucd>{escape(c.ucd)}</ucd>"
    if c.utype:
        out += f"<utype>{escape(c.utype)}</utype>"
    attrs = f' arraysize="{c.arraysize}"' if c.arraysize else ""
    if c.xtype:
        attrs += f' extendedType="{c.xtype}"'
    out += f'<dataType xsi:type="vs:VOTableType"{attrs}>{c.datatype}</dataType>'
    for flag, on in (("indexed", c.indexed), ("primary", c.principal), ("std", c.std)):
        if on:
            out += f"<flag>{flag}</flag>"
    return out + "</column>"


def _table(t: TableInfo, detail: bool, root: bool = False) -> str:
    tag = "vosi:table" if root else "table"
    ns = (' xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0" '
          f"{_XSI} {_VS}") if root else ""
    out = f'<{tag}{ns} type="{t.table_type}"><name>{t.qualified}</name>'
    out += f"<description>{escape(t.description)}</description>"
    if detail:
        out += "".join(_column(c) for c in t.columns)
        for k in KEYS:
            if k.from_table == t.qualified:
                out += f"<foreignKey><targetTable>{k.target_table}</targetTable>"
                for f, to in k.columns:
                    out += (f"<fkColumn><fromColumn>{f}</fromColumn>"
                            f"<targetColumn>{to}</targetColumn></fkColumn>")
                out += f"<description>{escape(k.description)}</description></foreignKey>"
    return out + f"</{tag}>"


def tableset(detail: bool) -> str:
    body = ""
    for s in SCHEMAS:
        body += f"<schema><name>{s.name}</name><description>{escape(s.description)}"
        body += "</description>" + "".join(_table(t, detail) for t in s.tables) + "</schema>"
    return (f'{_HEAD}<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0" '
            f"{_XSI} {_VS}>{body}</vosi:tableset>\n")


def table_document(t: TableInfo) -> str:
    return _HEAD + _table(t, True, root=True) + "\n"


EXAMPLES = [
    ("cone", "Alerts within 5 degrees of TXS 0506+056",
     "SELECT name, ra, dec, r90, event_time FROM nufair.alerts\n"
     "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 77.3582, 5.6931, 5))"),
    ("moc", "Alerts whose 90 % region contains a position",
     "SELECT name, ra, dec, area90 FROM nufair.alerts\n"
     "WHERE 1 = CONTAINS(POINT('ICRS', 77.3582, 5.6931), moc90)"),
    ("revisions", "Every revision of the most recent alerts",
     "SELECT TOP 20 name, revision, revision_kind, ra, dec, r90 FROM nufair.revisions\n"
     "ORDER BY event_time DESC, revision"),
    ("gold", "Gold alerts by energy",
     "SELECT TOP 10 name, energy, signalness FROM nufair.alerts\n"
     "WHERE stream = 'gold' ORDER BY energy DESC"),
]


def examples(cfg: VoConfig) -> str:
    divs = ""
    for ident, name, query in EXAMPLES:
        divs += (f'<div typeof="example" id="{ident}" resource="#{ident}">'
                 f'<h2 property="name">{escape(name)}</h2>'
                 f'<pre property="query">{escape(query)}</pre></div>\n')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML+RDFa 1.1//EN" '
            '"http://www.w3.org/MarkUp/DTD/xhtml-rdfa-2.dtd">\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" version="XHTML+RDFa 1.1">'
            "<head><title>nufair TAP examples</title></head>"
            f'<body vocab="http://www.ivoa.net/rdf/examples#"><h1>Examples</h1>\n{divs}'
            "</body></html>\n")
