"""Full-integer post-training quantization with TFLite: the converter's representative dataset.

From a Keras model or SavedModel the MLIR converter quantizes (per-channel weights by default, per-tensor
on request); chosen layers can stay in float through the QuantizationDebugger's deny-list, and the whole
model can use 16-bit activations with 8-bit weights (16x8), which TFLite supports only for a whole model.
A float ``.tflite`` the user brings has no graph left to convert, so it goes through TFLite's calibrator
directly (per-channel only: the calibrator cannot requantize depthwise weights per tensor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose.convert.tflite_prune import prune_unused
from edgepose.errors import ModelError, UnsupportedOpError

IO_TYPES = ("int8", "uint8", "int16", "float32")
_FLOAT32 = 0  # schema.TensorType.FLOAT32


@dataclass
class TfliteSettings:
    granularity: str = "per-channel"
    input_type: str = "int8"
    output_type: str = "int8"
    activations: str = "int8"  # or int16: 16x8 for the whole model
    float_layers: list[str] = field(default_factory=list)


def representative(inputs: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    def generate():
        for sample in inputs:
            yield [sample[None].astype(np.float32)]

    return generate


def quantize_saved_model(saved: Path, inputs: np.ndarray, settings: TfliteSettings, source: Path) -> bytes:
    """An int8 (or 16x8) ``.tflite`` from a SavedModel and calibration inputs ``(N, H, W, C)``."""
    import tensorflow as tf

    from edgepose.convert.export import convert

    converter = configured_converter(saved, inputs, settings)
    if not settings.float_layers:
        return prune_unused(require_integer(convert(converter, source), source))
    debugger_options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(settings.float_layers))
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative(inputs), debug_options=debugger_options
        )
        return prune_unused(debugger.get_nondebug_quantized_model())
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{source}: could not keep {settings.float_layers} in float: {_line(exc)}") from None


def configured_converter(saved: Path, inputs: np.ndarray, settings: TfliteSettings):
    import tensorflow as tf

    from edgepose.convert.export import tflite_converter

    converter = tflite_converter(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(inputs)
    if settings.activations == "int16":
        ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    else:
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if settings.float_layers:
        ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)  # the layers kept in float need the float kernels
    converter.target_spec.supported_ops = ops
    converter.inference_input_type = _tf_type(settings.input_type)
    converter.inference_output_type = _tf_type(settings.output_type)
    if settings.granularity == "per-tensor":
        converter._experimental_disable_per_channel = True  # the converter's only switch for it
    return converter


def quantize_tflite_file(path: Path, inputs: np.ndarray, settings: TfliteSettings) -> bytes:
    """An int8 ``.tflite`` from a float ``.tflite`` (float32, or float16 weights behind DEQUANTIZE)."""
    import tensorflow as tf
    from tensorflow.lite.python.optimize import calibrator

    if settings.float_layers:
        raise ModelError(f"{path}: keeping layers in float needs the Keras model or SavedModel, not a .tflite")
    if settings.granularity == "per-tensor":
        raise ModelError(
            f"{path}: per-tensor quantization of a .tflite is not possible with TFLite's calibrator; "
            "give the Keras model or SavedModel, or use --backend onnx"
        )
    from edgepose.convert.tflite_fp16 import fp16_to_fp32, has_fp16_weights

    data = path.read_bytes()
    if has_fp16_weights(data):
        data = fp16_to_fp32(data)  # the float16 originals stay behind as dead tensors: pruned below
    try:
        quantizer = calibrator.Calibrator(data)
        quantized = quantizer.calibrate_and_quantize(
            representative(inputs),
            _tf_type(settings.input_type),
            _tf_type(settings.output_type),
            False,
            activations_type=tf.int16 if settings.activations == "int16" else tf.int8,
        )
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{path}: TFLite's calibrator could not quantize the model: {_line(exc)}") from None
    return prune_unused(require_integer(quantized, path))


def float_ops(data: bytes) -> list[str]:
    """Ops of a converted model that still compute in float (besides the QUANTIZE/DEQUANTIZE at its edges)."""
    from edgepose.convert.inspect import read_tflite, tflite_op_names

    model = read_tflite(data)
    names = tflite_op_names(model)
    graph = model.subgraphs[0]
    found = set()
    for op in graph.operators:
        name = names[op.opcodeIndex]
        if name in ("QUANTIZE", "DEQUANTIZE"):
            continue
        tensors = [graph.tensors[i] for i in [*op.inputs, *op.outputs] if i >= 0]
        if any(t.type == _FLOAT32 and not _constant(model, t) for t in tensors):
            found.add(name)
    return sorted(found)


def require_integer(data: bytes, source: Path) -> bytes:
    """The converter silently leaves ops it cannot quantize in float, even when asked for integers only;
    an MCU build has no float kernels, so that is an error naming the ops."""
    left = float_ops(data)
    if left:
        raise UnsupportedOpError(
            f"{source}: int8 quantization left op(s) {', '.join(left)} in float; remove them from the model, "
            "or list their layers in quantization.float_layers to accept a mixed model"
        )
    return data


def _constant(model, tensor) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _tf_type(name: str):
    import tensorflow as tf

    if name not in IO_TYPES:
        raise ModelError(f"input/output type '{name}' is not one of {', '.join(IO_TYPES)}")
    return {"int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16, "float32": tf.float32}[name]


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
