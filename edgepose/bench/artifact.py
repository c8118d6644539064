"""What a benchmarked file is: its format, its numeric kind (float32, fp16, dynamic, int8, int16x8), and a
reference run of it on this machine for the on-device output check.

The reference reuses the agent's own runtime wrappers, so the host computes exactly what the agent would
compute here: the same raw tensors in, the same raw bytes out.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from edgepose.agent import load_model
from edgepose.convert.modelfile import model_kind
from edgepose.errors import ModelError

INTEGER_TYPES = {"int8", "uint8", "int16"}


def artifact_format(path: Path) -> str:
    """``tflite`` or ``onnx``, once the file is known to load: a truncated file is refused here, in one
    line, rather than by the device after the upload."""
    kind = model_kind(path)
    if kind not in ("tflite", "onnx"):
        raise ModelError(f"{path}: a {kind or 'unknown'} file cannot be benchmarked; export a .tflite or .onnx first")
    try:
        if kind == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            Interpreter(model_path=str(path))
        else:
            import onnx

            onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - each runtime has its own exceptions for a bad file
        reason = " ".join(str(exc).split())[:160]
        raise ModelError(f"{path}: not a readable .{kind} file ({reason}); export it again") from None
    return kind


def model_section(path: Path) -> dict:
    """The report's ``model``: path, name, sha256, size, format and numeric kind of the artifact measured."""
    from edgepose.hashing import sha256_path

    path = Path(path)
    return {
        "path": str(path), "name": path.name, "sha256": sha256_path(path), "bytes": path.stat().st_size,
        "format": artifact_format(path), "kind": numeric_kind(path),
    }  # fmt: skip


def numeric_kind(path: Path) -> str:
    """float32, fp16, dynamic (int8 weights, float activations), int8 or int16x8, from the tensors' types."""
    return _tflite_kind(path) if artifact_format(path) == "tflite" else _onnx_kind(path)


def _tflite_kind(path: Path) -> str:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    types = Counter(np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details())
    # A fully quantized model has float tensors at most at its edges (float I/O); a dynamic-range model
    # quantizes only its weights and keeps every activation in float.
    edges = len(interpreter.get_input_details()) + len(interpreter.get_output_details())
    if types["int8"] and types["int16"]:
        return "int16x8"
    if types["int8"]:
        return "int8" if types["float32"] <= edges else "dynamic"
    return "fp16" if types["float16"] else "float32"


def _onnx_kind(path: Path) -> str:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops = {node.op_type for node in model.graph.node}
    if ops & {"QuantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}:
        return "int8" if ops & {"QuantizeLinear", "QLinearConv"} else "dynamic"
    types = {init.data_type for init in model.graph.initializer}
    return "fp16" if onnx.TensorProto.FLOAT16 in types else "float32"


def random_inputs(specs: list[dict], seed: int) -> list[bytes]:
    """One deterministic input per tensor, in the tensor's own dtype: the full integer range for quantized
    inputs, [-1, 1] for float ones (where normalized pixels live)."""
    rng = np.random.default_rng(seed)
    inputs = []
    for spec in specs:
        dtype, shape = np.dtype(spec["dtype"]), spec["shape"]
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            array = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        else:
            array = rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
        inputs.append(array.tobytes())
    return inputs


def reference_outputs(path: Path, runtime: str | None, inputs: list[bytes]) -> list[bytes]:
    """The outputs of ``path`` for these raw inputs, computed on this machine with one thread.
    ``tflite-micro`` runs TFLite's reference kernels: the reference generated MCU code must match."""
    if runtime == "tflite-micro":
        return _tflite_micro_outputs(path, inputs)
    try:
        model = load_model(str(path), runtime, threads=1)
    except (ImportError, ValueError, RuntimeError) as error:
        raise ModelError(f"{path}: cannot run the host reference ({error})") from None
    for index, data in enumerate(inputs):
        model.set_input(index, data)
    model.invoke()
    return [model.output(i) for i in range(len(model.outputs))]


def _tflite_micro_outputs(path: Path, inputs: list[bytes]) -> list[bytes]:
    from edgepose.runtime.tflite_io import tflite_io
    from edgepose.runtime.tflm_runner import micro_interpreter

    data = Path(path).read_bytes()
    specs, outputs = tflite_io(data, path)
    interpreter = micro_interpreter(data)
    for index, (spec, raw) in enumerate(zip(specs, inputs, strict=True)):
        interpreter.set_input(np.frombuffer(raw, spec.dtype).reshape(spec.shape), index)
    interpreter.invoke()
    return [interpreter.get_output(i).tobytes() for i in range(len(outputs))]


def _dequantize(values: np.ndarray, spec: dict) -> np.ndarray:
    scale = spec.get("scale") or 0.0
    real = values.astype(np.float64)
    return (real - (spec.get("zero_point") or 0)) * scale if scale else real


def compare_outputs(device: list[bytes], reference: list[bytes], specs: list[dict], tolerance: float | None) -> dict:
    """Device outputs against the host reference: max abs difference (in dequantized units where the output
    is quantized), cosine similarity, share of identical values; passed when within ``tolerance`` (default:
    identical for integer outputs, 1e-4 for float ones)."""
    per_output, passed = [], True
    for got, want, spec in zip(device, reference, specs, strict=True):
        dtype = np.dtype(spec["dtype"])
        a, b = np.frombuffer(got, dtype), np.frombuffer(want, dtype)
        if a.shape != b.shape:
            per_output.append({"name": spec["name"], "error": f"{a.size} values read back, {b.size} expected"})
            passed = False
            continue
        real_a, real_b = _dequantize(a, spec), _dequantize(b, spec)
        limit = tolerance if tolerance is not None else (0.0 if dtype.name in INTEGER_TYPES else 1e-4)
        max_abs = float(np.max(np.abs(real_a - real_b))) if a.size else 0.0
        norms = np.linalg.norm(real_a) * np.linalg.norm(real_b)
        cosine = float(real_a @ real_b / norms) if norms else float(np.array_equal(real_a, real_b))
        ok = max_abs <= limit
        passed &= ok
        per_output.append({
            "name": spec["name"], "dtype": dtype.name, "max_abs_diff": max_abs, "cosine": cosine,
            "identical": float(np.mean(a == b)) if a.size else 1.0, "tolerance": limit, "passed": ok,
        })  # fmt: skip
    return {"passed": passed, "outputs": per_output}
