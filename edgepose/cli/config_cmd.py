"""``edgepose config show|schema``: see the config a run would use, and its schema for editors."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgepose.cli.common import CONFIG_OPTION, OVERRIDES_ARGUMENT, resolve_config
from edgepose.config import Config, dump_config

app = typer.Typer(help="Experiment configs: resolve, check and describe them.", no_args_is_help=True)


@app.command("show")
def show(config: Path | None = CONFIG_OPTION, overrides: list[str] | None = OVERRIDES_ARGUMENT) -> None:
    """Validate a config, apply overrides, and print the resolved YAML (every key, paths absolute).

    Without --config it prints the defaults: a starting point for your own file.
    """
    print(dump_config(resolve_config(config, overrides)), end="")


@app.command("schema")
def schema() -> None:
    """Print the config's JSON Schema (for YAML editors' completion and validation)."""
    print(json.dumps(Config.model_json_schema(), indent=2))
