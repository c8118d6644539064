"""``edgepose pipeline CONFIG.yaml``: train → export → quantize → evaluate → benchmark → compare, or the steps
of the config's ``operation_mode``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose import console
from edgepose.cli.common import OVERRIDES_ARGUMENT


def pipeline(
    config: Path = typer.Argument(..., help="Experiment config YAML.", dir_okay=False),
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="Comma-separated steps, e.g. quantize,evaluate,benchmark (default: the config's operation_mode, "
        "else train to compare). Steps: train, export, quantize, evaluate, predict, benchmark, compare, deploy.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Skip steps whose inputs are unchanged (needs --out)."),
    model: Path | None = typer.Option(
        None, "--model", help="A model to start from when no step trains (default: general.model_path)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run directory (default runs/pipeline-<time>).", file_okay=False
    ),
) -> None:
    """Chain the services on one config, as the STM32 model zoo's chain modes do."""
    from edgepose import native_log
    from edgepose.atomic import write_text
    from edgepose.config import dump_config, load_config
    from edgepose.data.sources import settle_dataset
    from edgepose.errors import ConfigError, EdgeposeError
    from edgepose.pipeline import failures, given_artifacts, parse_steps, run_pipeline, steps_for_mode
    from edgepose.runs import _fresh_dir

    settings = load_config(config, overrides or [])
    brought = model or settings.general.model_path
    given = given_artifacts(brought) if brought else {}
    mode = settings.operation_mode
    chosen = parse_steps(steps) if steps or not mode else steps_for_mode(mode, given)
    if "train" in chosen:
        given = {}  # training makes the model; general.model_path is what it fine-tunes
    if mode and not steps:
        console.err.print(f"operation_mode {mode}: {', '.join(chosen)}")
    if resume and out is None:
        raise ConfigError("--resume continues a run directory: give it with --out")
    root = out or _fresh_dir(settings.general.runs_dir, "pipeline")
    if out is not None and out.exists() and any(out.iterdir()) and not resume:
        raise ConfigError(f"{out}: not empty; use --resume to continue it, or choose another --out")
    settle_dataset(settings.dataset)  # the keypoint count and format the data has, recorded in config.yaml
    root.mkdir(parents=True, exist_ok=True)
    native_log.attach(root)
    write_text(root / "config.yaml", dump_config(settings))
    with console.chain_progress(chosen) as on_step:
        outcomes = run_pipeline(settings, root, chosen, resume, given, on_step)
    rows = [(o.name, o.status, f"{o.seconds:.1f}", o.summary) for o in outcomes]
    console.out.print(console.table("pipeline", ("step", "status", "s", "result"), rows))
    for failure in failures(root):
        console.warn(f"target {failure['target']} failed: {failure['reason']}")
    console.out.print(f"run directory: {root}", soft_wrap=True)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise EdgeposeError(f"step {failed[0].name} failed: {failed[0].summary} (log: {root / 'pipeline.log'})")
