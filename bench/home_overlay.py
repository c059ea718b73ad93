"""The home page's all-sky overlay at many alerts (issue 19 item 3): its size and time.

The bundled sample is imported as many times as it takes to hold ``--alerts`` alerts (as
:mod:`bench.dcat_page` does), then ``GET /`` is timed through the app (median of
``--repeat``), and the page is taken apart: the interactive sky's inline JSON (every drawn
alert's 90 % outline and best fit, :mod:`catalog.fair.skyview`), the static SVG map (the
fallback, :mod:`catalog.fair.skyplot`) and the rest. The parts are also timed in process:
reading the map's alerts, building the sky's JSON, drawing the SVG.

    PYTHONPATH=. python -m bench.home_overlay   # NUFAIR_BENCH_DATABASE_URL, else embedded
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import fresh_database, median, write_result
from bench.dcat_page import seed
from nufair.app import make_engine

#: The sky's inline JSON in the page.
SKY_DATA = re.compile(r'<script type="application/json" class="sky-data">(.*?)</script>', re.S)
#: The static map (the first ``<svg>`` of the page's all-sky figure).
SVG = re.compile(r"<svg.*?</svg>", re.S)


def time_page(url: str, repeat: int) -> dict[str, Any]:
    """Median milliseconds of ``GET /`` and the bytes of its parts."""
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from nufair.app import create_app
    from nufair.settings import Settings

    settings = Settings(database_url=SecretStr(url), data_dir=Path(tempfile.mkdtemp()))
    times = []
    with TestClient(create_app(settings)) as client:
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = client.get("/")
            times.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    page = r.text
    sky = SKY_DATA.search(page)
    svgs = SVG.findall(page)
    return {"page_ms": round(median(times), 1), "page_bytes": len(r.content),
            "sky_json_bytes": len(sky.group(1).encode()) if sky else 0,
            "svg_bytes": sum(len(s.encode()) for s in svgs)}


def time_parts(url: str, repeat: int) -> dict[str, Any]:
    """Median milliseconds of the map's parts, in process."""
    from catalog.fair import skyplot, skyview
    from catalog.fair.browse import _map_points
    from catalog.storage.events import CatalogStorage

    engine = make_engine(url)
    read, sky, svg = [], [], []
    try:
        storage = CatalogStorage(engine)
        for _ in range(repeat):
            t0 = time.perf_counter()
            points = _map_points(storage)
            t1 = time.perf_counter()
            skyview.allsky_view(points).to_json()
            t2 = time.perf_counter()
            skyplot.allsky_map(points)
            t3 = time.perf_counter()
            read.append((t1 - t0) * 1000)
            sky.append((t2 - t1) * 1000)
            svg.append((t3 - t2) * 1000)
    finally:
        engine.dispose()
    return {"drawn": len(points), "read_ms": round(median(read), 1),
            "sky_json_ms": round(median(sky), 1), "svg_ms": round(median(svg), 1)}


def main() -> None:
    """Command line: seed, then measure; writes ``bench/results/home_overlay.json``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with fresh_database() as url:
        count = seed(url, args.alerts)
        result: dict[str, Any] = {"alerts": count, **time_page(url, args.repeat),
                                  "in_process": time_parts(url, args.repeat)}
    print(result)
    write_result("home_overlay", result)


if __name__ == "__main__":
    main()
