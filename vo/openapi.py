"""OpenAPI description of the answers of the VO routes: VOTable or XML documents, not JSON.

Every refusal is a VOTable with QUERY_STATUS=ERROR and an INFO naming its code
(:mod:`vo.errors`); these tables say so to the schema readers (and to Schemathesis).
"""

from __future__ import annotations

from typing import Any

#: Media type of VOTable answers.
VOTABLE = "application/x-votable+xml"

#: Media type of the VOSI and UWS XML documents.
XML = "text/xml; charset=utf-8"

_VOTABLE_DOC = {VOTABLE: {"schema": {"type": "string"}}}
_XML_DOC = {"text/xml": {"schema": {"type": "string"}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Refused: a VOTable with QUERY_STATUS=ERROR and INFO code",
          "content": _VOTABLE_DOC},
    404: {"description": "Not found: a VOTable with QUERY_STATUS=ERROR",
          "content": _VOTABLE_DOC},
}
#: UWS (TAP async) answers: documents, redirects after a change, and refusals.
UWS_REFUSALS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"description": "Another owner's job: a VOTable with QUERY_STATUS=ERROR",
          "content": _VOTABLE_DOC},
    429: {"description": "Over a per-owner cap: a VOTable with QUERY_STATUS=ERROR",
          "content": _VOTABLE_DOC},
    503: {"description": "Over a service-wide cap: a VOTable with QUERY_STATUS=ERROR and "
                         "Retry-After", "content": _VOTABLE_DOC},
}
UWS_XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A UWS document", "content": _XML_DOC}, **UWS_REFUSALS}
UWS_REDIRECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "Done: See Other, to the job or the job list"}, **UWS_REFUSALS}
UWS_ITEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A job resource: its phase or another value (text), its "
                         "parameters or results (UWS XML), or its error (VOTable)",
          "content": {"text/plain": {"schema": {"type": "string"}}, **_XML_DOC,
                      **_VOTABLE_DOC}},
    **UWS_REFUSALS}
TAP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The query result: VOTable (BINARY2 or TABLEDATA), CSV or TSV "
                         "(RESPONSEFORMAT)",
          "content": {**_VOTABLE_DOC, "text/csv": {"schema": {"type": "string"}},
                      "text/tab-separated-values": {"schema": {"type": "string"}}}},
    **_ERRORS,
    503: {"description": "Every synchronous slot is taken: a VOTable with "
                         "QUERY_STATUS=ERROR, code service_busy, and Retry-After",
          "content": _VOTABLE_DOC},
}
VOTABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A VOTable document", "content": _VOTABLE_DOC}, **_ERRORS}
XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A VOSI XML document", "content": _XML_DOC}, **_ERRORS}
EXAMPLES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "DALI examples (XHTML with RDFa)",
          "content": {"application/xhtml+xml": {"schema": {"type": "string"}}}}}
DATALINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "DataLink {links} table",
          "content": {VOTABLE + ";content=datalink": {"schema": {"type": "string"}}}},
    **_ERRORS}
MOC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "MOC 2.0 as ASCII (default), FITS or JSON (RESPONSEFORMAT or "
                         "Accept)",
          "content": {"text/plain": {"schema": {"type": "string"}},
                      "application/fits": {"schema": {"type": "string",
                                                      "format": "binary"}},
                      "application/json": {"schema": {"type": "object"}}}},
    **_ERRORS,
    406: {"description": "Accept allows none of the MOC forms: a VOTable with "
                         "QUERY_STATUS=ERROR", "content": _VOTABLE_DOC}}
