"""``.tflite`` models in the tflite-micro interpreter: the reference kernels an MCU build runs, and the
bit-exactness reference for the generated C.

Every use of the interpreter goes through ``micro_interpreter``, which sizes its arena from the model.
The interpreter's own default (ten times the file's size) suits models whose weights dominate; a model
with few weights and large activations (one depthwise layer on 24x24x48) fails to allocate with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.errors import ModelError, UnsupportedOpError
from edgepose.runtime.runner import Runner
from edgepose.runtime.tflite_io import tflite_io

ARENA_GROWTH_TRIES = 6


def arena_estimate(data: bytes) -> int:
    """An arena that holds every non-constant tensor at once (no reuse: an upper bound on what the
    planner needs), plus room for the interpreter's per-tensor and per-op bookkeeping."""
    from edgepose.convert.inspect import read_tflite
    from edgepose.runtime.tflite_io import _DTYPES

    model = read_tflite(data)
    activations, count = 0, 0
    for graph in model.subgraphs:
        count += len(graph.tensors) + len(graph.operators or [])
        for tensor in graph.tensors:
            buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
            if buffer is not None and buffer.data is not None and len(buffer.data):
                continue
            elements = int(np.prod(tensor.shape)) if tensor.shape is not None else 1
            activations += elements * np.dtype(_DTYPES.get(tensor.type, np.float32)).itemsize
    return activations + 256 * count + 64 * 1024


def micro_interpreter(data: bytes):
    """A tflite-micro interpreter with an arena sized from the model, grown and retried when allocation
    still falls short (the interpreter says by how much)."""
    from tflite_micro.python.tflite_micro import runtime

    size = max(arena_estimate(data), len(data) * 10)
    for _ in range(ARENA_GROWTH_TRIES):
        try:
            return runtime.Interpreter.from_bytes(data, arena_size=size)
        except RuntimeError as exc:
            if "allocate" not in str(exc):
                raise
            size = size * 2
    return runtime.Interpreter.from_bytes(data, arena_size=size)


class TFLMRunner(Runner):
    engine = "tflite-micro"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        data = Path(path).read_bytes()
        self.inputs, self.outputs = tflite_io(data, path)
        if len(self.inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {len(self.inputs)}")
        try:
            self.interpreter = micro_interpreter(data)
        except RuntimeError as exc:
            from edgepose.convert.inspect import read_tflite, tflite_op_names

            names = set(tflite_op_names(read_tflite(data)))
            raise UnsupportedOpError(
                f"{path}: tflite-micro cannot load the model ({' '.join(str(exc).split())[:120]}); "
                f"its ops are {', '.join(sorted(names))}"
            ) from None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inputs[0].shape[1:]

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        return {spec.name: spec.shape[1:] for spec in self.outputs}

    def run_all(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        results = {spec.name: [] for spec in self.outputs}
        for sample in np.asarray(inputs, np.float32):
            self.interpreter.set_input(self.inputs[0].to_model(sample[None]), 0)
            self.interpreter.invoke()
            for spec in self.outputs:
                results[spec.name].append(spec.from_model(self.interpreter.get_output(spec.position)))
        return {name: np.concatenate(values) for name, values in results.items()}
