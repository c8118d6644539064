"""Lookup tables for int8 elementwise ops whose reference arithmetic is long fixed-point math
(LOGISTIC, TANH, HARD_SWISH): an int8 op has only 256 possible inputs, so the table is taken from the
reference kernels themselves by running a one-op model through the TFLite Micro interpreter with the
op's own quantization parameters. The generated code is then exact by construction, and one table
load per element is also the fastest way to run these ops on a microcontroller.
"""

from __future__ import annotations

import numpy as np

from edgepose.codegen.graph import Operator, Tensor


def reference_table(op: Operator, inp: Tensor, out: Tensor) -> list[int]:
    from edgepose.runtime.tflm_runner import micro_interpreter

    interpreter = micro_interpreter(_one_op_model(op.kind, inp, out))
    interpreter.set_input(np.arange(-128, 128, dtype=np.int8).reshape(1, 256), 0)
    interpreter.invoke()
    return [int(v) for v in interpreter.get_output(0).reshape(-1)]


def _one_op_model(kind: str, inp: Tensor, out: Tensor) -> bytes:
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    def tensor(name: str, source: Tensor) -> schema.TensorT:
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 256], schema.TensorType.INT8, 0, name
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale = [float(source.scale[0])]
        t.quantization.zeroPoint = [int(source.zero_point[0])]
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = getattr(schema.BuiltinOperator, kind)
    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, [0], [1]
    graph = schema.SubGraphT()
    graph.tensors = [tensor("input", inp), tensor("output", out)]
    graph.inputs, graph.outputs, graph.operators = [0], [1], [operator]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
