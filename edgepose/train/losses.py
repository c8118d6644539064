"""The heatmap loss: mean squared error per keypoint channel, weighted per keypoint by Keras.

The pipeline yields ``(image, heatmaps, weights)`` with ``weights`` shaped ``(batch, K)``; returning one
loss value per keypoint lets Keras' own ``sample_weight`` machinery apply the target weights, so
unlabelled and out-of-crop keypoints contribute nothing and no custom training step is needed.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="edgepose")
class HeatmapLoss(keras.losses.Loss):
    def __init__(self, name: str = "heatmap_mse", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")  # mixed precision: the loss is always computed in float32
        return ops.mean(ops.square(y_true - y_pred), axis=(1, 2))  # (batch, K)
