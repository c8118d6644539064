"""Per-layer quantization error, the same way for every source: the float model's and the quantized
model's intermediate tensors, matched by name, compared on the calibration inputs.

- TFLite (a Keras model, a SavedModel or a float ``.tflite`` brought from elsewhere): both ``.tflite``
  files run in LiteRT with every tensor preserved; the converter and the calibrator keep each op's
  output name, so the quantized tensor of a layer is found under its float name and dequantized.
- ONNX: ONNX Runtime's ``qdq_loss_debug`` exposes every activation of both models; QDQ models keep the
  float tensor names.

Each layer gets its SQNR (dB, higher is better), cosine similarity, largest absolute error and the
rms error in quantization steps (``rmse_per_scale``: about 0.29 is what rounding alone costs,
``1/sqrt(12)``). Layers worst first; those under ``SQNR_LIMIT_DB`` are candidates to keep in higher
precision. ``error_added`` is how many dB a layer loses on top of what its inputs brought: the layers
that dominate an output's error are the ancestors of that output with the largest ``error_added``.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

SQNR_LIMIT_DB = 20.0
MAX_SAMPLES = 32  # enough for stable statistics, bounded time


def tensor_metrics(reference: np.ndarray, quantized: np.ndarray, scale: float | None = None) -> dict:
    """SQNR, cosine, max |error| and rmse in quantization steps of one tensor against its float value."""
    want, have = np.asarray(reference, np.float64).ravel(), np.asarray(quantized, np.float64).ravel()
    noise, signal = float(((want - have) ** 2).sum()), float((want**2).sum())
    norms = float(np.linalg.norm(want) * np.linalg.norm(have))
    rmse = math.sqrt(noise / max(want.size, 1))
    return {
        "sqnr_db": _finite(10 * math.log10(signal / noise)) if noise > 0 and signal > 0 else None,
        "cosine": round(float(want @ have / norms), 6) if norms else None,
        "max_abs_error": float(np.abs(want - have).max()) if want.size else 0.0,
        "rmse_per_scale": round(rmse / scale, 4) if scale else None,
    }


def tflite_layer_errors(float_model: Path, quantized_model: Path, inputs: np.ndarray) -> dict:
    """Every op output of the quantized ``.tflite`` against the float one's tensor of the same name."""
    from edgepose.codegen.graph import read_graph

    samples = np.asarray(inputs[:MAX_SAMPLES], np.float32)
    graph = read_graph(quantized_model)
    wanted = {graph.tensors[i].name for op in graph.operators for i in op.outputs if len(graph.tensors[i].scale)}
    reference = _tflite_tensors(Path(float_model), samples, wanted, dequantize=False)
    quantized = _tflite_tensors(Path(quantized_model), samples, wanted, dequantize=True)
    layers = []
    for op in graph.operators:
        for index in op.outputs:
            tensor = graph.tensors[index]
            if tensor.name not in reference or tensor.name not in quantized:
                continue
            if reference[tensor.name].shape != quantized[tensor.name].shape:
                continue
            metrics = tensor_metrics(reference[tensor.name], quantized[tensor.name], float(tensor.scale[0]))
            layers.append({"layer": tensor.name, "op": op.kind, "dtype": tensor.dtype.lower(), **metrics})
    _add_error_added(layers, _tflite_inputs_of(graph))
    return _summary("LiteRT, float and quantized tensors matched by name", layers)


def onnx_layer_errors(float_model: Path, quantized_model: Path, inputs: np.ndarray) -> dict:
    """Every activation the float and quantized ONNX models share, through ``qdq_loss_debug``."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    from edgepose.quantize.onnx_ptq import pre_process, reader

    samples = np.asarray(inputs[:MAX_SAMPLES], np.float32)
    with tempfile.TemporaryDirectory(prefix="edgepose-qdq-debug-") as scratch:
        prepared = Path(scratch) / "float.onnx"
        pre_process(float_model, prepared)  # the same graph the quantizer saw, so tensor names match
        float_aug, quant_aug = Path(scratch) / "float_aug.onnx", Path(scratch) / "quant_aug.onnx"
        modify_model_output_intermediate_tensors(str(prepared), str(float_aug))
        modify_model_output_intermediate_tensors(str(quantized_model), str(quant_aug))
        float_acts = collect_activations(str(float_aug), reader(prepared, samples))
        quant_acts = collect_activations(str(quant_aug), reader(prepared, samples))
        graph = onnx.load(str(prepared)).graph
    matched = create_activation_matching(quant_acts, float_acts)
    kinds = {output: node.op_type for node in graph.node for output in node.output}
    layers = []
    for name, pair in matched.items():
        if "float" not in pair or "post_qdq" not in pair:
            continue
        reference, quantized = np.concatenate(pair["float"]), np.concatenate(pair["post_qdq"])
        layers.append({"layer": name, "op": kinds.get(name, "?"), **tensor_metrics(reference, quantized)})
    feeds = {output: [i for i in node.input if i in kinds] for node in graph.node for output in node.output}
    _add_error_added(layers, feeds)
    return _summary("ONNX Runtime qdq_loss_debug, float and quantized tensors matched by name", layers)


def inputs_of(model: Path) -> dict[str, list[str]]:
    """Tensor name -> the activation tensors its op reads, for a ``.tflite`` or ``.onnx`` model."""
    if Path(model).suffix == ".onnx":
        import onnx

        graph = onnx.load(str(model), load_external_data=False).graph
        made = {output for node in graph.node for output in node.output}
        return {output: [i for i in node.input if i in made] for node in graph.node for output in node.output}
    from edgepose.codegen.graph import read_graph

    return _tflite_inputs_of(read_graph(model))


def ancestors(graph_inputs_of: dict[str, list[str]], output: str) -> set[str]:
    """Every tensor ``output`` is computed from (itself included)."""
    seen, todo = set(), [output]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph_inputs_of.get(name, []))
    return seen


def _tflite_inputs_of(graph) -> dict[str, list[str]]:
    """Tensor name -> the names of the activation tensors its op reads."""
    return {
        graph.tensors[out].name: [graph.tensors[i].name for i in op.inputs if i >= 0 and graph.tensors[i].data is None]
        for op in graph.operators
        for out in op.outputs
    }


def _add_error_added(layers: list[dict], inputs_of: dict[str, list[str]]) -> None:
    """dB a layer loses beyond the worst of its inputs: how much error it adds itself."""
    by_name = {layer["layer"]: layer for layer in layers}
    for layer in layers:
        here = layer["sqnr_db"]
        before = [by_name[i]["sqnr_db"] for i in inputs_of.get(layer["layer"], []) if i in by_name]
        before = [value for value in before if value is not None]
        if here is None:
            layer["error_added_db"] = 0.0
        else:
            layer["error_added_db"] = round(max(0.0, min(before) - here), 3) if before else None


def _summary(tool: str, layers: list[dict]) -> dict:
    """Every layer, worst SQNR first, and those under the limit."""
    layers.sort(key=lambda layer: layer["sqnr_db"] if layer["sqnr_db"] is not None else math.inf)
    flagged = [layer["layer"] for layer in layers if layer["sqnr_db"] is not None and layer["sqnr_db"] < SQNR_LIMIT_DB]
    return {"tool": tool, "metric": "sqnr_db", "threshold": SQNR_LIMIT_DB, "keep_in_float": flagged, "layers": layers}


def _tflite_tensors(path: Path, samples: np.ndarray, names: set[str], dequantize: bool) -> dict[str, np.ndarray]:
    """The tensors of ``path`` called ``names``, over ``samples``, in float (dequantized)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    specs = interpreter.get_input_details()
    if len(specs) != 1:
        raise ValueError(f"{path.name} has {len(specs)} inputs; the per-layer comparison feeds one image")
    spec = specs[0]
    details = [d for d in interpreter.get_tensor_details() if d["name"] in names]
    collected: dict[str, list[np.ndarray]] = {}
    for sample in samples:
        interpreter.set_tensor(spec["index"], _to_input(sample[None], spec))
        interpreter.invoke()
        for detail in details:
            try:
                value = interpreter.get_tensor(detail["index"])
            except ValueError:  # a tensor without data (an unused constant slot)
                continue
            scale, zero_point = detail["quantization"]
            if dequantize and scale:
                value = (value.astype(np.float64) - zero_point) * scale
            elif np.dtype(detail["dtype"]).kind != "f":
                continue
            collected.setdefault(detail["name"], []).append(np.asarray(value, np.float64))
    return {name: np.concatenate([v.reshape(1, -1) for v in values]) for name, values in collected.items()}


def _to_input(values: np.ndarray, spec: dict) -> np.ndarray:
    scale, zero_point = spec["quantization"]
    dtype = np.dtype(spec["dtype"])
    if dtype.kind == "f" or not scale:
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def _finite(value) -> float | None:
    value = float(value)
    return round(value, 3) if math.isfinite(value) else None
