"""Transfer learning: weights brought from another file, matched by layer name, and frozen layers.

``model.pretrained_weights`` reads the weights of a ``.keras`` archive, a Keras 3 ``.weights.h5`` file or a
legacy (tf.keras) ``.h5`` file straight from HDF5, without rebuilding the model that saved them, so the
weights of a backbone trained elsewhere load into a different model as long as layer names and shapes
agree. Every layer is either loaded or skipped with its reason, and the report says which.

``training.frozen_layers`` uses the STM32 model zoo's notation over ``model.layers`` (the input layer is
index 0): ``(0:154)`` freezes layers 0-153, ``(0:-1)`` all but the last, and ``(0:-7, -5)`` mixes slices
and single indices.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose.errors import ConfigError, ModelError

# ---------------------------------------------------------------------------------------------- reading weights


@dataclass
class WeightsFile:
    """Layer weights of a file, keyed by layer name (``.keras``, legacy ``.h5``) or, for a ``.weights.h5``
    file, which stores no names, by the path Keras gives each layer (``conv2d_3``: the fourth Conv2D)."""

    layers: dict[str, list[np.ndarray]]
    named: bool


def read_weights_file(path: Path) -> WeightsFile:
    import h5py

    path = Path(path)
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                data = archive.read("model.weights.h5")
            with h5py.File(io.BytesIO(data), "r") as h5:
                return WeightsFile(dict(_named_layers(h5, config)), named=True)
        with h5py.File(path, "r") as h5:
            if "layer_names" in h5.attrs or "model_weights" in h5:
                return WeightsFile(dict(_legacy_layers(h5.get("model_weights", h5))), True)
            return WeightsFile(dict(_path_layers(h5)), named=False)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"{path}: not a Keras weights file ({type(exc).__name__}: {exc}); give a .keras, .weights.h5 or .h5 file"
        ) from None


def _snake_case(name: str) -> str:
    """Keras' own naming of saved layers: ``BatchNormalization`` → ``batch_normalization``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _saved_paths(class_names: list[str]) -> list[str]:
    """The group each layer's variables are saved under: its class in snake case, numbered from the 2nd."""
    used: dict[str, int] = {}
    paths = []
    for class_name in class_names:
        base = _snake_case(class_name)
        used[base] = used.get(base, -1) + 1
        paths.append(base if used[base] == 0 else f"{base}_{used[base]}")
    return paths


def _variables(group) -> list[np.ndarray]:
    variables = group.get("vars")
    return [np.asarray(variables[str(i)]) for i in range(len(variables))] if variables is not None else []


def _named_layers(group, model_config: dict) -> Iterator[tuple[str, list[np.ndarray]]]:
    """A ``.keras`` archive: its config.json lists the layers in the order their groups were numbered."""
    layers = model_config.get("config", {}).get("layers", [])
    for layer, saved in zip(layers, _saved_paths([entry["class_name"] for entry in layers]), strict=True):
        child = group.get(f"layers/{saved}")
        if child is None:
            continue
        if layer.get("config", {}).get("layers"):  # a nested model, e.g. a backbone
            yield from _named_layers(child, layer)
        elif arrays := _variables(child):
            yield layer["config"]["name"], arrays


def _path_layers(group, prefix: str = "") -> Iterator[tuple[str, list[np.ndarray]]]:
    import h5py

    for key, child in group.get("layers", {}).items():
        if not isinstance(child, h5py.Group):
            continue
        if "layers" in child:
            yield from _path_layers(child, f"{prefix}{key}/")
        elif arrays := _variables(child):
            yield prefix + key, arrays


def _legacy_layers(group) -> Iterator[tuple[str, list[np.ndarray]]]:
    """tf.keras HDF5: ``layer_names`` on the group, ``weight_names`` on each layer's group."""
    for raw in group.attrs.get("layer_names", []):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        layer = group[name]
        names = [w.decode() if isinstance(w, bytes) else str(w) for w in layer.attrs.get("weight_names", [])]
        if names:
            yield name, [np.asarray(layer[w]) for w in names]


def _model_keys(model, named: bool, prefix: str = "") -> Iterator[tuple[str, object]]:
    """``(key, leaf layer)`` for every layer of ``model``, keyed as a weights file of that kind keys them."""
    paths = _saved_paths([type(layer).__name__ for layer in model.layers])
    for layer, saved in zip(model.layers, paths, strict=True):
        if hasattr(layer, "layers") and layer.layers:
            yield from _model_keys(layer, named, f"{prefix}{saved}/")
        else:
            yield (layer.name if named else prefix + saved), layer


# ---------------------------------------------------------------------------------------------- loading by name


@dataclass
class LoadReport:
    source: str
    by: str
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # model layer -> why it kept its own weights
    unused: list[str] = field(default_factory=list)  # file layers no model layer took
    parameters: int = 0

    def summary(self) -> str:
        text = f"pretrained weights {self.source}: {len(self.loaded)} layers loaded ({self.parameters:,} parameters)"
        if self.skipped:
            text += f", {len(self.skipped)} kept their own"
            shown = list(self.skipped.items())[:3]
            text += " (" + "; ".join(f"{name}: {why}" for name, why in shown)
            text += ", ...)" if len(self.skipped) > 3 else ")"
        if self.unused:
            text += f", {len(self.unused)} in the file unused"
        return text

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "matched_by": self.by,
            "loaded": self.loaded,
            "skipped": self.skipped,
            "unused": self.unused,
            "parameters": self.parameters,
        }


def load_by_name(model, path: Path) -> LoadReport:
    """Copy every layer of ``path`` whose name and weight shapes match a layer of ``model``."""
    weights = read_weights_file(path)
    found = weights.layers
    report = LoadReport(str(path), by="layer name" if weights.named else "layer type and order (no names in the file)")
    taken = set()
    for key, layer in _model_keys(model, weights.named):
        own = layer.get_weights()
        if not own:
            continue
        arrays = found.get(key)
        if arrays is None:
            report.skipped[layer.name] = "not in the file"
            continue
        shapes, given = [w.shape for w in own], [a.shape for a in arrays]
        if shapes != given:
            report.skipped[layer.name] = f"shape {_shapes(given)} in the file, {_shapes(shapes)} in the model"
            continue
        layer.set_weights(arrays)
        taken.add(key)
        report.loaded.append(layer.name)
        report.parameters += sum(int(a.size) for a in arrays)
    report.unused = [name for name in found if name not in taken]
    if not report.loaded:
        example = ", ".join(list(found)[:3]) or "none"
        raise ModelError(
            f"{path}: no layer of '{model.name}' matches a layer of the file by {report.by} and shape "
            f"({len(found)} layers in the file, e.g. {example}); is it weights for another model?"
        )
    return report


def _shapes(shapes) -> str:
    return "/".join("x".join(map(str, s)) for s in shapes)


# ---------------------------------------------------------------------------------------------- freezing

_ITEM = re.compile(r"^\s*(-?\d+)?\s*(:)?\s*(-?\d+)?\s*$")


def parse_frozen(spec: str) -> list[int | slice]:
    """The items of ``spec`` (``(0:154)``, ``(0:-7, -5)``) as indices and slices, before any model is known."""
    text = spec.strip()
    if text.startswith(("(", "[")) and text.endswith((")", "]")):
        text = text[1:-1]
    items: list[int | slice] = []
    for item in filter(str.strip, text.split(",")):
        match = _ITEM.match(item)
        if match is None or (match.group(2) is None and (match.group(1) is None or match.group(3) is not None)):
            raise ConfigError(
                f"training.frozen_layers: '{item.strip()}' is not an index or a slice; write e.g. (0:154), (0:-1) "
                "or (0:-7, -5)"
            )
        start, colon, stop = match.groups()
        items.append(slice(_int(start), _int(stop)) if colon else int(start))
    return items


def frozen_indices(spec: str, count: int) -> list[int]:
    """Indices of ``model.layers`` that ``spec`` names, for a model of ``count`` layers."""
    chosen: set[int] = set()
    for item in parse_frozen(spec):
        if isinstance(item, slice):
            chosen.update(range(count)[item])
            continue
        if not -count <= item < count:
            raise ConfigError(f"training.frozen_layers: index {item} is outside the model's {count} layers")
        chosen.add(item % count)
    return sorted(chosen)


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def freeze(model, spec: str) -> tuple[int, int]:
    """Make the layers ``spec`` names non-trainable; ``(frozen layers, trainable parameters left)``.

    A frozen BatchNormalization runs in inference mode in Keras 3, so its moving statistics stay too.
    """
    layers = model.layers
    indices = frozen_indices(spec, len(layers))
    for index in indices:
        layers[index].trainable = False
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    if trainable == 0:
        raise ConfigError(
            f"training.frozen_layers '{spec}' freezes every layer with weights ({len(layers)} layers): nothing "
            "would train; leave the last layers out, e.g. (0:-1)"
        )
    return len(indices), trainable
