"""The sidecar JSON beside every artifact: how to feed it, where it came from, what it holds.

``model_int8.tflite`` gets ``model_int8.tflite.json``. The input normalization is recorded as the STM32
model zoo writes it (``rescaling: Out = scale * In + offset``, applied to 0-255 pixels), with the colour
order and the input layout, so that a later step — evaluation, a calibration-set check, the C code
generator, a board agent — feeds the artifact exactly what it was trained on without asking the user again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgepose import __version__, atomic
from edgepose.errors import ModelError
from edgepose.hashing import sha256_path

SCHEMA = "edgepose.artifact/1"
COLORS = ("rgb", "bgr", "gray")
LAYOUTS = ("NHWC", "NCHW")


@dataclass(frozen=True)
class Normalization:
    """Pixels 0-255 → model input: ``scale * pixel + offset``, in ``color`` order, laid out as ``layout``."""

    scale: float = 1 / 127.5
    offset: float = -1.0
    color: str = "rgb"
    layout: str = "NHWC"

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise ModelError(f"color '{self.color}' is not one of {', '.join(COLORS)}")
        if self.layout not in LAYOUTS:
            raise ModelError(f"layout '{self.layout}' is not one of {', '.join(LAYOUTS)}")
        if self.scale == 0:
            raise ModelError("normalization scale 0 would erase the image; the model zoo's default is 1/127.5")

    @classmethod
    def from_config(cls, config) -> Normalization:
        pre = config.preprocessing
        color = "gray" if pre.color_mode == "grayscale" else pre.color_mode
        return cls(scale=pre.rescaling.scale, offset=pre.rescaling.offset, color=color)

    def with_flags(self, **flags: Any) -> Normalization:
        """This normalization with the flags that were given (``None`` means not given)."""
        return replace(self, **{key: value for key, value in flags.items() if value is not None})

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @property
    def color_mode(self) -> str:
        """The colour as ``preprocessing.color_mode`` (and the input pipeline) spells it."""
        return "grayscale" if self.color == "gray" else self.color


def sidecar_path(artifact: Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: Path) -> dict | None:
    """The sidecar of ``artifact``, or None when there is none."""
    path = sidecar_path(artifact)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable artifact metadata ({exc}); delete it or export again") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ModelError(f"{path}: not edgepose artifact metadata (expected schema {SCHEMA})")
    return data


def sidecar_normalization(artifact: Path) -> Normalization | None:
    data = read_sidecar(artifact)
    if data is None or "normalization" not in data:
        return None
    try:
        return Normalization(**data["normalization"])
    except TypeError as exc:
        raise ModelError(f"{sidecar_path(artifact)}: normalization: {exc}") from None


def resolve_normalization(model: Path, config, **flags: Any) -> tuple[Normalization, str]:
    """The normalization to feed ``model`` and where it came from: flags first, then the sidecar beside
    the model, then the config of the training run the model sits in, and last the given config's
    ``preprocessing`` section, which for a model brought from elsewhere is an assumption."""
    given = {key: value for key, value in flags.items() if value is not None}
    sidecar = sidecar_normalization(model)
    if sidecar is not None:
        return sidecar.with_flags(**given), "flags" if given else f"sidecar {sidecar_path(model).name}"
    trained = _training_run_normalization(Path(model))
    if trained is not None:
        return trained[0].with_flags(**given), "flags" if given else f"training run config {trained[1]}"
    base = Normalization.from_config(config).with_flags(**given)
    if len(given) == 3:
        return base, "flags"
    return base, "assumed"


def _training_run_normalization(model: Path) -> tuple[Normalization, Path] | None:
    """A model written by ``edgepose train`` sits in its run folder, beside the config it was trained with."""
    config_file, manifest = model.parent / "config.yaml", model.parent / "manifest.json"
    try:
        if json.loads(manifest.read_text()).get("verb") != "train":
            return None
        from edgepose.config import load_config

        return Normalization.from_config(load_config(config_file, [])), config_file
    except (OSError, ValueError, AttributeError):
        return None
    except Exception:  # noqa: BLE001 - an unreadable old config: fall back to the other sources
        return None


def assumption_note(model: Path, normalization: Normalization) -> str:
    """What is said when a brought model's normalization is assumed."""
    return (
        f"{Path(model).name} has no sidecar ({sidecar_path(model).name}): assuming its input is "
        f"scale {normalization.scale:g} * pixel + offset {normalization.offset:g}, {normalization.color} "
        "(preprocessing.rescaling / color_mode); give --scale, --offset and --color if it was trained otherwise"
    )


def write_sidecar(
    artifact: Path, artifact_format: str, normalization: Normalization, source: Path | None, **extra: Any
) -> Path:
    """Write ``artifact``'s sidecar (atomically), with the sha256 of the artifact and of its source."""
    artifact = Path(artifact)
    data = {
        "schema": SCHEMA,
        "artifact": artifact.name,
        "format": artifact_format,
        "sha256": sha256_path(artifact),
        "normalization": normalization.as_dict(),
        "source": {"path": str(source), "sha256": sha256_path(source)} if source else None,
        "edgepose_version": __version__,
        **extra,
    }
    return atomic.write_json(sidecar_path(artifact), data)
