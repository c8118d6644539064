"""``edgepose demo``: the main job, on nothing but this machine."""

from __future__ import annotations

from pathlib import Path

from edgepose import console
from edgepose.cli.common import CONFIG_OPTION, OUT_OPTION, OVERRIDES_ARGUMENT
from edgepose.demo import run_demo


def demo(
    out: Path | None = OUT_OPTION,
    config: Path | None = CONFIG_OPTION,
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
) -> None:
    """Run edgepose end to end on the built-in synthetic data, with no data, GPU or network needed."""
    result = run_demo(out=out, config_path=config, overrides=overrides or [])
    for step in result.steps:
        console.out.print(f"[green]done[/] {step.name}: {step.summary}", soft_wrap=True)
    console.out.print(f"run directory: {result.run.path}", soft_wrap=True)
    console.out.print(f"summary: {result.run.path / 'summary.html'}", soft_wrap=True)
