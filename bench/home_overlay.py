"""The home page's all-sky map at many alerts (issue 19 item 3): its size and time.

The bundled sample is imported as many times as it takes to hold ``--alerts`` alerts (as
:mod:`bench.dcat_page` does), then ``GET /`` is timed through the app (median of
``--repeat``) with the map's own resources (:mod:`catalog.fair.skymap`): the compact JSON
of every alert the interactive sky fetches (``/sky/alerts.json``) and the static SVG map
(``/sky/allsky.svg``), each built once (cold), then served from the cache, and revalidated
(``If-None-Match``: 304). Bytes as sent, plain and gzipped. The parts are also timed in
process: reading the map's alerts, building the JSON, drawing the SVG.

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
#: The inline SVGs of the page.
SVG = re.compile(r"<svg.*?</svg>", re.S)


def _timed(client: Any, path: str, repeat: int, **headers: str) -> tuple[float, Any]:
    times, r = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code in (200, 304), r.status_code
    return round(median(times), 1), r


def time_page(url: str, repeat: int) -> dict[str, Any]:
    """Median milliseconds of ``GET /`` and of the map's resources, and their bytes."""
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from catalog.fair import skymap
    from nufair.app import create_app
    from nufair.settings import Settings

    settings = Settings(database_url=SecretStr(url), data_dir=Path(tempfile.mkdtemp()))
    out: dict[str, Any] = {}
    with TestClient(create_app(settings)) as client:
        out["page_ms"], page = _timed(client, "/", repeat)
        sky = SKY_DATA.search(page.text)
        out.update(page_bytes=len(page.content),
                   sky_json_inline_bytes=len(sky.group(1).encode()) if sky else 0,
                   svg_inline_bytes=sum(len(s.encode()) for s in SVG.findall(page.text)))
        for name, path in (("overlay", skymap.JSON_PATH), ("svg", skymap.SVG_PATH)):
            skymap._cache.clear()  # the first answer builds it
            t0 = time.perf_counter()
            plain = client.get(path, headers={"Accept-Encoding": "identity"})
            out[f"{name}_cold_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            out[f"{name}_ms"], zipped = _timed(client, path, repeat, **{
                "Accept-Encoding": "gzip"})
            out[f"{name}_304_ms"], _ = _timed(client, path, repeat, **{
                "If-None-Match": plain.headers["etag"]})
            out[f"{name}_bytes"] = len(plain.content)
            out[f"{name}_gzip_bytes"] = int(zipped.headers["content-length"])
            if path == skymap.JSON_PATH:
                out["overlay_alerts"] = len(plain.json()["alerts"])
    return out


def time_parts(url: str, repeat: int) -> dict[str, Any]:
    """Median milliseconds of the map's parts, in process."""
    from catalog.fair import skymap, skyplot

    engine = make_engine(url)
    read, sky, svg = [], [], []
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            points = skymap.map_points(engine)
            t1 = time.perf_counter()
            skymap.overlay_json(points)
            t2 = time.perf_counter()
            skyplot.allsky_map(points, target="_top")
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
