"""``.tflite`` models in the tflite-micro interpreter: the reference kernels an MCU build runs, and the
bit-exactness reference for the generated C."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.errors import ModelError, UnsupportedOpError
from edgepose.runtime.runner import Runner
from edgepose.runtime.tflite_io import tflite_io


class TFLMRunner(Runner):
    engine = "tflite-micro"

    def __init__(self, path: Path, arena_bytes: int | None = None) -> None:
        super().__init__(path)
        from tflite_micro.python.tflite_micro import runtime

        data = Path(path).read_bytes()
        self.inputs, self.outputs = tflite_io(data)
        if len(self.inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {len(self.inputs)}")
        try:
            options = {"arena_size": arena_bytes} if arena_bytes else {}
            self.interpreter = runtime.Interpreter.from_bytes(data, **options)
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
