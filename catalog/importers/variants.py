"""Many distinct, valid IceCube VOEvents derived from one real notice.

For benchmarks and fault tests that need a stream of notices: the run and event numbers are
changed consistently in the Params, the AMON_ID and the IVORN, so every variant passes the
importer's consistency checks and is a distinct event.
"""

from __future__ import annotations

import re

from catalog.importers import sample_paths

TEMPLATE_NAME = "IceCube_134191_017593623_0.xml"


def voevent_variants(n: int, *, first_run: int = 200000) -> list[bytes]:
    """``n`` VOEvent documents; variant ``i`` has run ``first_run + i // 1000``."""
    template = next(p for p in sample_paths() if p.name == TEMPLATE_NAME).read_text()
    out = []
    for i in range(n):
        run, event = first_run + i // 1000, 1000000 + i
        text = template.replace("134191", str(run)).replace("017593623", f"{event:09d}")
        text = re.sub(r'name="event_id" value="\d+"', f'name="event_id" value="{event}"', text)
        amon_id = f"{run}{event:08d}"  # AMON_ID is the run followed by the 8-digit event
        text = re.sub(r'name="AMON_ID" value="\d+"', f'name="AMON_ID" value="{amon_id}"', text)
        out.append(text.encode())
    return out
