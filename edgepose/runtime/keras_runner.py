"""Keras models, in memory or from a ``.keras`` file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edgepose.errors import ModelError
from edgepose.runtime.runner import Runner


class KerasRunner(Runner):
    engine = "keras"

    def __init__(self, model, source: Path | None = None) -> None:
        super().__init__(source)
        self.model = model
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ModelError(f"{source or model.name}: expected one input and one heatmap output")
        self._predict = None

    @classmethod
    def from_file(cls, path: Path) -> KerasRunner:
        import keras

        import edgepose.train.losses  # noqa: F401 - registers the loss a saved training model refers to

        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path}: not a Keras model file (a .keras file is a zip archive); save it again")
        try:
            model = keras.models.load_model(path, compile=False)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable Keras model ({exc})") from None
        return cls(model, path)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.model.outputs[0].shape[1:])

    def run(self, inputs: np.ndarray) -> np.ndarray:
        # A compiled call instead of model.predict: predict builds a dataset per call, slow for small batches.
        if self._predict is None:
            import tensorflow as tf

            self._predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        return np.asarray(self._predict(np.asarray(inputs, np.float32)), np.float32)
