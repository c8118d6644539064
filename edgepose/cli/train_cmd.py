"""``edgepose train``: a run directory with model.keras, best.keras, metrics.csv and TensorBoard logs."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose import console
from edgepose.cli.common import CONFIG_OPTION, OUT_OPTION, OVERRIDES_ARGUMENT, resolve_config
from edgepose.runs import Run


def data_overrides(data: str) -> list[str]:
    """``--data``: ``synthetic``, a COCO keypoints ``.json`` (or a folder holding one, as ``data synth``
    writes) or a YOLO pose folder (the STM32 model zoo's ``single/13kpts/train``)."""
    if data == "synthetic":
        return ["dataset.format=synthetic", "dataset.name=synthetic"]
    from edgepose.data.paths import detect

    kind, found = detect(Path(data))
    return [f"dataset.format={kind}", f"dataset.training_path={found}"]


def train(
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
    config: Path | None = CONFIG_OPTION,
    model: str | None = typer.Option(None, "--model", "-m", help="A model from `edgepose models`."),
    data: str | None = typer.Option(None, "--data", "-d", help="'synthetic', a COCO .json file or a YOLO folder."),
    epochs: int | None = typer.Option(None, "--epochs", "-e", min=1, help="Epochs to train."),
    batch_size: int | None = typer.Option(None, "--batch-size", "-b", min=1, help="Batch size."),
    input_size: int | None = typer.Option(None, "--input-size", min=32, help="Square input size in pixels."),
    out: Path | None = OUT_OPTION,
    resume: Path | None = typer.Option(
        None,
        "--resume",
        help="Continue a run directory from its last finished epoch (overrides apply, e.g. more --epochs).",
        file_okay=False,
    ),
) -> None:
    """Train a compact heatmap pose model (default: tiny on the synthetic set)."""
    from edgepose.data.sources import settle_dataset
    from edgepose.train.trainer import resume_config
    from edgepose.train.trainer import train as run_training

    flags = data_overrides(data) if data else []
    flags += [f"model.name={model}"] if model else []
    flags += [f"training.epochs={epochs}"] if epochs else []
    flags += [f"training.batch_size={batch_size}"] if batch_size else []
    flags += [f"model.input_size={input_size}"] if input_size else []
    if resume is not None:
        settings, state = resume_config(resume, [*(overrides or []), *flags])
        run = Run.reopen(resume, "train", settings)
        console.err.print(f"resuming {resume} after epoch {state['epoch']}")
    else:
        settings, state = resolve_config(config, [*(overrides or []), *flags]), None
        settle_dataset(settings.dataset)  # before config.yaml is written: the count and format the data has
        run = Run.create("train", out, settings.general.runs_dir, settings)
    with run:
        result = run_training(settings, run, state)
    best = f"{result.best:.4f}" if result.best is not None else "-"
    console.out.print(f"trained {result.epochs} epochs; best validation OKS {best}", soft_wrap=True)
    console.out.print(f"run directory: {run.path}", soft_wrap=True)
