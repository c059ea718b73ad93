"""``nufair scan`` and ``nufair simulate``: the reco package on the command line."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from reco.event import Event


@click.command()
@click.argument("event_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the result JSON, FITS skymaps, MOCs and PNG.",
)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786).")
@click.option(
    "--nsides",
    default="8:0,64:12,512:16",
    show_default=True,
    help="nside:n_refine progression.",
)
@click.option("--workers", type=int, default=None,
              help="Worker threads without --scheduler (default: one per core).")
def scan(
    event_file: Path, out_dir: Path, scheduler: str | None, nsides: str, workers: int | None
) -> None:
    """Scan the sky for the direction of the event in EVENT_FILE (raw-event JSON or an I3Live
    message)."""
    from reco.scan_config import ScanConfig, ScanProgress

    try:
        config = ScanConfig(nsides=ScanConfig.parse_nsides(nsides))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--nsides") from exc
    from nufair.commands.scan_products import PngDrawer, write_products

    # The PNG's process starts first: it imports matplotlib on the other core meanwhile.
    drawer = PngDrawer()
    try:
        _import_without_plotting()
        # The scheduler is reached (or the worker threads start) while this thread reads the
        # event and imports the scan.
        with ThreadPoolExecutor(1, "nufair-cluster") as starter:
            pending = starter.submit(_client, scheduler, workers)
            try:
                event = _read_event(event_file)
                from tqdm import tqdm

                from reco.detector import load_ic86
                from reco.scan import run_scan

                detector = load_ic86()
            except BaseException:
                _close(pending.result(), scheduler)
                raise
            client = pending.result()
        bar = tqdm(total=1000, unit="‰", desc="scan", bar_format="{l_bar}{bar}| {postfix}")

        def progress(p: ScanProgress) -> None:
            bar.n = round(1000 * p.fraction)
            bar.set_postfix_str(f"{p.pixels_done}/{p.pixels_total} px, {p.rate:.0f} px/s")
            bar.refresh()

        try:
            result = run_scan(event, detector, config, client=client, progress=progress)
        finally:
            bar.close()
            _close(client, scheduler)
        stem = f"run{event.run_id:08d}.evt{event.event_id:012d}"
        write_products(result, out_dir, stem, drawer)
    finally:
        drawer.close()
    b = result.best
    click.echo(
        f"best fit RA {b.ra * 57.29577951308232:.3f}° Dec {b.dec * 57.29577951308232:+.3f}° "
        f"(nside {b.nside}), {result.stats.pixel_fits} pixel fits in "
        f"{result.stats.elapsed_s:.1f} s → {out_dir}"
    )
    for region in result.regions:
        click.echo(f"  {region.name}: {region.area_deg2:.3f} deg², r = {region.radius_deg:.3f}°")
    from nufair.cli import leave_quickly

    leave_quickly()  # everything is written and closed: no interpreter teardown after this


def _client(scheduler: str | None, workers: int | None) -> Any:
    """A Dask client of the scheduler at ``scheduler``, else threads of this process
    (:class:`reco.cluster.ThreadClient`: no Dask cluster to start for a scan here)."""
    from reco.cluster import ThreadClient, remote_client

    return remote_client(scheduler) if scheduler else ThreadClient(workers)


def _close(client: Any, scheduler: str | None) -> None:
    """Close ``client`` and, when it was started here, its local cluster."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None and not scheduler:
        cluster.close()


def _import_without_plotting() -> None:
    """Import healpy and mocpy without their plotting modules, so that this process never
    imports matplotlib (the PNG is drawn in another process:
    :class:`~nufair.commands.scan_products.PngDrawer`).

    Both import matplotlib (healpy with pyplot) whenever it can be imported, for functions a
    scan never calls. While they are imported here, a ``None`` entry in ``sys.modules`` makes
    ``import matplotlib`` fail, which both take as "no matplotlib"; the entry is removed
    straight after. Nothing happens when matplotlib is already imported. No other thread
    imports meanwhile (the cluster's starts after).
    """
    if "matplotlib" in sys.modules:
        return
    sys.modules["matplotlib"] = None  # type: ignore[assignment]
    try:
        import healpy  # noqa: F401
        import mocpy  # noqa: F401
    finally:
        del sys.modules["matplotlib"]


def _read_event(event_file: Path) -> Event:
    """The event in ``event_file``, checked against the raw-event schema first (a refusal
    lists the first ten errors); an I3Live message is decoded (:mod:`reco.i3live`)."""
    from reco.event import Event
    from reco.i3live import I3DecodeError, decode_message, is_i3live_message

    data = json.loads(event_file.read_text("utf-8"))
    if is_i3live_message(data):
        try:
            return decode_message(data).to_event()
        except I3DecodeError as exc:
            raise click.ClickException(f"I3Live message refused: {exc}") from None
    from jsonschema import Draft202012Validator

    import schemas

    errors = sorted(
        Draft202012Validator(schemas.load("raw_event")).iter_errors(data), key=lambda e: e.path
    )
    if errors:
        lines = [f"  {'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:10]]
        raise click.ClickException("invalid event:\n" + "\n".join(lines))
    return Event.from_json(data)


@click.command()
@click.option("--n", "count", type=int, default=10, show_default=True, help="Events to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the event JSON files.",
)
@click.option(
    "--kind",
    type=click.Choice(["throughgoing", "starting"]),
    default="throughgoing",
    show_default=True,
)
@click.option("--emin", type=float, default=10.0, show_default=True, help="Min energy [TeV].")
@click.option("--emax", type=float, default=1000.0, show_default=True, help="Max energy [TeV].")
def simulate(count: int, seed: int, out_dir: Path, kind: str, emin: float, emax: float) -> None:
    """Simulate N muon tracks (energy log-uniform in [emin, emax]) as raw-event JSON files."""
    import numpy as np

    from reco.detector import load_ic86
    from reco.simulate import Kind, simulate_event

    track_kind: Kind = "starting" if kind == "starting" else "throughgoing"
    det = load_ic86()
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        energy = float(10 ** rng.uniform(np.log10(emin), np.log10(emax)))
        sim = simulate_event(rng, det, track_kind, energy, run_id=seed, event_id=i)
        path = out_dir / f"sim_seed{seed}_{i:05d}.json"
        path.write_text(json.dumps(sim.event.to_json()) + "\n", encoding="utf-8")
        click.echo(f"{path.name}: {kind} {energy:.1f} TeV, {sim.event.n_pulses} pulses")
