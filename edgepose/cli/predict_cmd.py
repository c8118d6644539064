"""``edgepose predict MODEL INPUT...``: keypoints on images and videos, drawn and as COCO results."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from edgepose import console
from edgepose.cli.common import CONFIG_OPTION, OUT_OPTION, resolve_config
from edgepose.errors import ConfigError, DataError, ModelError
from edgepose.runs import Run


def predict(
    model: Path = typer.Argument(..., help="The model: .keras, .h5, .tflite or .onnx.", dir_okay=False),
    inputs: list[Path] | None = typer.Argument(
        None, help="Images, videos or folders of them (default: prediction.test_files_path).", show_default=False
    ),
    boxes: Path | None = typer.Option(
        None,
        "--boxes",
        help='JSON {"file name": (x, y, w, h) as a list}: the person in each (default: the whole frame).',
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Also run every frame on this board and mark frames whose output differs."
    ),
    port: str | None = typer.Option(None, "--port", "-p", help="Serial device of a physical board (with --target)."),
    ssh: str | None = typer.Option(None, "--ssh", help="user@host of a Linux board (with --target)."),
    threshold: float | None = typer.Option(
        None, "--threshold", min=0.0, max=1.0, help="Keypoint confidence drawn as a dot (default 0.2)."
    ),
    refine: str | None = typer.Option(None, help="Sub-pixel refinement: none, quarter, dark or integral."),
    engine: str | None = typer.Option(
        None, "--engine", help="keras, litert, tflite-micro or onnxruntime (default: by the model's kind)."
    ),
    config: Path | None = CONFIG_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """Predict keypoints on images and videos: COCO results JSON, annotated images, annotated videos."""
    from edgepose import predict as prediction

    flags = [f"evaluation.refine={refine}"] if refine else []
    flags += [f"prediction.confidence_threshold={threshold}"] if threshold is not None else []
    flags += [f"prediction.boxes={boxes}"] if boxes is not None else []
    settings = resolve_config(config, flags)
    given = list(inputs or ([settings.prediction.test_files_path] if settings.prediction.test_files_path else []))
    if not given:
        raise ConfigError("nothing to predict on: give images, videos or folders, or prediction.test_files_path")
    if target is not None and model.suffix.lower() != ".tflite":
        raise ModelError(f"{model}: --target runs a .tflite model on the board; quantize or export one first")
    prediction.read_boxes(settings.prediction.boxes)  # a malformed file is refused before the run folder exists
    run = Run.create("predict", out, settings.general.runs_dir, settings)
    bar = Progress(console=console.err, transient=True)
    with run, _device(target, model, port, ssh, settings, run) as device, bar:
        task = bar.add_task("predicting", total=None)
        outcome = prediction.predict_files(
            model, given, settings, run, engine, device,
            on_total=lambda total: bar.update(task, total=total, description=f"predicting on {total} frames"),
            progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    _print(outcome, target, run)
    if not outcome.frames:
        raise DataError("no frame could be read; see the lines above")


class _NoDevice:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def _device(target: str | None, model: Path, port: str | None, ssh: str | None, settings, run: Run):
    """A context giving a ``DeviceCheck`` for ``--target``, or None without one."""
    if target is None:
        return _NoDevice()
    from contextlib import contextmanager

    from edgepose.backends import Request, connect
    from edgepose.bench.client import Client
    from edgepose.boards import find_board
    from edgepose.predict import DeviceCheck

    board = find_board(target)
    bench = settings.benchmark

    @contextmanager
    def opened():
        request = Request(model, None, 1, bench.baud, port, ssh, build_dir=run.path / "build", deploy=True)
        with console.err.status(f"starting {board.name}"):
            connection = connect(board, request)
        with connection.link:
            client = Client(connection.link, timeout=bench.timeout_s)
            yield DeviceCheck(client, model, board.name, connection.target.reference_runtime, bench.output_tolerance)

    return opened()


def _print(outcome, target: str | None, run: Run) -> None:
    for problem in outcome.problems:
        console.warn(problem)
    rows = [("frames", outcome.frames), ("images", outcome.images), ("videos", outcome.videos)]
    if target:
        rows.append((f"differ on {target}", len(outcome.differing)))
    console.out.print(console.table("predict", ("", "count"), rows))
    for frame in outcome.differing[:10]:
        console.warn(f"{frame}: the device output differs from the host's")
    console.out.print(f"run directory: {run.path}", soft_wrap=True)
