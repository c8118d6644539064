"""Heatmap targets and decoding: sub-pixel round trips, weights, flip test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepose.data import heatmaps
from edgepose.skeletons import COCO17


def test_coordinate_mapping_round_trips():
    xy = np.array([[0.0, 191.0], [95.5, 3.25]])
    np.testing.assert_allclose(heatmaps.from_heatmap(heatmaps.to_heatmap(xy, 4), 4), xy)
    # Heatmap pixel 0 is centred on input pixels 0..3, i.e. at x = 1.5.
    assert heatmaps.from_heatmap(np.array([0.0]), 4)[0] == pytest.approx(1.5)


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(min_value=6.0, max_value=185.0),
    y=st.floats(min_value=6.0, max_value=185.0),
    sigma=st.sampled_from([1.5, 2.0, 3.0]),
)
def test_round_trip_below_a_tenth_of_a_pixel_with_dark(x, y, sigma):
    kpts = np.array([[x, y, 2.0]], np.float32)
    target, weights = heatmaps.encode(kpts, (48, 48), stride=4, sigma=sigma)
    decoded, confidence = heatmaps.decode(target, stride=4, refine="dark")
    assert weights[0] == 1.0 and confidence[0] > 0.85
    assert np.hypot(*(decoded[0] - (x, y))) < 0.1


def test_refinement_beats_argmax():
    rng = np.random.default_rng(0)
    points = rng.uniform(8, 184, size=(200, 2)).astype(np.float32)
    errors = {}
    for refine in ("none", "quarter", "dark"):
        total = 0.0
        for x, y in points:
            target, _ = heatmaps.encode(np.array([[x, y, 2]]), (48, 48), 4, sigma=2.0)
            decoded, _ = heatmaps.decode(target, 4, refine=refine)
            total += float(np.hypot(*(decoded[0] - (x, y))))
        errors[refine] = total / len(points)
    assert errors["dark"] < 0.1 < errors["quarter"] < errors["none"]
    assert errors["none"] < 4 * 0.5 * np.sqrt(2)  # argmax is within half a heatmap pixel per axis


def test_target_weights():
    kpts = np.array([[50, 50, 2], [50, 50, 0], [500, 50, 2], [-30, 10, 1], [10, 10, 1]], np.float32)
    target, weights = heatmaps.encode(kpts, (48, 48), 4, keypoint_weights=[1, 1, 1, 1, 1.5])
    np.testing.assert_array_equal(weights, [1, 0, 0, 0, 1.5])
    assert target[:, :, 1:4].max() == 0  # unlabelled or outside: empty channel
    assert target[:, :, 0].max() == pytest.approx(1.0, abs=0.05) and target.dtype == np.float32


def test_dark_with_blur_on_a_noisy_heatmap():
    rng = np.random.default_rng(3)
    target, _ = heatmaps.encode(np.array([[101.3, 77.8, 2]]), (48, 48), 4, sigma=2.0)
    noisy = np.clip(target + rng.normal(0, 0.02, target.shape), 0, None).astype(np.float32)
    decoded, _ = heatmaps.decode(noisy, 4, refine="dark", blur_kernel=3)
    assert np.hypot(*(decoded[0] - (101.3, 77.8))) < 0.5


def test_peak_value_is_the_confidence():
    target, _ = heatmaps.encode(np.array([[40, 80, 2]]), (48, 48), 4)
    _, confidence = heatmaps.decode(target * 0.6, 4)
    assert confidence[0] == pytest.approx(0.6 * target.max())


def test_flip_heatmaps_matches_flipping_the_keypoints():
    kpts = np.zeros((17, 3), np.float32)
    kpts[COCO17.index("left_wrist")] = (30.0, 100.0, 2)
    kpts[COCO17.index("right_knee")] = (150.0, 40.0, 2)
    from edgepose.skeletons import flip_keypoints

    mirrored_kpts = flip_keypoints(kpts, width=192, skeleton=COCO17)
    mirrored_target, _ = heatmaps.encode(mirrored_kpts, (48, 48), 4)
    direct, _ = heatmaps.encode(kpts, (48, 48), 4)
    restored = heatmaps.flip_heatmaps(mirrored_target, COCO17.flip_permutation())
    np.testing.assert_allclose(restored, direct, atol=1e-5)


def _log_probabilities(target: np.ndarray) -> np.ndarray:
    """What a ``softmax_ce`` model outputs at its optimum: the log of the normalised Gaussian target."""
    log = np.log(np.maximum(target, 1e-30)) - np.log(target.sum(axis=(0, 1)))
    return np.maximum(log, -30.0).astype(np.float32)


@pytest.mark.parametrize("refine", ["dark", "integral"])
def test_log_probability_heatmaps_decode_as_their_gaussians_do(refine):
    rng = np.random.default_rng(4)
    for x, y in rng.uniform(14, 178, size=(50, 2)):
        target, _ = heatmaps.encode(np.array([[x, y, 2]]), (48, 48), 4, sigma=2.0)
        from_gaussian, _ = heatmaps.decode(target, 4, refine=refine)
        from_log, confidence = heatmaps.decode(_log_probabilities(target), 4, refine=refine)
        np.testing.assert_allclose(from_log, from_gaussian, atol=1e-3)
        assert confidence[0] < 0  # a log-probability
    assert np.hypot(*(from_log[0] - (x, y))) < (0.1 if refine == "dark" else 1.0)


def test_integral_averages_out_a_noisy_peak():
    rng = np.random.default_rng(1)
    errors = {"quarter": [], "dark": [], "integral": []}
    for x, y in rng.uniform(14, 178, size=(100, 2)):
        target, _ = heatmaps.encode(np.array([[x, y, 2]]), (48, 48), 4, sigma=2.0)
        noisy = _log_probabilities(target) + rng.normal(0, 0.3, target.shape).astype(np.float32)
        noisy -= np.log(np.exp(noisy).sum())  # still log-probabilities
        for refine, found in errors.items():
            decoded, _ = heatmaps.decode(noisy, 4, refine=refine)
            found.append(np.hypot(*(decoded[0] - (x, y))))
    # A pixel's noise moves the argmax, and the 3x3 rules with it; the 9x9 mean barely moves.
    assert np.mean(errors["integral"]) < 0.6 * min(np.mean(errors["quarter"]), np.mean(errors["dark"]))
