"""Float16 weights back to float32 in a ``.tflite``: the DEQUANTIZE ops that unpack them are dropped and
their outputs become float32 constants.

TFLite's calibrator crashes the whole process (a segmentation fault, not an exception) on models whose
float16 weights sit behind DEQUANTIZE ops, so a float16 model is turned back into the float32 model it
stands for before it is calibrated. Every float16 value is exactly representable in float32: nothing moves.
"""

from __future__ import annotations

import numpy as np

FLOAT16 = 1  # schema.TensorType.FLOAT16
FLOAT32 = 0


def has_fp16_weights(data: bytes) -> bool:
    from edgepose.convert.inspect import read_tflite, tflite_op_names

    model = read_tflite(data)
    names = tflite_op_names(model)
    graph = model.subgraphs[0]
    return any(names[op.opcodeIndex] == "DEQUANTIZE" and _fp16_constant(model, graph, op) for op in graph.operators)


def fp16_to_fp32(data: bytes) -> bytes:
    """The same model with every float16 constant behind a DEQUANTIZE stored as float32."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    from edgepose.convert.inspect import read_tflite, tflite_op_names

    model = read_tflite(data)
    names = tflite_op_names(model)
    graph = model.subgraphs[0]
    kept = []
    for op in graph.operators:
        if names[op.opcodeIndex] != "DEQUANTIZE" or not _fp16_constant(model, graph, op):
            kept.append(op)
            continue
        source = graph.tensors[op.inputs[0]]
        values = np.frombuffer(bytes(model.buffers[source.buffer].data), np.float16).astype(np.float32)
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(values.tobytes(), np.uint8)
        model.buffers.append(buffer)
        target = graph.tensors[op.outputs[0]]
        target.buffer = len(model.buffers) - 1
        target.type = FLOAT32
    graph.operators = kept
    _drop_unused_opcodes(model)
    builder = flatbuffers.Builder(len(data) * 2 + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _fp16_constant(model, graph, op) -> bool:
    source = graph.tensors[op.inputs[0]]
    buffer = model.buffers[source.buffer] if source.buffer < len(model.buffers) else None
    return source.type == FLOAT16 and buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _drop_unused_opcodes(model) -> None:
    """Opcode entries no operator uses any more (the float16 DEQUANTIZE): interpreters register every
    listed opcode, and some of them have no kernel for this version of it."""
    used = sorted({op.opcodeIndex for graph in model.subgraphs for op in graph.operators})
    remap = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = remap[op.opcodeIndex]
