"""Keras models, in memory or from a ``.keras`` / ``.h5`` file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.errors import ModelError
from edgepose.runtime.runner import Runner


class KerasRunner(Runner):
    engine = "keras"

    def __init__(self, model, source: Path | None = None) -> None:
        super().__init__(source)
        self.model = model
        if len(model.inputs) != 1:
            raise ModelError(f"{source or model.name}: expected one image input, found {len(model.inputs)}")
        self._predict = None

    @classmethod
    def from_file(cls, path: Path) -> KerasRunner:
        from edgepose.convert.modelfile import load_keras

        return cls(load_keras(path), path)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in self.model.outputs]
        return dict(zip(self.model.output_names, shapes, strict=True))

    def run_all(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        # A compiled call instead of model.predict: predict builds a dataset per call, slow for small batches.
        if self._predict is None:
            import tensorflow as tf

            # One trace for every batch size: the last batch of a dataset is usually smaller.
            batch = tf.TensorSpec((None, *self.input_shape), tf.float32)
            self._predict = tf.function(lambda x: self.model(x, training=False), input_signature=[batch])
        outputs = self._predict(np.asarray(inputs, np.float32))
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        return {name: np.asarray(o, np.float32) for name, o in zip(self.output_shapes, outputs, strict=True)}
