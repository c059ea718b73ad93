"""Issue 15 item 2 (capabilities): what the service declares is what clients look for and
what works — COALESCE under ``features-adql-conditional`` (pyvo ``get_feature``), one
description per HEALPix UDF.

STILTS ``tapquery parse=true`` is not run here: the Debian STILTS 3.4.7 parses with the
system's ADQLlib 1.5 (ADQL 2.0 only), which refuses COALESCE whatever a service declares;
upstream STILTS bundles ADQLlib 2, which reads the declaration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvo
from astropy.table import MaskedColumn, Table

CONDITIONAL = "ivo://ivoa.net/std/TAPRegExt#features-adql-conditional"


def _adql(url: str) -> Any:
    tap = pyvo.dal.TAPService(url + "/tap")
    (cap,) = [c for c in tap.capabilities if c.standardid == "ivo://ivoa.net/std/TAP"]
    return cap.get_adql()


def test_coalesce_is_declared_and_works(live_url: str) -> None:
    """pyvo finds COALESCE under features-adql-conditional, and it answers as Python does."""
    lang = _adql(live_url)
    assert lang.get_feature(CONDITIONAL, "COALESCE") is not None
    values = np.array([3, 0, 7, 0])
    mask = np.array([False, True, False, True])
    src = Table({"k": np.arange(4), "v": MaskedColumn(values, mask=mask)})
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.search("SELECT k, COALESCE(v, -1) AS v FROM TAP_UPLOAD.src ORDER BY k",
                     uploads={"src": src})
    assert [int(v) for v in res["v"]] == [-1 if m else int(x) for x, m in
                                          zip(values, mask, strict=True)]


def test_each_udf_has_its_own_description(live_url: str) -> None:
    """The two HEALPix UDFs are found by pyvo, each described for what it does."""
    lang = _adql(live_url)
    index = lang.get_udf("ivo_healpix_index")
    centre = lang.get_udf("ivo_healpix_center")
    assert index is not None and centre is not None
    assert index.description != centre.description
    assert "index" in index.description and "centre" in centre.description
