"""``edgepose config show|import|schema``: the config a run would use, a model zoo config made an edgepose
one, and the schema for editors."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgepose.cli.common import CONFIG_OPTION, OVERRIDES_ARGUMENT, resolve_config
from edgepose.config import Config, dump_config, load_config

app = typer.Typer(help="Experiment configs: resolve, check and describe them.", no_args_is_help=True)


@app.command("show")
def show(config: Path | None = CONFIG_OPTION, overrides: list[str] | None = OVERRIDES_ARGUMENT) -> None:
    """Validate a config, apply overrides, and print the resolved YAML (every key, paths absolute).

    Without --config it prints the defaults: a starting point for your own file.
    """
    print(dump_config(resolve_config(config, overrides)), end="")


@app.command("import")
def import_zoo(
    zoo: Path = typer.Argument(
        ..., help="An STM32 model zoo pose estimation config (user_config.yaml).", dir_okay=False
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="The edgepose config to write (default: <name>.edgepose.yaml beside it).",
        dir_okay=False,
    ),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Write the edgepose config equivalent to a model zoo config, with a comment on each key it changed or dropped."""
    from edgepose import console
    from edgepose.atomic import write_text
    from edgepose.config.zoo import import_zoo as translate
    from edgepose.config.zoo import render
    from edgepose.errors import ConfigError, EdgeposeError
    from edgepose.yamlio import load_yaml

    out = out or zoo.with_name(f"{zoo.stem}.edgepose.yaml")
    if out.exists() and not force:
        raise ConfigError(f"{out}: exists; give another --out or --force to replace it")
    imported = translate(load_yaml(zoo).data, zoo.parent, out.parent)
    write_text(out, render(imported, zoo))
    rows = [(".".join(key), note) for key, note in imported.notes.items()]
    rows += [(key, f"dropped: {why}") for key, why in imported.dropped]
    if rows:
        console.out.print(console.table(f"{zoo.name} → {out.name}", ("edgepose key", "from the zoo"), rows))
    try:
        load_config(out)
    except EdgeposeError as error:  # e.g. a dataset path that is a placeholder in the zoo's example
        console.warn(f"{out} does not load yet: {error}")
    console.out.print(f"wrote {out}", soft_wrap=True)


@app.command("schema")
def schema() -> None:
    """Print the config's JSON Schema (for YAML editors' completion and validation)."""
    print(json.dumps(Config.model_json_schema(), indent=2))
