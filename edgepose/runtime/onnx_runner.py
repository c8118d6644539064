"""``.onnx`` models in ONNX Runtime (CPU), float, QDQ or QOperator; NCHW models are fed and read NHWC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.errors import ModelError
from edgepose.runtime.runner import Runner


class OnnxRunner(Runner):
    engine = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__(path)
        import onnxruntime as ort

        quiet_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph / NotImplemented types
            reason = " ".join(str(exc).split())[:200]
            raise ModelError(f"{path}: ONNX Runtime cannot load the model ({reason})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {len(inputs)}")
        self._input = inputs[0]
        self.threads = threads
        shape = [d if isinstance(d, int) else 1 for d in self._input.shape]
        # NCHW when the channel axis (1, 3 or 4 wide) comes right after the batch and the last axis is wider.
        self.nchw = len(shape) == 4 and shape[1] in (1, 3, 4) and shape[3] > 4
        self._shape = tuple(shape[1:])
        self._batch_fixed = isinstance(self._input.shape[0], int) and self._input.shape[0] == 1

    @property
    def input_name(self) -> str:
        return self._input.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self._shape[1], self._shape[2], self._shape[0]) if self.nchw else self._shape

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for output in self.session.get_outputs():
            shape = tuple(d if isinstance(d, int) else 1 for d in output.shape[1:])
            shapes[output.name] = (shape[1], shape[2], shape[0]) if self.nchw and len(shape) == 3 else shape
        return shapes

    def run_all(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(inputs, np.float32)
        if self.nchw:
            batch = batch.transpose(0, 3, 1, 2)
        chunks = [batch[i : i + 1] for i in range(len(batch))] if self._batch_fixed else [batch]
        names = [o.name for o in self.session.get_outputs()]
        results = {name: [] for name in names}
        for chunk in chunks:
            for name, value in zip(names, self.session.run(names, {self._input.name: chunk}), strict=True):
                value = np.asarray(value, np.float32)
                results[name].append(value.transpose(0, 2, 3, 1) if self.nchw and value.ndim == 4 else value)
        return {name: np.concatenate(values) for name, values in results.items()}

    def describe(self) -> dict:
        import onnxruntime as ort

        return {**super().describe(), "version": ort.__version__, "threads": self.threads}


def quiet_onnxruntime() -> None:
    """Errors only: ONNX Runtime warns on every session about attributes tf2onnx writes for old opsets."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
