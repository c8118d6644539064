"""The heatmap losses on hand-computed cases: per-keypoint values, the target weights' channels, the
softmax cross-entropy's normalisation, and a checkpoint that keeps which loss it was trained with."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.train.losses import HeatmapLoss


def _values(kind: str, target: np.ndarray, output: np.ndarray) -> np.ndarray:
    return np.asarray(HeatmapLoss(kind).call(target.astype(np.float32), output.astype(np.float32)))


def _gaussian(size: int, x: float, y: float, sigma: float = 1.5) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))


def test_mse_is_the_mean_square_per_keypoint() -> None:
    target = np.zeros((1, 4, 4, 2))
    target[0, 1, 2, 0] = 1.0
    output = np.zeros((1, 4, 4, 2))
    output[0, :, :, 1] = 0.5
    assert np.allclose(_values("mse", target, output), [[1 / 16, 0.25]])


def test_softmax_ce_at_the_normalised_log_target_is_the_target_entropy() -> None:
    target = np.stack([_gaussian(8, 2.0, 5.0), _gaussian(8, 6.3, 1.2)], axis=-1)[None]
    p = target / target.sum(axis=(1, 2), keepdims=True)
    entropy = -(p * np.log(p)).sum(axis=(1, 2))
    assert np.allclose(_values("softmax_ce", target, np.log(p)), entropy, rtol=1e-5)


def test_softmax_ce_prefers_the_right_place_and_normalised_outputs() -> None:
    target = _gaussian(8, 2.0, 5.0)[None, :, :, None]
    right = np.log(target / target.sum())
    wrong = np.roll(right, 3, axis=2)
    assert _values("softmax_ce", target, right)[0, 0] < _values("softmax_ce", target, wrong)[0, 0]
    # the same distribution shifted by a constant has the same cross-entropy, plus the normalising term
    shifted = _values("softmax_ce", target, right + 2.0)[0, 0] - _values("softmax_ce", target, right)[0, 0]
    assert shifted == pytest.approx(0.1 * 2.0**2, rel=1e-4)


def test_softmax_ce_of_an_unlabelled_keypoint_is_only_the_normalising_term() -> None:
    target = np.zeros((1, 6, 6, 1))  # a keypoint outside the crop: an all-zero target (and weight 0)
    output = np.full((1, 6, 6, 1), -np.log(36.0))  # uniform log-probabilities: log-sum-exp is 0
    assert _values("softmax_ce", target, output)[0, 0] == pytest.approx(0.0, abs=1e-5)


def test_an_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="softmax_ce"):
        HeatmapLoss("l1")


def test_a_checkpoint_remembers_its_loss(tmp_path) -> None:
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    model.compile(optimizer="adam", loss=HeatmapLoss("softmax_ce"))
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").loss.kind == "softmax_ce"
