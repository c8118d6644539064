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
    int16_activations: bool = False,
) -> Path:
    """``build(keras_input) -> output(s)``, quantized to int8 (or 16x8: int16 activations, int8 weights)
    with a random representative set."""
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
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        if int16_activations
        else tf.lite.OpsSet.TFLITE_BUILTINS_INT8
    ]
    if not float_io:
        converter.inference_input_type = converter.inference_output_type = tf.int16 if int16_activations else tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    path.write_bytes(converter.convert())
    return path


LANDMARK_HEADS = {
    2: ("heatmap", "presence"),
    4: ("landmarks", "presence", "handedness", "world_landmarks"),
    5: ("landmarks", "presence", "handedness", "world_landmarks", "heatmap"),
}


def landmark_heads(outputs: int, heatmap_channels: int = 8) -> Callable:
    """``build(image) -> outputs`` of a landmark model as other projects ship them, on a 64x64 RGB input,
    with 2, 4 or 5 outputs of different sizes: 21x3 landmark vectors, 1-element presence and handedness
    flags (sigmoid), world landmarks and a 64x64x``heatmap_channels`` heatmap."""
    from keras import layers

    def build(image):
        features = layers.Conv2D(8, 3, padding="same", activation="relu")(image)
        pooled = layers.GlobalAveragePooling2D()(layers.Conv2D(16, 3, strides=4, activation="relu")(features))
        heads = {
            "heatmap": lambda: layers.Conv2D(heatmap_channels, 1, name="heatmap")(features),
            "landmarks": lambda: layers.Dense(63, name="landmarks")(pooled),
            "presence": lambda: layers.Dense(1, activation="sigmoid", name="presence")(pooled),
            "handedness": lambda: layers.Dense(1, activation="sigmoid", name="handedness")(pooled),
            "world_landmarks": lambda: layers.Dense(63, name="world_landmarks")(pooled),
        }
        return [heads[name]() for name in LANDMARK_HEADS[outputs]]

    return build


def landmark_tflite(
    path: Path, outputs: int, heatmap_channels: int = 8, seed: int = 0, int16_activations: bool = False
) -> Path:
    """The landmark model of ``landmark_heads``, quantized (int8, or 16x8)."""
    build = landmark_heads(outputs, heatmap_channels)
    return int8_tflite(path, build, (64, 64, 3), seed=seed, int16_activations=int16_activations)


def landmark_keras(path: Path, outputs: int, seed: int = 0) -> Path:
    import keras

    keras.utils.set_random_seed(seed)
    image = keras.Input((64, 64, 3), batch_size=1, name="image")
    keras.Model(image, landmark_heads(outputs)(image)).save(path)
    return path


def inverted_residuals(x):
    """Two inverted-residual blocks (expand x6, depthwise, project, add): the expanded tensors are the peak,
    and a stage that is one block never makes them whole."""
    from keras import layers

    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    for _ in range(2):
        y = layers.Conv2D(48, 1, activation="relu6")(x)
        y = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
        x = layers.Add()([x, layers.Conv2D(8, 1)(y)])
    return layers.GlobalAveragePooling2D()(layers.Conv2D(4, 1)(x))
