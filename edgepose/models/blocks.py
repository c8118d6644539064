"""Layer blocks shared by the model families: conv-BN-ReLU, depthwise-separable and inverted-residual blocks,
a top-down (FPN-style) decoder and the heatmap head.

Every block is made of ops that int8 MCU runtimes have (Conv2D, DepthwiseConv2D, Add, ReLU6, nearest
resizing) plus BatchNormalization, which folds into the preceding convolution at export. Convolutions
before a BatchNormalization have no bias for that reason. All tensors are NHWC.
"""

from __future__ import annotations

import keras
from keras import layers

# ReLU6 rather than ReLU: a bounded range quantizes to int8 with a fixed, fine scale.
_RELU_MAX = 6.0


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to a multiple of ``divisor`` (MobileNet's rule: never more than 10% below it).

    Channel counts that are multiples of 8 keep SIMD kernels (CMSIS-NN, XNNPACK) on their fast paths.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(x, filters: int, kernel: int, strides: int, name: str, relu: bool = True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(_RELU_MAX, name=f"{name}_relu")(x) if relu else x


def depthwise_bn(x, kernel: int, strides: int, name: str):
    x = layers.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    return layers.ReLU(_RELU_MAX, name=f"{name}_dw_relu")(x)


def separable(x, filters: int, name: str, kernel: int = 3, strides: int = 1):
    """Depthwise ``kernel`` x ``kernel`` then pointwise 1x1, each with BN and ReLU6 (MobileNet v1's block)."""
    x = depthwise_bn(x, kernel, strides, name)
    return conv_bn(x, filters, 1, 1, f"{name}_pw")


def inverted_residual(x, filters: int, expansion: int, name: str, kernel: int = 3, strides: int = 1):
    """MobileNet v2's block: 1x1 expand, depthwise, linear 1x1 project; a residual add when shapes allow."""
    inputs = x
    channels = x.shape[-1]
    if expansion != 1:
        x = conv_bn(x, channels * expansion, 1, 1, f"{name}_expand")
    x = depthwise_bn(x, kernel, strides, name)
    # No ReLU after the projection: the bottleneck is narrow, and a ReLU there would discard information.
    x = conv_bn(x, filters, 1, 1, f"{name}_project", relu=False)
    if strides == 1 and channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def upsample2x(x, name: str):
    """Nearest-neighbour x2 upsampling as one resize op.

    Not ``UpSampling2D``: under Keras 3 it is a repeat, which TFLite turns into RESHAPE and TILE, ops that
    MCU runtimes lack. A resize to twice the static size converts to a single RESIZE_NEAREST_NEIGHBOR and
    picks the same pixels (half-pixel centres at exactly x2 replicate each pixel twice).
    """
    height, width = x.shape[1], x.shape[2]
    return layers.Resizing(2 * height, 2 * width, interpolation="nearest", name=name)(x)


def top_down(features: dict[int, keras.KerasTensor], stride: int, channels: int, name: str = "fpn"):
    """Fuse encoder features ``{stride: tensor}`` from the deepest one down to ``stride`` (FPN-style).

    At each level: upsample the running map x2 (nearest), add a 1x1 projection of the encoder feature of that
    stride when there is one, then refine with a depthwise-separable block. Levels without a feature are only
    upsampled and refined. Returns a ``channels``-wide map at ``stride``.
    """
    deepest = max(features)
    x = conv_bn(features[deepest], channels, 1, 1, f"{name}_s{deepest}_lateral")
    level = deepest
    while level > stride:
        level //= 2
        x = upsample2x(x, f"{name}_s{level}_up")
        if level in features:
            lateral = conv_bn(features[level], channels, 1, 1, f"{name}_s{level}_lateral")
            x = layers.Add(name=f"{name}_s{level}_add")([x, lateral])
        x = separable(x, channels, f"{name}_s{level}_refine")
    return x


def heatmap_head(x, keypoints: int, dropout: float = 0.0):
    """The linear 1x1 convolution to ``keypoints`` heatmaps, named ``heatmaps``.

    It computes in float32 even under a mixed-precision policy, so the loss and the exported model's output
    are float32 whatever the training precision.
    """
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Conv2D(keypoints, 1, padding="same", name="heatmaps", dtype="float32")(x)


def image_input(input_size: tuple[int, int]):
    height, width = input_size
    return keras.Input((height, width, 3), dtype="float32", name="image")
