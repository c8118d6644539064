"""Models the tests build and save themselves: a zoo model with non-trivial BatchNormalization statistics
(so folding has something to fold), a float model with two outputs, and a hand-written NCHW ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_keras(path: Path, size: int = 96, seed: int = 0) -> Path:
    import keras

    from edgepose.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model("tiny", (size, size), 17)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, channels),
                    rng.normal(0, 0.2, channels),
                    rng.normal(0, 0.2, channels),
                    rng.uniform(0.5, 1.5, channels),
                ]
            )
    model.save(path)
    return path


def two_output_keras(path: Path) -> Path:
    """Heatmaps plus a small vector head (a landmark model's score), on a 64x48 input."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    image = keras.Input((64, 48, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    maps = layers.Conv2D(5, 1, name="heatmaps")(layers.Conv2D(16, 1, strides=2, activation="relu")(x))
    score = layers.Dense(3, name="score")(layers.GlobalAveragePooling2D()(x))
    keras.Model(image, [maps, score]).save(path)
    return path


def nchw_onnx(path: Path, height: int = 96, width: int = 64) -> Path:
    """Conv-ReLU-Conv on an NCHW ``(1, 3, H, W)`` input, written with onnx.helper like a PyTorch export."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (4, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["output"], name="conv2"),
    ]
    graph = helper.make_graph(
        nodes,
        "nchw_net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, height // 2, width // 2])],
        [w1, b1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def image_folder(folder: Path, count: int = 12, seed: int = 0) -> Path:
    """Random photographs-to-be in two sub-folders, of varied sizes."""
    import cv2

    rng = np.random.default_rng(seed)
    for index in range(count):
        sub = folder / ("indoor" if index % 2 else "outdoor")
        sub.mkdir(parents=True, exist_ok=True)
        shape = (60 + 9 * index, 80 + 5 * index, 3)
        cv2.imwrite(str(sub / f"frame_{index:02d}.jpg"), rng.integers(0, 255, shape, dtype=np.uint8))
    return folder


def small_tflite(path: Path, int8: bool, size: int = 32) -> Path:
    """A conv-depthwise-conv heatmap model on a ``size``² RGB input, float32 or full-integer int8: small enough
    that a benchmark through a slow or lossy link stays quick."""
    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(3)
    image = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    model = keras.Model(image, layers.Conv2D(5, 1, name="heatmaps")(x))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(4)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.uniform(0, 1, (1, size, size, 3)).astype(np.float32)] for _ in range(8)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def outlier_keras(path: Path) -> Path:
    """Two outputs on a 32x32 input, one of them hard to quantize: a 1x1 convolution with one channel 300
    times larger than the others sits before the heatmaps, which read only the other channels, so the
    per-tensor int8 activations there leave them a few levels; the score head does not go through it."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(4)
    image = keras.Input((32, 32, 3), name="image")
    features = layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(image)
    widened = layers.Conv2D(8, 1, name="outlier")(features)
    maps = layers.Conv2D(4, 1, name="heatmaps")(layers.ReLU()(widened))
    score = layers.Dense(2, name="score")(layers.GlobalAveragePooling2D()(features))
    model = keras.Model(image, [maps, score])
    kernel, bias = model.get_layer("outlier").get_weights()
    kernel[..., 0] *= 300.0
    model.get_layer("outlier").set_weights([kernel, bias])
    kernel, bias = model.get_layer("heatmaps").get_weights()
    kernel[:, :, 0, :] = 0.0  # the heatmaps read only the small channels
    model.get_layer("heatmaps").set_weights([kernel, bias])
    model.save(path)
    return path


def tiny_with_calibration(folder: Path) -> Path:
    """``folder`` with ``tiny.keras`` (96 px, random BN statistics) and ``calib96``, 16 crops of test frames
    for RGB [-1, 1] input."""
    from edgepose.convert.metadata import Normalization
    from edgepose.quantize.calibration import build_set

    tiny_keras(folder / "tiny.keras")
    build_set(image_folder(folder / "frames", count=16), folder / "calib96", 16, "random", 0, Normalization(), (96, 96))
    return folder
