"""``edgepose export``: a model in one format → SavedModel, TFLite (float32, float16 weights, dynamic range)
or ONNX.

Every TensorFlow path goes through a SavedModel written from an explicit serving signature with
``training=False`` and a batch of one: Keras 3's ``model.export`` and the converter's ``from_keras_model``
trace layers in ways that can leave BatchNormalization in training mode or variables unresolved, and a
fixed batch is what edge runtimes want. ONNX comes from tf2onnx (``from_function`` over that signature, or
``from_tflite`` for a ``.tflite``), followed by the folding stage unless it is switched off.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgepose import atomic
from edgepose.convert.modelfile import load_keras, model_kind
from edgepose.errors import ModelError, UnsupportedOpError

FORMATS = ("savedmodel", "tflite", "tflite-fp16", "tflite-dynamic", "onnx")
# What each format can be made from; tflite → tflite variants would need the graph the .tflite came from.
_SOURCES = {
    "savedmodel": ("keras", "h5", "savedmodel"),
    "tflite": ("keras", "h5", "savedmodel"),
    "tflite-fp16": ("keras", "h5", "savedmodel"),
    "tflite-dynamic": ("keras", "h5", "savedmodel"),
    "onnx": ("keras", "h5", "savedmodel", "tflite", "onnx"),
}
_SUFFIX = {
    "savedmodel": "_savedmodel",
    "tflite": "_float32.tflite",
    "tflite-fp16": "_fp16.tflite",
    "tflite-dynamic": "_dynamic.tflite",
    "onnx": ".onnx",
}
DEFAULT_OPSET = 17


@dataclass
class Exported:
    path: Path
    format: str
    notes: list[str] = field(default_factory=list)
    fold: dict | None = None


def artifact_name(source: Path, fmt: str) -> str:
    stem = Path(source).name.split(".")[0] or "model"
    return stem + _SUFFIX[fmt]


def export_model(
    source: Path, fmt: str, out_dir: Path, opset: int = DEFAULT_OPSET, fold: bool = True, nchw: bool = False
) -> Exported:
    """Write ``source`` as ``fmt`` into ``out_dir``; returns where it went."""
    if fmt not in FORMATS:
        raise ModelError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    kind = model_kind(source)
    if kind not in _SOURCES[fmt]:
        raise ModelError(
            f"{source}: a {kind} model cannot be exported as {fmt}; {fmt} is made from "
            f"{', '.join(_SOURCES[fmt])} (export from the model the .{kind} came from)"
        )
    if nchw and fmt != "onnx":
        raise ModelError("--nchw applies to ONNX only; TFLite models are always NHWC")
    target = Path(out_dir) / artifact_name(source, fmt)
    with tempfile.TemporaryDirectory(prefix="edgepose-export-") as scratch:
        if fmt == "onnx":
            return _export_onnx(source, kind, target, opset, fold, nchw, Path(scratch))
        saved = source if kind == "savedmodel" else saved_model_from_keras(load_keras(source), Path(scratch) / "sm")
        if fmt == "savedmodel":
            with atomic.atomic_directory(target) as folder:
                _copy_tree(saved, folder)
            return Exported(target, fmt)
        atomic.write_bytes(target, tflite_from_saved_model(saved, fmt))
        return Exported(target, fmt)


def saved_model_from_keras(model, path: Path, batch: int = 1) -> Path:
    """A SavedModel whose ``serving_default`` runs ``model(..., training=False)`` at a fixed batch, its
    outputs named after the model's outputs (``heatmaps`` for the zoo)."""
    import keras
    import tensorflow as tf

    specs = [tf.TensorSpec((batch, *t.shape[1:]), t.dtype, name=_tensor_name(t)) for t in model.inputs]
    names = list(model.output_names)

    def serve(*inputs):
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        return dict(zip(names, outputs, strict=True))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=specs)
    archive.write_out(str(path), verbose=False)
    return Path(path)


def tflite_converter(saved: Path):
    """TFLite's converter over a SavedModel; callers set optimizations and quantization on it."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.experimental_enable_resource_variables = False
    return converter


def tflite_from_saved_model(saved: Path, fmt: str) -> bytes:
    import tensorflow as tf

    converter = tflite_converter(saved)
    if fmt in ("tflite-fp16", "tflite-dynamic"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "tflite-fp16":
        converter.target_spec.supported_types = [tf.float16]
    return convert(converter, saved)


def convert(converter, source: Path) -> bytes:
    """Run the converter, turning its multi-page failures into one line that names the op."""
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError...
        message = " ".join(str(exc).split())
        ops = _failing_ops(message)
        if ops:
            raise UnsupportedOpError(f"{source}: the TFLite converter cannot handle op(s) {', '.join(ops)}") from None
        raise ModelError(f"{source}: TFLite conversion failed: {message[:300]}") from None


def _export_onnx(source: Path, kind: str, target: Path, opset: int, fold: bool, nchw: bool, scratch: Path) -> Exported:
    import onnx

    from edgepose.convert.fold import fold_onnx
    from edgepose.convert.modelfile import load_onnx

    if kind == "onnx":
        model = load_onnx(source)
    elif kind == "tflite":
        model = _tf2onnx(lambda tf2onnx: tf2onnx.convert.from_tflite(str(source), opset=opset), source)
    else:
        saved = source if kind == "savedmodel" else saved_model_from_keras(load_keras(source), scratch / "sm")
        model = _onnx_from_saved_model(saved, opset)
    raw = scratch / "raw.onnx"
    onnx.save(model, str(raw))
    if not fold and not nchw:
        atomic.write_bytes(target, raw.read_bytes())
        return Exported(target, "onnx")
    report = fold_onnx(raw, target, nchw=nchw, constant_folding=fold)
    return Exported(target, "onnx", fold=report)


def _onnx_from_saved_model(saved: Path, opset: int):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved))  # held until conversion ends: the signature needs its variables
    signature = loaded.signatures["serving_default"]
    _, specs = signature.structured_input_signature
    ordered = [tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec in specs.items()]
    names = list(specs)

    @tf.function(input_signature=ordered)
    def serve(*inputs):
        return signature(**dict(zip(names, inputs, strict=True)))

    model = _tf2onnx(lambda tf2onnx: tf2onnx.convert.from_function(serve, input_signature=ordered, opset=opset), saved)
    del loaded
    return model


def _tf2onnx(call, source: Path):
    import tf2onnx

    try:
        model, _ = call(tf2onnx)
    except Exception as exc:  # tf2onnx raises bare Exceptions and ValueErrors for unsupported ops
        message = " ".join(str(exc).split())
        raise UnsupportedOpError(f"{source}: tf2onnx could not convert the model: {message[:300]}") from None
    return model


def _failing_ops(message: str) -> list[str]:
    import re

    found = re.findall(r"'(?:tf|tfl)\.(\w+)' op", message) + re.findall(r"op '(\w+)'", message)
    return sorted(set(found))


def _tensor_name(tensor) -> str:
    return tensor.name.split(":")[0].split("/")[0]


def _copy_tree(source: Path, destination: Path) -> None:
    import shutil

    shutil.copytree(source, destination, dirs_exist_ok=True)
