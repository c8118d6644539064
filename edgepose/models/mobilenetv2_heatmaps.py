"""``mobilenetv2_heatmaps``: Keras' MobileNetV2 (no top, untrained) with an upsampling heatmap head.

A SimpleBaseline-style model for boards with megabytes of RAM (STM32MP/N6, Raspberry Pi): the backbone's
stride-32 features (6x6x1280 at 192 px) are squeezed by a 1x1 convolution, then brought back to the heatmap
stride by repeated [nearest upsample x2 + depthwise-separable conv] (three times for stride 4: 48x48 at 192).
``width`` is MobileNetV2's alpha; the head widens with it.

``backbone_features`` is shared with ``movenet_like``.
"""

from __future__ import annotations

from edgepose.errors import ModelError
from edgepose.models.registry import register_model

# The alphas Keras publishes ImageNet weights for: a model built at one of them can later take those weights.
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)

# Where MobileNetV2 (Keras' layer names) reaches each stride; at 32 it is the full include_top=False output.
_TAPS = {2: "expanded_conv_project_BN", 4: "block_2_add", 8: "block_5_add", 16: "block_12_add", 32: "out_relu"}
_HEAD = 256
BN_MOMENTUM = 0.9


def backbone_features(inputs, width: float, model: str) -> dict:
    """MobileNetV2 at alpha ``width`` on ``inputs``, as ``{stride: feature tensor}`` for strides 2-32."""
    import keras

    if width not in ALPHAS:
        raise ModelError(f"model '{model}': width {width:g} is not a MobileNetV2 alpha; use one of {list(ALPHAS)}")
    backbone = keras.applications.MobileNetV2(input_tensor=inputs, include_top=False, weights=None, alpha=width)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras' MobileNetV2 averages its statistics over ~1000 steps (momentum 0.999), made for ImageNet's
            # long runs: in a run of a few hundred steps from scratch they lag the weights and inference-mode
            # outputs are garbage (validation AP 0 after 5 epochs; still at 0.99). Over ~10 steps they keep up.
            layer.momentum = BN_MOMENTUM
    return {stride: backbone.get_layer(layer).output for stride, layer in _TAPS.items()}


@register_model(
    "mobilenetv2_heatmaps",
    default_input_size=(192, 192),
    input_sizes=[(192, 192)],
    widths=(0.35, 0.5, 1.0),
    description="MobileNetV2 (alpha = width) + 3x (upsample, separable conv) head",
)
def mobilenetv2_heatmaps(input_size=(192, 192), keypoints=17, width=0.35, stride=4, dropout=0.0):
    import keras

    from edgepose.models.blocks import conv_bn, heatmap_head, image_input, make_divisible, separable, upsample2x

    inputs = image_input(input_size)
    x = backbone_features(inputs, width, "mobilenetv2_heatmaps")[32]
    channels = make_divisible(_HEAD * width)
    x = conv_bn(x, channels, 1, 1, "head_squeeze")
    level = 32
    while level > stride:
        level //= 2
        x = upsample2x(x, f"head_s{level}_up")
        x = separable(x, channels, f"head_s{level}")
    return keras.Model(inputs, heatmap_head(x, keypoints, dropout), name=f"mobilenetv2_heatmaps_{width:g}")
