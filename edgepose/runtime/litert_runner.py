"""``.tflite`` models in LiteRT (``ai-edge-litert``, with XNNPACK on CPU), float or quantized."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.errors import ModelError
from edgepose.runtime.runner import Runner
from edgepose.runtime.tflite_io import tflite_io


class LiteRTRunner(Runner):
    engine = "litert"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__(path)
        from ai_edge_litert.interpreter import Interpreter

        data = Path(path).read_bytes()
        self.inputs, self.outputs = tflite_io(data, path)
        if len(self.inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {len(self.inputs)}")
        try:
            self.interpreter = Interpreter(model_content=data, num_threads=threads)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{path}: LiteRT cannot load the model ({' '.join(str(exc).split())[:200]})") from None
        self.threads = threads
        self._in = self.interpreter.get_input_details()[0]["index"]
        self._out = [d["index"] for d in self.interpreter.get_output_details()]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inputs[0].shape[1:]

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        return {spec.name: spec.shape[1:] for spec in self.outputs}

    def run_all(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        results = {spec.name: [] for spec in self.outputs}
        for sample in np.asarray(inputs, np.float32):  # edge models have a batch of one
            self.interpreter.set_tensor(self._in, self.inputs[0].to_model(sample[None]))
            self.interpreter.invoke()
            for spec in self.outputs:
                results[spec.name].append(spec.from_model(self.interpreter.get_tensor(self._out[spec.position])))
        return {name: np.concatenate(values) for name, values in results.items()}

    def describe(self) -> dict:
        from ai_edge_litert import __version__ as version

        return {**super().describe(), "version": version, "threads": self.threads}
