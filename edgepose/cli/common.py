"""Options shared by verbs: the config file and its ``KEY=VALUE`` overrides, ``--out``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose.config import Config, load_config

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="Experiment config YAML (defaults apply without one).", dir_okay=False
)
OVERRIDES_ARGUMENT = typer.Argument(
    None,
    metavar="[KEY=VALUE]...",
    help="Override config keys by dotted path, e.g. training.epochs=3.",
    show_default=False,
)
OUT_OPTION = typer.Option(
    None, "--out", "-o", help="Run directory to create (default: runs/<verb>-<timestamp>).", file_okay=False
)


def resolve_config(config: Path | None, overrides: list[str] | None) -> Config:
    return load_config(config, overrides or [])
