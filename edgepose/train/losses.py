"""The heatmap losses, one value per keypoint channel so that Keras' own ``sample_weight`` machinery applies
the target weights (the pipeline yields ``(image, heatmaps, weights)`` with ``weights`` shaped ``(batch, K)``):
unlabelled and out-of-crop keypoints contribute nothing and no custom training step is needed.

- ``mse``: mean squared error against the Gaussian targets; the outputs are Gaussian-shaped heatmaps whose
  peak is a 0-1 confidence. It starts slowly: almost every target pixel is 0, so the first epochs learn
  little more than "predict 0".
- ``softmax_ce``: each channel is a distribution over positions (a softmax over the heatmap's pixels) and
  the loss is its cross-entropy with the target Gaussian normalised to sum 1. Every pixel gets a gradient
  from the first step. Softmax is unchanged by adding a constant, so a second term pulls each channel's
  log-sum-exp to 0: the outputs are then log-probabilities, the peak's value (what decoding reports as
  the keypoint's confidence) is the log-probability of the peak pixel, <= 0, higher when sure.
"""

from __future__ import annotations

import keras
from keras import ops

LOSSES = ("mse", "softmax_ce")
_NORMALISING_WEIGHT = 0.1  # the log-sum-exp term; it does not compete with the cross-entropy (orthogonal)


@keras.saving.register_keras_serializable(package="edgepose")
class HeatmapLoss(keras.losses.Loss):
    def __init__(self, kind: str = "mse", name: str | None = None, **kwargs) -> None:
        if kind not in LOSSES:
            raise ValueError(f"heatmap loss '{kind}' is not one of {', '.join(LOSSES)}")
        super().__init__(name=name or f"heatmap_{kind}", **kwargs)
        self.kind = kind

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")  # mixed precision: the loss is always computed in float32
        if self.kind == "mse":
            return ops.mean(ops.square(y_true - y_pred), axis=(1, 2))  # (batch, K)
        return _softmax_cross_entropy(y_true, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "kind": self.kind}


def _softmax_cross_entropy(y_true, y_pred):
    """(batch, H, W, K) targets and logits → (batch, K) cross-entropy plus the normalising term."""
    logits = ops.reshape(ops.transpose(y_pred, (0, 3, 1, 2)), (ops.shape(y_pred)[0], ops.shape(y_pred)[3], -1))
    target = ops.reshape(ops.transpose(y_true, (0, 3, 1, 2)), ops.shape(logits))
    target = target / ops.maximum(ops.sum(target, axis=-1, keepdims=True), 1e-6)  # an empty channel stays 0
    log_sum_exp = ops.logsumexp(logits, axis=-1)
    cross_entropy = -ops.sum(target * (logits - log_sum_exp[..., None]), axis=-1)
    return cross_entropy + _NORMALISING_WEIGHT * ops.square(log_sum_exp)
