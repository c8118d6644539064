"""``edgepose data synth|convert|inspect|serve|calib``: render the synthetic set, convert COCO ⇄ YOLO, look at
a dataset, run tf.data service dispatchers and workers, build calibration sets.

How a path names a dataset, and how converted sets are written, is ``edgepose.data.convert``'s to say.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from edgepose import console
from edgepose.cli.common import (
    COLOR_OPTION,
    CONFIG_OPTION,
    OFFSET_OPTION,
    OVERRIDES_ARGUMENT,
    SCALE_OPTION,
    model_normalization,
    normalization_overrides,
    resolve_config,
)
from edgepose.data import service
from edgepose.data.convert import convert_dataset
from edgepose.data.inspect import inspect_dataset
from edgepose.data.synthetic import render_dataset
from edgepose.errors import ConfigError

app = typer.Typer(
    help="Pose datasets: synthetic set, COCO ⇄ YOLO, inspect, calibration sets; tf.data service.", no_args_is_help=True
)

KEYPOINTS_HELP = "13 or 17 body keypoints, or 21 hand keypoints"


@app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Folder to create (replaces a synthetic set)."),
    n: int = typer.Option(..., "--n", "-n", min=1, help="Images to render."),
    keypoints: int = typer.Option(17, "--keypoints", "-k", help=f"{KEYPOINTS_HELP}."),
    image_size: int = typer.Option(192, "--image-size", min=32, help="Side of the square images, in pixels."),
    seed: int = typer.Option(0, "--seed", help="Seed of the renderer: the same seed draws the same images."),
) -> None:
    """Render the synthetic pose set (COCO keypoints JSON and PNG images)."""
    labels = render_dataset(out, n, keypoints, image_size, seed, progress=True)
    console.out.print(f"wrote {n} images and their labels: {labels}", soft_wrap=True)


@app.command("convert")
def convert(
    source: Path = typer.Argument(..., help="COCO keypoints .json (or its folder), or a YOLO pose folder."),
    to: str = typer.Option(..., "--to", help="Format to write: coco or yolo."),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Folder to create."),
    keypoints: int | None = typer.Option(None, "--keypoints", "-k", help=f"{KEYPOINTS_HELP} (default: detected)."),
    images: Path | None = typer.Option(None, "--images", help="COCO image folder when not beside the JSON."),
    link: bool = typer.Option(False, "--link", help="Symlink (YOLO) or refer to (COCO) the images, not copy."),
) -> None:
    """Convert a dataset between COCO keypoints and YOLO Darknet pose."""
    done = convert_dataset(source, to, out, keypoints, images, link)
    console.out.print(
        f"converted {done.persons} persons in {done.images} images from {done.source_format} to {to}: {done.target}",
        soft_wrap=True,
    )
    if done.log.total:
        console.out.print(done.log.summary(), soft_wrap=True)


@app.command("inspect")
def inspect(
    dataset: Path = typer.Argument(..., help="COCO keypoints .json (or its folder), or a YOLO pose folder."),
    keypoints: int | None = typer.Option(None, "--keypoints", "-k", help=f"{KEYPOINTS_HELP} (default: detected)."),
    images: Path | None = typer.Option(None, "--images", help="COCO image folder when not beside the JSON."),
    out: Path = typer.Option(Path("."), "--out", "-o", file_okay=False, help="Folder for inspect.png."),
    grid: int = typer.Option(16, "--grid", min=0, help="Samples drawn into inspect.png (0: no picture)."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Count images, persons, skipped samples and keypoint visibility, and draw samples into a PNG grid."""
    stats = inspect_dataset(dataset, keypoints, images, out / "inspect.png", grid)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    _print_stats(stats)


def _print_stats(stats: dict) -> None:
    console.out.print(f"{stats['dataset']}: {stats['format']}, {stats['keypoints']} keypoints", soft_wrap=True)
    console.out.print(f"images: {stats['images']}  persons: {stats['persons']}", soft_wrap=True)
    console.out.print(stats["skipped_summary"], soft_wrap=True)
    persons = max(stats["persons"], 1)
    rows = [
        (name, v["visible"], v["occluded"], v["unlabelled"], f"{100 * (v['visible'] + v['occluded']) / persons:.1f}")
        for name, v in stats["visibility"].items()
    ]
    columns = ("keypoint", "visible", "occluded", "unlabelled", "labelled %")
    console.out.print(console.table("keypoint visibility", columns, rows))
    if stats["grid"]:
        console.out.print(f"samples drawn in {stats['grid']}", soft_wrap=True)
    elif stats["persons"]:
        console.out.print("no picture drawn (--grid 0)", soft_wrap=True)


@app.command("serve")
def serve(
    dispatcher: bool = typer.Option(False, "--dispatcher", help="Run the dispatcher that trainings register with."),
    worker: bool = typer.Option(False, "--worker", help="Run a worker: it runs input pipelines and streams batches."),
    port: int | None = typer.Option(None, "--port", min=0, help="Port to serve on (dispatcher 5050; worker 0: any)."),
    work_dir: Path | None = typer.Option(
        None, "--work-dir", file_okay=False, help="Dispatcher: journal folder, so that a restart recovers its state."
    ),
    dispatcher_address: str | None = typer.Option(
        None, "--dispatcher-address", help="Worker: the dispatcher's HOST:PORT (or grpc://HOST:PORT)."
    ),
    worker_host: str = typer.Option("localhost", "--worker-host", help="Worker: the host name clients reach it by."),
) -> None:
    """Run a tf.data service dispatcher or worker until Ctrl-C (training.data_service: grpc://HOST:PORT)."""
    if dispatcher == worker:
        raise ConfigError("data serve: give exactly one of --dispatcher and --worker")
    if worker and not dispatcher_address:
        raise ConfigError("data serve --worker: needs --dispatcher-address HOST:PORT")
    if dispatcher and dispatcher_address:
        raise ConfigError("data serve --dispatcher: --dispatcher-address is for --worker")
    if worker and work_dir is not None:
        raise ConfigError("data serve --worker: --work-dir is for --dispatcher")
    role = "dispatcher" if dispatcher else "worker"
    if dispatcher:
        port = 5050 if port is None else port
        server = _start(role, port, service.start_dispatcher, port, work_dir and str(work_dir))
        bound = server.target.rpartition(":")[2]
        _announce(f"tf.data service dispatcher listening on grpc://0.0.0.0:{bound} (Ctrl-C to stop)")
    else:
        port = port or 0
        server = _start(role, port, service.start_worker, dispatcher_address, port, worker_host)
        bound = server._address.rpartition(":")[2]  # the port picked for --port 0; TF has no public name for it
        _announce(f"tf.data service worker on port {bound} registered with {dispatcher_address} (Ctrl-C to stop)")
    service.serve_forever(server)


def _start(role: str, port: int, start: Callable[..., Any], *args: Any) -> Any:
    """``start(*args)``, with Ctrl-C ending the process at once meanwhile: TensorFlow holds the GIL while a
    worker waits for its dispatcher (it retries for up to an hour), so no Python handler could run, and
    there is nothing to clean up yet. Once the server is up Ctrl-C raises KeyboardInterrupt, also when a
    shell started this command with SIGINT ignored (``edgepose data serve ... &``)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return start(*args)
    except RuntimeError as exc:  # TensorFlow's "Could not start gRPC server", e.g. the port is taken
        raise ConfigError(f"data serve --{role}: cannot serve on port {port}: {exc}") from None
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _announce(line: str) -> None:
    console.err.print(line, soft_wrap=True, markup=False)
    sys.stderr.flush()


@app.command("calib")
def calib(
    source: str = typer.Option(
        ..., "--from", help="'synthetic', a COCO .json, a YOLO folder, or a plain folder of images (no labels)."
    ),
    n: int = typer.Option(200, "--n", "-n", min=1, help="Images in the set."),
    strategy: str = typer.Option("random", "--strategy", help="random, or stratified (by box size and visibility)."),
    seed: int = typer.Option(0, "--seed", help="The same seed picks the same images."),
    name: str = typer.Option(..., "--name", help="The set's name: it is written to calibration/NAME/."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Take input size and normalization from it."),
    input_size: int | None = typer.Option(None, "--input-size", min=8, help="Square model input size."),
    root: Path = typer.Option(Path("calibration"), "--root", file_okay=False, help="Folder the sets live in."),
    scale: str | None = SCALE_OPTION,
    offset: str | None = OFFSET_OPTION,
    color: str | None = COLOR_OPTION,
    config: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
) -> None:
    """Build a calibration set: model-sized crops plus a manifest.yaml (source, selection, sha256, preprocessing)."""
    from edgepose.quantize.calibration import build_set

    settings = resolve_config(config, [*(overrides or []), *normalization_overrides(scale, offset, color)])
    if model is not None:
        from edgepose.runtime import open_runner

        normalization, _ = model_normalization(model, settings, scale, offset, color)
        with open_runner(model) as runner:
            size = runner.input_shape[:2]
            if runner.is_heatmap_model:
                settings.dataset.keypoints = runner.keypoints
    else:
        from edgepose.convert.metadata import Normalization
        from edgepose.models import model_info

        normalization = Normalization.from_config(settings)
        size = (input_size, input_size) if input_size else settings.model.input_size
        size = size or model_info(settings.model.name).default_input_size
    out = root / name
    if out.exists():
        raise ConfigError(f"{out}: a calibration set of that name exists; choose another --name or delete it")
    with console.err.status(f"building calibration set {name}"):
        path = build_set(source, out, n, strategy, seed, normalization, tuple(size), settings)
    console.out.print(f"calibration set: {path} ({n} images requested, {strategy}, seed {seed})", soft_wrap=True)
