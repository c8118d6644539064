"""What an artifact is: parameters, MACs, op histogram, file size, and input/output specs with their
quantization parameters — read from the file itself, the same way for TFLite and ONNX.

TFLite files are read with the flatbuffer schema module TensorFlow ships
(``tensorflow.lite.python.schema_py_generated``); ONNX files with ``onnx`` and its shape inference.
MACs count the convolutions and fully-connected layers (the same rule as ``edgepose.models.profile``):

- CONV_2D / Conv: ``output elements * k_h * k_w * c_in / groups``
- DEPTHWISE_CONV_2D: ``output elements * k_h * k_w``
- FULLY_CONNECTED / Gemm / MatMul: ``output elements * inputs``
- TRANSPOSE_CONV / ConvTranspose: ``input elements * k_h * k_w * c_out``
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from edgepose.convert.modelfile import model_kind
from edgepose.hashing import sha256_path


def describe(path: Path) -> dict:
    """The artifact report of one model file (``.tflite``, ``.onnx``, ``.keras``/``.h5``)."""
    path = Path(path)
    kind = model_kind(path)
    if kind == "tflite":
        body = describe_tflite(path.read_bytes(), path)
    elif kind == "onnx":
        body = describe_onnx(path)
    elif kind in ("keras", "h5"):
        body = _describe_keras(path)
    else:
        body = {}
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return {"file": path.name, "kind": kind, "bytes": size, "sha256": sha256_path(path), **body}


# ---------------------------------------------------------------------------------------------- TFLite


def read_tflite(data: bytes, source: str | Path = "the model"):
    """The flatbuffer as TensorFlow's object API (``ModelT``); a truncated or foreign file is a ModelError
    naming ``source`` (the flatbuffer library raises whatever it meets on garbage)."""
    from tensorflow.lite.python import schema_py_generated as schema

    from edgepose.errors import ModelError

    try:
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ValueError("no TFL3 identifier")
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
        if not model.subgraphs:
            raise ValueError("no subgraph")
        return model
    except Exception as exc:  # noqa: BLE001 - struct.error, IndexError, UnicodeDecodeError... on garbage
        raise ModelError(f"{source}: not a readable .tflite file ({exc}); export it again") from None


def tflite_op_names(model) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema

    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    result = []
    for code in model.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        result.append(code.customCode.decode() if code.customCode else names.get(builtin, str(builtin)))
    return result


def describe_tflite(data: bytes, source: str | Path = "the model") -> dict:
    from tensorflow.lite.python import schema_py_generated as schema

    model = read_tflite(data, source)
    graph = model.subgraphs[0]
    op_names = tflite_op_names(model)
    dtype_names = {value: key.lower() for key, value in vars(schema.TensorType).items() if not key.startswith("_")}
    tensors = graph.tensors
    ops, macs = Counter(), 0
    for op in graph.operators:
        name = op_names[op.opcodeIndex]
        ops[name] += 1
        macs += _tflite_macs(name, op, tensors)
    read = {i for op in graph.operators for i in op.inputs if i >= 0}
    constant = {i for i in read if _has_data(model, tensors[i])}  # live weights only: what an op reads
    params = sum(int(np.prod(tensors[i].shape)) for i in constant if tensors[i].shape is not None)

    def spec(index: int) -> dict:
        tensor = tensors[index]
        quant = tensor.quantization
        scales = list(quant.scale) if quant is not None and quant.scale is not None else []
        return {
            "name": tensor.name.decode(),
            "shape": [int(d) for d in tensor.shape],
            "dtype": dtype_names.get(tensor.type, str(tensor.type)),
            "scale": [float(s) for s in scales] if len(scales) > 1 else (float(scales[0]) if scales else None),
            "zero_point": int(quant.zeroPoint[0]) if scales and quant.zeroPoint is not None else None,
        }

    return {
        "params": params,
        "macs": int(macs),
        "ops": dict(sorted(ops.items())),
        "inputs": [spec(i) for i in graph.inputs],
        "outputs": [spec(i) for i in graph.outputs],
    }


def _has_data(model, tensor) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and ((buffer.data is not None and len(buffer.data) > 0) or bool(buffer.size))


def _tflite_macs(name: str, op, tensors) -> int:
    shape = lambda i: [int(d) for d in tensors[i].shape] if i >= 0 else []  # noqa: E731
    if name == "CONV_2D":
        _, kh, kw, cin = shape(op.inputs[1])
        return int(np.prod(shape(op.outputs[0]))) * kh * kw * cin
    if name == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = shape(op.inputs[1])
        return int(np.prod(shape(op.outputs[0]))) * kh * kw
    if name == "FULLY_CONNECTED":
        return int(np.prod(shape(op.outputs[0]))) * shape(op.inputs[1])[-1]
    if name == "TRANSPOSE_CONV":
        cout, kh, kw, _ = shape(op.inputs[1])
        return int(np.prod(shape(op.inputs[2]))) * kh * kw * cout
    return 0


# ---------------------------------------------------------------------------------------------- ONNX


def describe_onnx(path: Path) -> dict:
    import onnx
    from onnx import numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = {v.name: _dims(v) for v in [*graph.input, *graph.output, *graph.value_info]}
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    shapes.update({name: list(array.shape) for name, array in weights.items()})
    # QDQ models hold int8 weights behind DequantizeLinear: follow it to the weight's shape.
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in weights:
            shapes[node.output[0]] = list(weights[node.input[0]].shape)
    ops = Counter(node.op_type for node in graph.node)
    macs = sum(_onnx_macs(node, shapes) for node in graph.node)
    params = sum(int(a.size) for name, a in weights.items() if a.ndim >= 1 and a.size > 1)
    quant = _onnx_io_quantization(graph, weights)
    initial = set(weights)

    def spec(value) -> dict:
        return {
            "name": value.name,
            "shape": shapes.get(value.name),
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name,
            **quant.get(value.name, {"scale": None, "zero_point": None}),
        }

    return {
        "params": params,
        "macs": int(macs),
        "ops": dict(sorted(ops.items())),
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
        "inputs": [spec(v) for v in graph.input if v.name not in initial],
        "outputs": [spec(v) for v in graph.output],
    }


def _dims(value) -> list:
    return [d.dim_value if d.dim_value > 0 else (d.dim_param or None) for d in value.type.tensor_type.shape.dim]


def _onnx_macs(node, shapes: dict) -> int:
    out = shapes.get(node.output[0]) if node.output else None
    if not out or any(not isinstance(d, int) for d in out):
        return 0
    elements = int(np.prod(out))
    weight = shapes.get(node.input[1]) if len(node.input) > 1 else None
    if node.op_type == "Conv" and weight:
        return elements * int(np.prod(weight[1:]))  # (c_out, c_in / groups, k_h, k_w)
    if node.op_type in ("Gemm", "MatMul") and weight:
        return elements * int(weight[0])
    if node.op_type == "ConvTranspose" and weight:
        source = shapes.get(node.input[0])
        return int(np.prod(source)) * int(np.prod(weight[1:])) if source else 0
    return 0


def _onnx_io_quantization(graph, weights: dict) -> dict:
    """Scale and zero point of graph inputs/outputs that sit next to a Quantize/DequantizeLinear."""
    found = {}
    io = {v.name for v in [*graph.input, *graph.output]}
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for name in (node.input[0], node.output[0]):
            if name in io and node.input[1] in weights:
                scale = weights[node.input[1]]
                zero = weights.get(node.input[2]) if len(node.input) > 2 else None
                found[name] = {
                    "scale": float(scale) if scale.size == 1 else scale.tolist(),
                    "zero_point": int(zero) if zero is not None and zero.size == 1 else None,
                }
    return found


# ---------------------------------------------------------------------------------------------- Keras


def _describe_keras(path: Path) -> dict:
    from edgepose.convert.modelfile import load_keras
    from edgepose.models.profile import count_macs, count_params

    model = load_keras(path)
    ops = Counter(type(layer).__name__ for layer in model.layers)

    def spec(tensor) -> dict:
        return {
            "name": tensor.name,
            "shape": [1, *tensor.shape[1:]],
            "dtype": str(tensor.dtype),
            "scale": None,
            "zero_point": None,
        }

    return {
        "params": count_params(model),
        "macs": count_macs(model),
        "ops": dict(sorted(ops.items())),
        "inputs": [spec(t) for t in model.inputs],
        "outputs": [spec(t) for t in model.outputs],
    }
