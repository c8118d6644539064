"""A ``.tflite`` flatbuffer as a small graph IR: tensors with shape, type, quantization and constant data;
operators with their builtin name and options, in execution order.

Read with the schema bindings TensorFlow ships (``schema_py_generated``), so the IR sees exactly what the
TFLite interpreters see. Only the first subgraph is read: the code generator runs one graph.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_NUMPY_TYPES = {
    "FLOAT32": np.float32,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # schema spelling: "INT8", "FLOAT32", ...
    scale: np.ndarray  # float32, empty when not quantized
    zero_point: np.ndarray  # int64
    quantized_dimension: int
    data: np.ndarray | None  # constant tensors only

    @functools.cached_property
    def size(self) -> int:  # cached: the memory planner asks for it millions of times
        return math.prod(self.shape) if self.shape else 1

    @functools.cached_property
    def nbytes(self) -> int:
        return self.size * np.dtype(_NUMPY_TYPES.get(self.dtype, np.int8)).itemsize

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Operator:
    index: int
    kind: str  # builtin name, e.g. "CONV_2D"; a custom op's own name
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    source: str = ""

    def tensor(self, index: int) -> Tensor | None:
        return self.tensors[index] if index >= 0 else None

    def consumers(self, index: int) -> list[Operator]:
        return [op for op in self.operators if index in op.inputs]


def read_graph(path: Path) -> Graph:
    """The IR of a ``.tflite`` file; a file that is not one is a ModelError naming it."""
    from tensorflow.lite.python import schema_py_generated as schema

    from edgepose.convert.inspect import read_tflite

    path = Path(path)
    model = read_tflite(path.read_bytes(), path)
    subgraph = model.subgraphs[0]
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    tensors = [_tensor(i, t, model, type_names) for i, t in enumerate(subgraph.tensors)]
    operators = []
    for i, op in enumerate(subgraph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        kind = code.customCode.decode() if code.customCode else op_names.get(builtin, f"BUILTIN_{builtin}")
        operators.append(
            Operator(i, kind, [int(x) for x in op.inputs], [int(x) for x in op.outputs], _options(op.builtinOptions))
        )
    return Graph(tensors, operators, [int(i) for i in subgraph.inputs], [int(i) for i in subgraph.outputs], str(path))


def _tensor(index: int, t, model, type_names) -> Tensor:
    dtype = type_names.get(t.type, str(t.type))
    shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
    q = t.quantization
    scale = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
    zero_point = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64)
    data = None
    buffer = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
    if buffer is not None and buffer.data is not None and len(buffer.data) and dtype in _NUMPY_TYPES:
        raw = np.asarray(buffer.data, np.uint8).tobytes()
        data = np.frombuffer(raw, _NUMPY_TYPES[dtype]).reshape(shape).copy()
    return Tensor(
        index=index,
        name=t.name.decode() if t.name else f"tensor_{index}",
        shape=shape,
        dtype=dtype,
        scale=scale,
        zero_point=zero_point,
        quantized_dimension=int(q.quantizedDimension) if q is not None else 0,
        data=data,
    )


def _options(options) -> dict:
    """Builtin options as a plain dict of their fields (``strideW``, ``padding``, ...)."""
    if options is None:
        return {}
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(options).items()}
