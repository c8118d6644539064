"""``movenet_like``: a MoveNet-Lightning-like model: MobileNetV2 + FPN to stride 4 + a heatmap head.

MoveNet (Google, 2021) fuses MobileNetV2 features of strides 32, 16, 8 and 4 top-down, FPN-style (upsample
x2, add a 1x1-projected lateral), and predicts at stride 4: 48x48 at 192 px. MoveNet has four heads (person
centres, keypoint regression, heatmaps, offsets); this model keeps the heatmap head only, which is what
single-person crops need.

The default width (alpha) is 1.0 because that is Lightning's backbone, so the model sizes and latencies
compare with the published Lightning (about 3 MB int8 at 192 px); 0.5 is the choice when RAM or flash is
tight, e.g. on an STM32N6.
"""

from __future__ import annotations

from edgepose.models.registry import register_model

_FPN = 96


@register_model(
    "movenet_like",
    default_input_size=(192, 192),
    input_sizes=[(192, 192)],
    widths=(1.0,),
    description="MoveNet-Lightning-like: MobileNetV2 + FPN to stride 4 + heatmap head",
)
def movenet_like(input_size=(192, 192), keypoints=17, width=1.0, stride=4, dropout=0.0):
    import keras

    from edgepose.models.blocks import heatmap_head, image_input, make_divisible, separable, top_down
    from edgepose.models.mobilenetv2_heatmaps import backbone_features

    inputs = image_input(input_size)
    features = backbone_features(inputs, width, "movenet_like")
    channels = make_divisible(_FPN * width)
    x = top_down({s: f for s, f in features.items() if s >= stride}, stride, channels)
    x = separable(x, channels, "head")
    return keras.Model(inputs, heatmap_head(x, keypoints, dropout), name=f"movenet_like_{width:g}")
