"""Small int8 ``.tflite`` models the code-generator tests build: one op (or a short chain) at a time, with
weights and calibration drawn from a seeded generator, converted by TFLite's own converter so the files
are what users bring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


def int8_tflite(
    path: Path,
    build: Callable,
    input_shape: tuple[int, ...],
    seed: int = 0,
    per_tensor: bool = False,
    float_io: bool = False,
) -> Path:
    """``build(keras_input) -> output(s)``, quantized to int8 with a random representative set."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    image = keras.Input(input_shape, batch_size=1, name="x")
    model = keras.Model(image, build(image))
    for layer in model.layers:  # non-trivial biases, so bias handling is exercised
        weights = layer.get_weights()
        if weights and len(weights) > 1:
            weights[-1] = np.random.default_rng(seed).normal(0, 0.3, weights[-1].shape).astype(np.float32)
            layer.set_weights(weights)
    rng = np.random.default_rng(seed + 1)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [rng.uniform(-1, 1, (1, *input_shape)).astype(np.float32)] for _ in range(16)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    path.write_bytes(converter.convert())
    return path
