"""``edgepose evaluate MODEL``: COCO AP/AR, mean OKS, PCK and pixel error, overall and per keypoint."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from edgepose import console
from edgepose.cli.common import CONFIG_OPTION, OUT_OPTION, OVERRIDES_ARGUMENT, model_normalization, resolve_config
from edgepose.errors import ModelError
from edgepose.runs import Run


def evaluate(
    model: Path = typer.Argument(..., help="The model to score: .keras, .h5, .tflite or .onnx.", dir_okay=False),
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
    data: Path | None = typer.Option(
        None, "--data", "-d", help="COCO .json or YOLO folder (default: the config's test or validation set)."
    ),
    config: Path | None = CONFIG_OPTION,
    flip_test: bool | None = typer.Option(None, "--flip-test/--no-flip-test", help="Average with the mirror."),
    refine: str | None = typer.Option(None, help="Sub-pixel refinement: none, quarter, dark or integral."),
    engine: str | None = typer.Option(
        None, "--engine", help="keras, litert, tflite-micro or onnxruntime (default: by the model's kind)."
    ),
    out: Path | None = OUT_OPTION,
) -> None:
    """Score a model the way the field does (pycocotools' COCOeval) and save predictions and metrics."""
    from edgepose.data.sources import evaluation_samples
    from edgepose.evaluate.evaluation import evaluate as run_evaluation
    from edgepose.runtime import open_runner

    flags = [f"evaluation.flip_test={str(flip_test).lower()}"] if flip_test is not None else []
    flags += [f"evaluation.refine={refine}"] if refine else []
    settings = resolve_config(config, [*(overrides or []), *flags])
    with open_runner(model, engine, settings.general.num_threads) as runner:
        if not runner.is_heatmap_model:
            raise ModelError(f"{model}: outputs {runner.output_shapes} are not heatmaps; keypoint metrics need them")
        # The model decides how many keypoints there are (a 13-point model reads 17-point data with the
        # face merged), and its sidecar how it is fed.
        given = settings.dataset.keypoints
        settings.dataset.keypoints = runner.keypoints
        why = "" if given == runner.keypoints else f"{model.name} predicts {runner.keypoints}"
        normalization, normalized_by = model_normalization(model, settings)
        _feed_as(normalization, settings)
        samples, log, origin = evaluation_samples(settings.dataset, data, why)
        if log.total:
            console.warn(log.summary())
        run = Run.create("evaluate", out, settings.general.runs_dir, settings)
        run.add_input(model, "model", normalization=normalization.as_dict(), normalization_from=normalized_by)
        scored = data or settings.dataset.test_path
        if scored is not None:
            run.add_dataset(scored, "evaluation data")
        with run, Progress(console=console.err, transient=True) as bar:
            task = bar.add_task(f"evaluating on {len(samples)} people", total=len(samples))
            scores = run_evaluation(runner, samples, settings, run, lambda n: bar.advance(task, n))
    _print(scores, origin, run)


def _feed_as(normalization, settings) -> None:
    """The evaluation pipeline reads the config's ``preprocessing``: set it to what the model takes."""
    settings.preprocessing.rescaling.scale = normalization.scale
    settings.preprocessing.rescaling.offset = normalization.offset
    settings.preprocessing.color_mode = normalization.color_mode


def _print(scores: dict, origin: str, run: Run) -> None:
    overall = [(key, _fmt(scores[key])) for key in ("AP", "AP50", "AP75", "AR", "mean_oks") if key in scores]
    overall += [(key, _fmt(value)) for key, value in scores.items() if key.startswith("pck@")]
    overall += [("mean_error_px", _fmt(scores["mean_error_px"])), ("people", scores["samples"])]
    console.out.print(console.table(f"{origin}", ("metric", "value"), overall))
    rows = [
        (k["name"], k["labelled"], _fmt(k["oks"]), _fmt(k["pck"]), _fmt(k["error_px"])) for k in scores["per_keypoint"]
    ]
    console.out.print(console.table("per keypoint", ("keypoint", "labelled", "OKS", "PCK", "error px"), rows))
    if scores["missed"]:
        console.warn(f"{scores['missed']} images could not be decoded and count as misses")
    console.out.print(f"run directory: {run.path}", soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
