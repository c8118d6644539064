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


SCALE_OPTION = typer.Option(
    None, "--scale", help="Input rescaling Out = scale*In + offset on 0-255 pixels, e.g. 1/127.5 (model zoo style)."
)
OFFSET_OPTION = typer.Option(None, "--offset", help="Offset of the input rescaling, e.g. -1.")
COLOR_OPTION = typer.Option(None, "--color", help="Colour order the model takes: rgb, bgr or gray.")


def normalization_overrides(scale: str | None, offset: str | None, color: str | None) -> list[str]:
    """The normalization flags as config overrides, so they are parsed and checked like the YAML."""
    flags = [f"preprocessing.rescaling.scale={scale}"] if scale is not None else []
    flags += [f"preprocessing.rescaling.offset={offset}"] if offset is not None else []
    flags += [f"preprocessing.color_mode={color}"] if color is not None else []
    return flags


def model_normalization(model: Path, settings: Config, scale=None, offset=None, color=None):
    """``(normalization, where it came from)``: flags first, then the sidecar beside the model, then its
    training run's config, then the config's ``preprocessing`` — an assumption, said on the terminal."""
    from edgepose import console
    from edgepose.convert.metadata import Normalization, assumption_note, resolve_normalization

    given = Normalization.from_config(settings)
    normalization, source = resolve_normalization(
        model,
        settings,
        scale=given.scale if scale is not None else None,
        offset=given.offset if offset is not None else None,
        color=given.color if color is not None else None,
    )
    if source == "assumed":
        console.warn(assumption_note(model, normalization))
    return normalization, source
