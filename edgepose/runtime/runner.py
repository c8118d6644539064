"""The Runner seam: evaluation, accuracy reports and on-device output checks all go through it.

A runner takes a batch in the model's float input space (``(N, H, W, C)``, already rescaled by the
preprocessing) and returns float heatmaps ``(N, H/s, W/s, K)``. Quantized engines quantize the input and
dequantize the output themselves, so "float vs int8 vs on-device" is one loop with different runners.
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
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one input."""

    @property
    @abstractmethod
    def output_shape(self) -> tuple[int, int, int]:
        """``(H/s, W/s, K)`` of one output."""

    @abstractmethod
    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Heatmaps for a batch of model inputs."""

    @property
    def stride(self) -> int:
        return self.input_shape[0] // self.output_shape[0]

    @property
    def keypoints(self) -> int:
        return self.output_shape[2]

    def describe(self) -> dict:
        return {"engine": self.engine, "source": str(self.source) if self.source else None}

    def close(self) -> None:  # noqa: B027 - engines that hold a device or a process override it
        """Release what the engine holds."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_runner(path: Path) -> Runner:
    """A runner for a model file, chosen by its kind."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if path.suffix == ".keras":
        from edgepose.runtime.keras_runner import KerasRunner

        return KerasRunner.from_file(path)
    raise ModelError(f"{path}: cannot run '{path.suffix}' models yet; give a .keras file")
