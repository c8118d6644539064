"""Per-layer quantization error: which layers lose the most, and which are worth keeping in higher
precision.

- TFLite: the QuantizationDebugger's layer statistics, plus ``rmse/scale`` (the root-mean-square error in
  units of the layer's quantization step: about 0.29 is the floor that rounding alone gives, ``1/sqrt(12)``).
- ONNX Runtime: ``qdq_loss_debug``'s SQNR per tensor, in dB, between the float model's activations and the
  quantized model's (higher is better).

Layers past a threshold (rmse/scale > 0.7, as TFLite's debugger guide suggests; SQNR < 20 dB) are listed
as the candidates for ``quantization.float_layers`` / ``exclude_nodes``.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np

RMSE_SCALE_LIMIT = 0.7
SQNR_LIMIT_DB = 20.0


def tflite_layer_errors(saved: Path, inputs: np.ndarray, settings, top: int = 20) -> dict:
    """Per-layer statistics from TFLite's QuantizationDebugger, worst first."""
    import tensorflow as tf

    from edgepose.quantize.tflite_ptq import configured_converter, representative

    converter = configured_converter(saved, inputs, settings)
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=representative(inputs))
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    layers = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        scale = float(row["scale"]) if row.get("scale") else 0.0
        mse = float(row["mean_squared_error"])
        layers.append(
            {
                "layer": row["tensor_name"],
                "op": row["op_name"],
                "rmse_per_scale": math.sqrt(mse) / scale if scale else None,
                "mean_squared_error": mse,
                "max_abs_error": float(row["max_abs_error"]),
                "mean_error": float(row["mean_error"]),
                "scale": scale,
            }
        )
    layers.sort(key=lambda layer: -(layer["rmse_per_scale"] or 0.0))
    flagged = [layer["layer"] for layer in layers if (layer["rmse_per_scale"] or 0.0) > RMSE_SCALE_LIMIT]
    return {
        "tool": "tf.lite.experimental.QuantizationDebugger",
        "metric": "rmse_per_scale",
        "threshold": RMSE_SCALE_LIMIT,
        "keep_in_float": flagged,
        "layers": layers[:top],
    }


def onnx_tensor_errors(float_model: Path, quantized_model: Path, inputs: np.ndarray, top: int = 20) -> dict:
    """SQNR (dB) of every activation the float and quantized ONNX models share, worst first."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    from edgepose.quantize.onnx_ptq import pre_process, reader

    with tempfile.TemporaryDirectory(prefix="edgepose-qdq-debug-") as scratch:
        prepared = Path(scratch) / "float.onnx"
        pre_process(float_model, prepared)  # the same graph the quantizer saw, so tensor names match
        float_aug, quant_aug = Path(scratch) / "float_aug.onnx", Path(scratch) / "quant_aug.onnx"
        modify_model_output_intermediate_tensors(str(prepared), str(float_aug))
        modify_model_output_intermediate_tensors(str(quantized_model), str(quant_aug))
        float_acts = collect_activations(str(float_aug), reader(prepared, inputs))
        quant_acts = collect_activations(str(quant_aug), reader(prepared, inputs))
    matched = create_activation_matching(quant_acts, float_acts)
    errors = compute_activation_error(matched)
    layers = [
        {"tensor": name, "sqnr_db": _finite(values.get("xmodel_err"))}
        for name, values in errors.items()
        if values.get("xmodel_err") is not None
    ]
    layers.sort(key=lambda layer: layer["sqnr_db"] if layer["sqnr_db"] is not None else math.inf)
    flagged = [layer["tensor"] for layer in layers if layer["sqnr_db"] is not None and layer["sqnr_db"] < SQNR_LIMIT_DB]
    return {
        "tool": "onnxruntime.quantization.qdq_loss_debug",
        "metric": "sqnr_db",
        "threshold": SQNR_LIMIT_DB,
        "keep_in_float": flagged,
        "layers": layers[:top],
    }


def _finite(value) -> float | None:
    value = float(value)
    return round(value, 3) if math.isfinite(value) else None
