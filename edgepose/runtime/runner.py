"""The Runner seam: evaluation, accuracy reports and on-device output checks all go through it.

A runner takes a batch in the model's float input space (``(N, H, W, C)``, NHWC, already rescaled by the
preprocessing) and returns float outputs. Quantized engines quantize the input and dequantize the outputs
themselves, and NCHW models are transposed at the edge, so "float vs int8 vs on-device" is one loop with
different runners. ``run`` gives the first output (the heatmaps ``(N, H/s, W/s, K)`` of a pose model);
``run_all`` gives every output by name, for models whose outputs are not heatmaps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from edgepose.errors import ModelError


class Runner(ABC):
    engine: str = "?"

    def __init__(self, source: Path | None = None) -> None:
        self.source = source

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """``(H, W, C)`` of one input."""

    @property
    @abstractmethod
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each output's shape without the batch axis (NHWC for 4-D outputs), by name, in output order."""

    @abstractmethod
    def run_all(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every float output for a batch of model inputs, by name."""

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """The first output: heatmaps for a pose model."""
        return next(iter(self.run_all(inputs).values()))

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(H/s, W/s, K)`` of the first output."""
        return next(iter(self.output_shapes.values()))

    @property
    def is_heatmap_model(self) -> bool:
        """One image in, a heatmap stack at an integer stride out (what keypoint metrics can score)."""
        out = self.output_shape
        height = self.input_shape[0]
        return len(self.input_shape) == 3 and len(out) == 3 and out[0] > 0 and height % out[0] == 0

    @property
    def stride(self) -> int:
        return self.input_shape[0] // self.output_shape[0]

    @property
    def keypoints(self) -> int:
        return self.output_shape[-1]

    def describe(self) -> dict:
        return {"engine": self.engine, "source": str(self.source) if self.source else None}

    def close(self) -> None:  # noqa: B027 - engines that hold a device or a process override it
        """Release what the engine holds."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ENGINES = ("keras", "litert", "onnxruntime", "tflite-micro")


def open_runner(path: Path, engine: str | None = None, threads: int | None = None) -> Runner:
    """A runner for a model file: by default the engine that suits its kind (LiteRT for ``.tflite``)."""
    from edgepose.convert.modelfile import model_kind

    path = Path(path)
    kind = model_kind(path)
    engine = engine or {"tflite": "litert", "onnx": "onnxruntime"}.get(kind, "keras")
    allowed = {"keras": ("keras", "h5"), "litert": ("tflite",), "tflite-micro": ("tflite",), "onnxruntime": ("onnx",)}
    if engine not in allowed:
        raise ModelError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    if kind not in allowed[engine]:
        raise ModelError(f"{path}: {engine} cannot run a {kind} model; it runs {', '.join(allowed[engine])} files")
    if engine == "keras":
        from edgepose.runtime.keras_runner import KerasRunner

        return KerasRunner.from_file(path)
    if engine == "litert":
        from edgepose.runtime.litert_runner import LiteRTRunner

        return LiteRTRunner(path, threads)
    if engine == "tflite-micro":
        from edgepose.runtime.tflm_runner import TFLMRunner

        return TFLMRunner(path)
    from edgepose.runtime.onnx_runner import OnnxRunner

    return OnnxRunner(path, threads)


def quantize(values: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float → integer as TFLite does: ``round(x / scale) + zero_point``, saturated to the type."""
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
