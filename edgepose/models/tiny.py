"""``tiny``: a heatmap pose model for Cortex-M microcontrollers (96-128 px, <= 150k parameters).

Budgets at width 1.0, 128x128 input, heatmap stride 4 (tests hold them): at most 150k parameters (about 150 KiB of int8
weights in flash) and an int8 activation peak of at most 256 KiB, as estimated by
``edgepose.models.profile.activation_peak_bytes``. Only ops in ``ALLOWED_OPS`` are used, all of which
CMSIS-NN / tflite-micro run in int8 (BatchNormalization folds into the convolution before it at export).

Shape of the network: the activation peak sits at high resolution, so the first layers stay narrow (16
channels at stride 2, no expansion before stride 4); capacity goes where it is cheap in RAM, into inverted
residual blocks at strides 8-32. The encoder goes down to stride 32 (4x4 at 128 px) so that its receptive
field covers the whole crop: telling left from right and an arm from a leg needs the whole person. A light
FPN-style decoder then adds the stride-16, 8 and 4 features back on the way up to stride 4 (32x32 heatmaps at
128 px), which is where localisation comes from.
"""

from __future__ import annotations

from edgepose.models.registry import register_model

# Layer classes tiny is built from; `edgepose.models.profile.allowed_ops` checks a model against it.
ALLOWED_OPS = frozenset(
    {
        "InputLayer",
        "Conv2D",
        "DepthwiseConv2D",
        "BatchNormalization",
        "ReLU",
        "Add",
        "Concatenate",
        "UpSampling2D",
        "Resizing",
        "MaxPooling2D",
        "AveragePooling2D",
        "Dropout",  # identity at inference; gone after export
    }
)

# The encoder after the stem, one row per stage: (stride reached, channels, blocks, expansion, kernel).
# The first block of each stage downsamples; stages at strides 4-32 are kept as decoder inputs.
_STAGES = (
    (4, 24, 2, 4, 3),
    (8, 32, 3, 4, 3),
    (16, 48, 2, 4, 3),
    (32, 64, 2, 3, 5),  # 5x5 depthwise: at 4x4 every output sees the whole map (+5k weights)
)
_STEM = 16
_DECODER = 48


@register_model(
    "tiny",
    default_input_size=(128, 128),
    input_sizes=[(96, 96), (128, 128)],
    description="Cortex-M: inverted residuals to stride 32, FPN decoder to stride 4",
    strides=(2, 4, 8),
)
def tiny(input_size=(128, 128), keypoints=17, width=1.0, stride=4, dropout=0.0):
    import keras

    from edgepose.models.blocks import (
        conv_bn,
        heatmap_head,
        image_input,
        inverted_residual,
        make_divisible,
        separable,
        top_down,
    )

    inputs = image_input(input_size)
    x = conv_bn(inputs, make_divisible(_STEM * width), 3, 2, "stem")
    x = separable(x, make_divisible(_STEM * width), "s2")
    features = {2: x}
    for reached, channels, blocks, expansion, kernel in _STAGES:
        channels = make_divisible(channels * width)
        for index in range(blocks):
            name = f"s{reached}_b{index}"
            if index == 0 and reached == 4:
                # No expansion at stride 2: a 4x wider 64x64 map would be the whole RAM budget.
                x = separable(x, channels, name, kernel, strides=2)
            else:
                x = inverted_residual(x, channels, expansion, name, kernel, strides=2 if index == 0 else 1)
        features[reached] = x
    x = top_down({s: f for s, f in features.items() if s >= stride}, stride, make_divisible(_DECODER * width))
    x = separable(x, make_divisible(_DECODER * width), "head")
    return keras.Model(inputs, heatmap_head(x, keypoints, dropout), name=f"tiny_{width:g}")
