"""``edgepose config import``: an STM32 model zoo pose estimation config as the equivalent edgepose config.

Most keys keep their name and section (``dataset``, ``preprocessing``, ``data_augmentation``, most of
``training`` and ``general``); the rest are renamed (``training.model`` becomes ``model``, ``mlflow.uri``
``general.mlflow_uri``, ``benchmarking.board`` a ``targets`` entry...) or dropped because edgepose does that
job itself (``tools``, ``hydra``'s time-stamped folders, ``quantization.export_dir``). ``RENAMES`` is the
table docs/config.md shows; every key that is changed or dropped gets a comment in the written file.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgepose.config.types import is_uri
from edgepose.errors import ConfigError

Key = tuple[str, ...]

# zoo key -> edgepose key: the keys that change name; every other zoo key that edgepose has keeps its name
RENAMES: dict[str, str] = {
    "general.num_threads_tflite": "general.num_threads",
    "training.model.name": "model.name",
    "training.model.alpha": "model.width",
    "training.model.input_shape": "model.input_size",
    "training.model.pretrained_weights": "model.pretrained_weights",
    "training.dropout": "model.dropout",
    "training.resume_training_from": "training.resume_from",
    "quantization.quantizer": "quantization.backend",
    "quantization.quantization_input_type": "quantization.input_type",
    "quantization.quantization_output_type": "quantization.output_type",
    "postprocessing.kpts_conf_thresh": "prediction.confidence_threshold",
    "benchmarking.board": "targets",
    "deployment.hardware_setup.board": "targets",
    "mlflow.uri": "general.mlflow_uri",
    "hydra.run.dir": "general.runs_dir",
}

# zoo keys edgepose has no use for, and why
DROPPED: dict[str, str] = {
    "general.logs_dir": "edgepose writes logs and TensorBoard files into each run directory",
    "general.saved_models_dir": "edgepose writes models into each run directory",
    "general.model_type": "edgepose models are single-person heatmap models (the zoo's heatmaps_spe)",
    "general.display_figures": "edgepose writes figures to files",
    "dataset.class_names": "pose data has one class, person",
    "quantization.quantization_type": "edgepose quantizes after training (PTQ)",
    "quantization.optimize": "edgepose folds BatchNormalization and simplifies the graph at export itself",
    "quantization.target_opset": "the ONNX opset is chosen at export (edgepose export --opset)",
    "quantization.export_dir": "quantized models go into the run directory",
    "quantization.extra_options": "use quantization.float_layers / exclude_nodes",
    "postprocessing": "edgepose decodes single-person heatmaps: no detection thresholds or NMS",
    "tools": "edgepose generates C and builds firmware itself: no STEdgeAI or STM32CubeIDE",
    "deployment": "edgepose builds its own firmware project (edgepose compile; targets.flash to flash it)",
    "benchmarking": "the board becomes a targets entry",
    "hydra": "run directories are named <verb>-<time> under general.runs_dir",
    "mlflow": "see general.mlflow_uri",
}

# keys whose value is copied whole, with the same name
_SAME = (
    "general.project_name",
    "general.model_path",
    "general.deterministic_ops",
    "general.gpu_memory_limit",
    "general.global_seed",
    "operation_mode",
    "dataset.name",
    "dataset.keypoints",
    "dataset.training_path",
    "dataset.validation_path",
    "dataset.validation_split",
    "dataset.test_path",
    "dataset.quantization_path",
    "dataset.quantization_split",
    "dataset.seed",
    "preprocessing.rescaling.scale",
    "preprocessing.rescaling.offset",
    "preprocessing.resizing.aspect_ratio",
    "training.batch_size",
    "training.epochs",
    "training.frozen_layers",
    "training.optimizer",
    "quantization.granularity",
    "prediction.test_files_path",
)
_PATHS = {"general.model_path", "dataset.training_path", "dataset.validation_path", "dataset.test_path"}
_PATHS |= {"dataset.quantization_path", "prediction.test_files_path", "training.model.pretrained_weights"}
_PATHS |= {"training.resume_training_from", "mlflow.uri", "hydra.run.dir"}
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area")
_ALWAYS_ON_CALLBACKS = ("ModelCheckpoint", "TensorBoard", "CSVLogger")


@dataclass
class Imported:
    config: dict[str, Any] = field(default_factory=dict)
    notes: dict[Key, str] = field(default_factory=dict)  # edgepose key -> what changed
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (zoo key, why)


def import_zoo(zoo: dict[str, Any], zoo_dir: Path, out_dir: Path) -> Imported:
    """Translate the zoo config ``zoo`` (read from ``zoo_dir``) for a file to be written in ``out_dir``."""
    if not isinstance(zoo, dict):
        raise ConfigError("expected a model zoo config: a mapping of sections (general:, operation_mode:, ...)")
    left = copy.deepcopy(zoo)
    out = Imported()
    rebase = _Rebase(zoo_dir, out_dir)
    for key in _SAME:
        found, value = _pop(left, key)
        if found:
            _put(out, key, rebase(key, value))
    _preprocessing(left, out)
    _augmentation(left, out)
    _model(left, out, rebase)
    _training(left, out, rebase)
    _quantization(left, out)
    _elsewhere(left, out, rebase)
    for key, why in DROPPED.items():
        found, value = _pop(left, key)
        if found and value not in (None, {}, []):
            out.dropped += [(leaf, why) for leaf in _leaves(value, key)]
    for key in _leaves(left):
        out.dropped.append((key, "not an edgepose setting"))
    return out


# ---------------------------------------------------------------------------------------------- sections


def _preprocessing(left: dict, out: Imported) -> None:
    found, interpolation = _pop(left, "preprocessing.resizing.interpolation")
    if found:
        if interpolation in _INTERPOLATIONS:
            _put(out, "preprocessing.resizing.interpolation", interpolation)
        else:
            _put(
                out,
                "preprocessing.resizing.interpolation",
                "bilinear",
                f"was {interpolation}: edgepose has bilinear, nearest, bicubic, area",
            )
    found, color = _pop(left, "preprocessing.color_mode")
    if found:
        if color == "rgba":
            _put(out, "preprocessing.color_mode", "rgb", "was rgba: the camera's alpha channel carries no pose")
        else:
            _put(out, "preprocessing.color_mode", color)


def _augmentation(left: dict, out: Imported) -> None:
    from edgepose.config.schema import DataAugmentation

    found, section = _pop(left, "data_augmentation")
    if not found or not section:
        return
    known = DataAugmentation.model_fields
    kept = {name: params for name, params in section.items() if name in known}
    for name in section:
        if name not in known:
            out.dropped.append((f"data_augmentation.{name}", f"edgepose augments with {', '.join(known)}"))
    out.config["data_augmentation"] = kept


def _model(left: dict, out: Imported, rebase: _Rebase) -> None:
    from edgepose.models import model_names

    found, name = _pop(left, "training.model.name")
    if found:
        mapped = _model_name(str(name), model_names())
        if mapped is None:
            out.dropped.append(
                ("training.model.name", f"no edgepose model like '{name}': choose one of {', '.join(model_names())}")
            )
        else:
            _put(out, "model.name", mapped, "training.model.name" + (f" {name}" if mapped != name else ""))
    for zoo_key in ("training.model.alpha", "training.model.input_shape", "training.dropout"):
        found, value = _pop(left, zoo_key)
        if found and value is not None:
            _put(out, RENAMES[zoo_key], value, zoo_key)
    found, weights = _pop(left, "training.model.pretrained_weights")
    if found and weights is not None:
        if str(weights).lower() in ("imagenet", "none", "null"):
            out.dropped.append(("training.model.pretrained_weights", f"{weights}: give a .keras/.h5 file to load"))
        else:
            key = "training.model.pretrained_weights"
            _put(out, "model.pretrained_weights", rebase(key, weights), key)
    found, rest = _pop(left, "training.model")
    if found and rest:
        out.dropped += [(key, "not an edgepose model setting") for key in _leaves(rest, "training.model")]


def _model_name(name: str, known: list[str]) -> str | None:
    if name in known:
        return name
    lowered = name.lower()
    if "movenet" in lowered:
        return "movenet_like"
    if "mobilenetv2" in lowered or "mobilenet_v2" in lowered:
        return "mobilenetv2_heatmaps"
    return None


def _training(left: dict, out: Imported, rebase: _Rebase) -> None:
    found, callbacks = _pop(left, "training.callbacks")
    if found and callbacks:
        kept = {}
        for name, arguments in callbacks.items():
            if name in _ALWAYS_ON_CALLBACKS:
                out.dropped.append((f"training.callbacks.{name}", "edgepose always checkpoints and logs"))
            elif name.startswith("LR") and name[2:3].isupper():
                out.dropped.append((
                    f"training.callbacks.{name}",
                    "a model zoo scheduler; use a keras.optimizers.schedules class as the optimizer's "
                    "learning_rate, e.g. {CosineDecay: {initial_learning_rate: 0.01}}",
                ))  # fmt: skip
            else:
                kept[name] = arguments
        out.config.setdefault("training", {})["callbacks"] = kept
    found, resume = _pop(left, "training.resume_training_from")
    if found and resume:
        key = "training.resume_training_from"
        folder = str(Path(str(resume)).parent) if str(resume).endswith(".h5") else resume
        _put(out, "training.resume_from", rebase(key, folder), f"{key}: the run directory to continue")


def _quantization(left: dict, out: Imported) -> None:
    found, quantizer = _pop(left, "quantization.quantizer")
    if found and quantizer:
        backends = {"tflite_converter": "tflite", "onnx_quantizer": "onnx"}
        backend = backends.get(str(quantizer).lower())
        if backend is None:
            out.dropped.append(("quantization.quantizer", f"{quantizer}: edgepose quantizes with tflite or onnx"))
        else:
            _put(out, "quantization.backend", backend, f"quantization.quantizer {quantizer}")
    for zoo_key in ("quantization.quantization_input_type", "quantization.quantization_output_type"):
        found, kind = _pop(left, zoo_key)
        if found and kind:
            value = "float32" if kind == "float" else kind
            _put(out, RENAMES[zoo_key], value, zoo_key + (f" {kind}" if value != kind else ""))


def _elsewhere(left: dict, out: Imported, rebase: _Rebase) -> None:
    """Keys that move to another section: threads, MLflow, run folders, the confidence threshold, boards."""
    found, threads = _pop(left, "general.num_threads_tflite")
    if found and threads is not None:
        _put(out, "general.num_threads", threads, "general.num_threads_tflite")
    found, threshold = _pop(left, "postprocessing.kpts_conf_thresh")
    if found and threshold is not None:
        _put(out, "prediction.confidence_threshold", threshold, "postprocessing.kpts_conf_thresh")
    found, uri = _pop(left, "mlflow.uri")
    if found and uri:
        _put(out, "general.mlflow_uri", rebase("mlflow.uri", uri), "mlflow.uri")
    found, runs = _pop(left, "hydra.run.dir")
    if found and runs:
        folder = re.split(r"/?\$\{", str(runs))[0] or "."
        _put(out, "general.runs_dir", rebase("hydra.run.dir", folder), f"hydra.run.dir {runs}")
    boards = []
    for zoo_key in ("benchmarking.board", "deployment.hardware_setup.board"):
        found, board = _pop(left, zoo_key)
        if found and board:
            name = _board(str(board))
            if name is None:
                out.dropped.append((zoo_key, f"{board}: no edgepose board of that name (edgepose targets list)"))
            elif name not in boards:
                boards.append(name)
    if boards:
        _put(out, "targets", boards, "benchmarking.board / deployment.hardware_setup.board")


def _board(name: str) -> str | None:
    from edgepose.boards import find_board
    from edgepose.errors import BoardError

    try:
        return find_board(name.lower()).name
    except BoardError:
        return None


# ---------------------------------------------------------------------------------------------- paths


class _Rebase:
    """Relative paths in the zoo file are relative to its folder; in the written file, to its own."""

    def __init__(self, zoo_dir: Path, out_dir: Path) -> None:
        self.zoo_dir, self.out_dir = Path(zoo_dir).resolve(), Path(out_dir).resolve()

    def __call__(self, zoo_key: str, value: Any) -> Any:
        """``value`` of ``zoo_key`` for the written file; URIs, placeholders (``<...>``) and non-paths as they are."""
        if zoo_key not in _PATHS or not isinstance(value, str) or not value or is_uri(value) or "<" in value:
            return value
        path = Path(value).expanduser()
        if path.is_absolute() or self.zoo_dir == self.out_dir:
            return value
        return os.path.relpath(self.zoo_dir / path, self.out_dir)


# ---------------------------------------------------------------------------------------------- dict helpers


def _pop(data: dict, dotted: str) -> tuple[bool, Any]:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return False, None
    if not isinstance(node, dict) or last not in node:
        return False, None
    value = node.pop(last)
    _prune(data, parents)
    return True, value


def _prune(data: dict, parents: list[str]) -> None:
    """Remove sections the pops left empty, so that what remains is what nothing took."""
    for depth in range(len(parents), 0, -1):
        node = data
        for part in parents[: depth - 1]:
            node = node[part]
        if node.get(parents[depth - 1]) in ({}, None):
            node.pop(parents[depth - 1], None)


def _put(out: Imported, dotted: str, value: Any, note: str | None = None) -> None:
    *parents, last = dotted.split(".")
    node = out.config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    if note:
        out.notes[tuple(dotted.split("."))] = note


def _leaves(data: Any, prefix: str = "") -> list[str]:
    if not isinstance(data, dict) or not data:
        return [prefix] if prefix else []
    keys = []
    for key, value in data.items():
        keys += _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    return keys


# ---------------------------------------------------------------------------------------------- writing

_ORDER = (
    "operation_mode", "general", "dataset", "preprocessing", "data_augmentation", "model", "training",
    "quantization", "evaluation", "prediction", "targets", "benchmark",
)  # fmt: skip
_WHOLE = {("training", "optimizer"), ("training", "callbacks"), ("data_augmentation",)}


def render(imported: Imported, source: Path) -> str:
    """The edgepose config as YAML, with a comment on every renamed or changed key and a list of the
    zoo keys that were dropped, and why."""
    lines = [f"# edgepose config imported from {source.name} (edgepose config import); renamed keys are marked."]
    if imported.dropped:
        lines.append(f"# dropped from {source.name}:")
        lines += [f"#   {key}: {why}" for key, why in imported.dropped]
    ordered = {key: imported.config[key] for key in _ORDER if key in imported.config}
    lines += _emit(ordered, (), imported.notes, 0)
    return "\n".join(lines) + "\n"


def _emit(node: dict, path: Key, notes: dict[Key, str], depth: int) -> list[str]:
    lines = []
    pad = "  " * depth
    for key, value in node.items():
        here = (*path, key)
        note = f"  # {notes[here]}" if here in notes else ""
        if isinstance(value, dict) and value and here not in _WHOLE and path not in _WHOLE:
            lines.append(f"{pad}{key}:{note}")
            lines += _emit(value, here, notes, depth + 1)
        elif isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:{note}")
            body = yaml.safe_dump(value, sort_keys=False, default_flow_style=None, width=1000)
            lines += [f"{pad}  {line}" for line in body.splitlines()]
        else:
            lines.append(f"{pad}{key}: {_flow(value)}{note}")
    if depth == 0:
        lines = [line for section in _blank_between(lines) for line in section]
    return lines


def _blank_between(lines: list[str]):
    for line in lines:
        yield ([""] if not line.startswith((" ", "#")) else []) + [line]


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()
