"""Lookup tables for elementwise ops whose reference arithmetic is long fixed-point math, taken from
the reference kernels themselves by running one-op models through the TFLite Micro interpreter, so
that the generated code is exact by construction.

- int8 LOGISTIC, TANH, HARD_SWISH: an int8 op has only 256 possible inputs: the whole op is a table,
  for the op's own quantization parameters (one load per element is also the fastest way to run it).
- int16 LOGISTIC: 65536 inputs are too many to tabulate; TFLite interpolates a 256-entry sigmoid table
  on the rescaled input. That table is recovered from the interpreter's outputs (see
  ``sigmoid_table_int16``) rather than written out here.
"""

from __future__ import annotations

import functools

import numpy as np

from edgepose.codegen.graph import Operator, Tensor


def reference_table(op: Operator, inp: Tensor, out: Tensor) -> list[int]:
    from edgepose.runtime.tflm_runner import micro_interpreter

    quantization = [(float(t.scale[0]), int(t.zero_point[0])) for t in (inp, out)]
    interpreter = micro_interpreter(_one_op_model(op.kind, *quantization))
    interpreter.set_input(np.arange(-128, 128, dtype=np.int8).reshape(1, 256), 0)
    interpreter.invoke()
    return [int(v) for v in interpreter.get_output(0).reshape(-1)]


# Input scales for the probes of the int16 sigmoid table: between them, their rescaled inputs take every
# value 0..130559 (a test holds them to it), so every step of the table is seen at every fraction.
PROBE_SCALES = (
    8.138517296174541e-05, 0.00032369294785894454, 0.00032272934913635254, 0.00032554069184698164,
    0.0003198385238647461, 0.000324656575685367, 0.00031598409987054765, 0.000333249568939209,
    0.0003428856434766203, 0.00031791129731573164, 0.00032939514494501054, 0.0003140568733215332,
    0.00033132234239019454, 0.0003409584460314363, 0.0003208021225873381, 0.0003274679183959961,
    0.00031212964677251875, 0.0003371039929334074, 0.00035059452056884766, 0.00037179389619268477,
    0.00034481287002563477, 0.00031020244932733476, 0.0003660122456494719, 0.00028611221932806075,
    0.000360230595106259, 0.00042575597763061523, 0.0003525217471178621, 0.00022733211517333984,
    0.0003737211227416992, 0.000464300304884091, 0.0005124807357788086, 0.0003073116240557283,
    0.00048357248306274414,
)  # fmt: skip
TABLE_INPUTS = 255 * 512  # rescaled inputs that read the table; from there on the kernel saturates


def probe_inputs(scale: float):
    """The rescaled input ``v`` of each probe input 0..32767 at ``scale``, as the kernel computes it."""
    import numpy as np

    from edgepose.codegen import fixedpoint as fp

    x = np.arange(0, 32768, dtype=np.int64)
    multiplier, shift = fp.logistic_int16_rescale(float(np.float32(scale)))
    return (x * multiplier + (1 << (shift - 1) if shift else 0)) >> shift


@functools.cache
def sigmoid_table_int16() -> tuple[int, ...]:
    """The 256 entries of TFLite's int16 sigmoid table, solved from its LOGISTIC on every input >= 0.

    The kernel rescales an input to ``v`` and reads entries ``k = v >> 9`` and ``k + 1`` at fraction
    ``f = v & 511``: ``out = (512 t[k] + f (t[k+1] - t[k]) + 512) >> 10``. Running LOGISTIC at the probe
    scales gives the output for every ``v``; from ``t[0] = 32768`` (the sigmoid of 0), each step keeps
    the values of ``t[k+1]`` that reproduce every output of step ``k``. Tables that survive together
    compute identically for every ``v``; if tables that compute differently survived, it is an error.
    """
    import numpy as np

    rescaled, observed = [], []
    for scale in PROBE_SCALES:
        rescaled.append(probe_inputs(scale))
        observed.append(_logistic_int16_outputs(np.arange(0, 32768, dtype=np.int16), scale))
    v, out = np.concatenate(rescaled), np.concatenate(observed)
    keep = v < TABLE_INPUTS
    v, out = v[keep], out[keep]
    steps = np.arange(1024, dtype=np.int64)[:, None]
    tables = [[32768]]
    for k in range(255):
        at = v >> 9 == k
        pairs = np.unique(np.stack([v[at] & 511, out[at]]), axis=1)  # each fraction once (with its output)
        fraction, seen = pairs[0][None, :], pairs[1][None, :]
        grown = []
        for table in tables:
            fits = np.all(((512 * table[-1] + fraction * steps + 512) >> 10) == seen, axis=1)
            grown += [table + [table[-1] + int(d)] for d in np.nonzero(fits)[0]]
        if not grown:
            raise RuntimeError(f"no int16 sigmoid table reproduces the interpreter at step {k}")
        tables = _distinct_behaviours(grown, final=k == 254)
    if len(tables) != 1:
        raise RuntimeError(f"{len(tables)} int16 sigmoid tables compute differently and fit the interpreter")
    return tuple(tables[0])


def _distinct_behaviours(tables: list[list[int]], final: bool) -> list[list[int]]:
    """One table per distinct behaviour and end entry: two tables that compute alike so far and end on
    the same entry are the same table for every later step (after the last step, the entry is moot)."""
    import numpy as np

    fraction = np.arange(512, dtype=np.int64)
    kept: dict[tuple, list[int]] = {}
    for table in tables:
        t = np.asarray(table, np.int64)
        computed = (512 * t[:-1, None] + fraction[None, :] * (t[1:, None] - t[:-1, None]) + 512) >> 10
        kept.setdefault((computed.tobytes(), None if final else table[-1]), table)
    return list(kept.values())


def _logistic_int16_outputs(values, input_scale: float):
    import numpy as np

    from edgepose.runtime.tflm_runner import micro_interpreter

    model = _one_op_model("LOGISTIC", (input_scale, 0), (2.0**-15, 0), "INT16", len(values))
    interpreter = micro_interpreter(model)
    interpreter.set_input(np.asarray(values, np.int16).reshape(1, -1), 0)
    interpreter.invoke()
    return interpreter.get_output(0).reshape(-1).astype(np.int64)


def _one_op_model(
    kind: str, inp: tuple[float, int], out: tuple[float, int], dtype: str = "INT8", size: int = 256
) -> bytes:
    """A model of one elementwise op on a ``[1, size]`` tensor; ``inp``/``out`` are (scale, zero point)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    def tensor(name: str, quantization: tuple[float, int]) -> schema.TensorT:
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, size], getattr(schema.TensorType, dtype), 0, name
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale = [float(quantization[0])]
        t.quantization.zeroPoint = [int(quantization[1])]
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
