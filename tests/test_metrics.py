"""Metrics on hand-computed cases, and COCO AP through pycocotools."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgepose.evaluate import metrics
from edgepose.skeletons import COCO17, HAND21


def test_oks_by_hand():
    sigmas = np.array([0.1, 0.2])
    gt = np.array([[[10, 10, 2], [20, 20, 1]]], np.float64)
    pred = np.array([[[13, 14, 1], [20, 20, 1]]], np.float64)  # first point 5 px off, second exact
    area = np.array([100.0])
    # e = d² / (2σ)² / area / 2 = 25 / 0.04 / 100 / 2 = 3.125
    expected = (math.exp(-3.125) + 1.0) / 2
    assert metrics.oks(pred, gt, area, sigmas)[0] == pytest.approx(expected)


def test_oks_ignores_unlabelled_points_and_is_nan_without_any():
    sigmas = np.array([0.1, 0.2])
    gt = np.array([[[10, 10, 2], [20, 20, 0]], [[0, 0, 0], [0, 0, 0]]], np.float64)
    pred = np.array([[[10, 10, 1], [90, 90, 1]], [[5, 5, 1], [5, 5, 1]]], np.float64)
    result = metrics.oks(pred, gt, np.array([100.0, 100.0]), sigmas)
    assert result[0] == pytest.approx(1.0)
    assert math.isnan(result[1])


def test_pck_and_pixel_error_by_hand():
    gt = np.array([[[0, 0, 2], [10, 0, 2], [0, 10, 0]]], np.float64)
    pred = np.array([[[3, 4, 1], [10, 9, 1], [50, 50, 1]]], np.float64)  # 5 px, 9 px, unlabelled
    boxes = np.array([[0, 0, 40, 20]], np.float64)  # max side 40 → PCK@0.2 threshold 8 px
    np.testing.assert_allclose(metrics.pck(pred, gt, boxes, 0.2)[:2], [1.0, 0.0])
    assert math.isnan(metrics.pck(pred, gt, boxes, 0.2)[2])
    distances = metrics.keypoint_distances(pred, gt)
    assert np.nanmean(distances) == pytest.approx(7.0)


def _people(count: int, skeleton, rng):
    gt = np.zeros((count, skeleton.num_keypoints, 3))
    gt[..., :2] = rng.uniform(20, 180, size=(count, skeleton.num_keypoints, 2))
    gt[..., 2] = rng.choice([0, 1, 2], p=[0.1, 0.2, 0.7], size=(count, skeleton.num_keypoints))
    gt[gt[..., 2] == 0, :2] = 0
    boxes = np.tile([10.0, 10.0, 180.0, 180.0], (count, 1))
    return gt, boxes, boxes[:, 2] * boxes[:, 3] * 0.5


@pytest.mark.parametrize("skeleton", [COCO17, HAND21])
def test_ground_truth_as_predictions_scores_ap_one(skeleton):
    rng = np.random.default_rng(1)
    gt, boxes, areas = _people(40, skeleton, rng)
    pred = gt.copy()
    pred[..., 2] = 1.0
    scores = metrics.coco_keypoint_ap(pred, np.ones(len(gt)), gt, boxes, areas, skeleton)
    assert scores.ap == pytest.approx(1.0) and scores.ar == pytest.approx(1.0)
    assert np.nanmean(metrics.oks(pred, gt, areas, np.array(skeleton.sigmas))) == pytest.approx(1.0)


def test_perturbed_predictions_score_lower_the_more_they_are_perturbed():
    rng = np.random.default_rng(2)
    gt, boxes, areas = _people(60, COCO17, rng)
    results = []
    for noise in (0.0, 4.0, 10.0, 30.0):
        pred = gt.copy()
        pred[..., :2] += rng.normal(0, noise, size=pred[..., :2].shape)
        pred[..., 2] = 1.0
        results.append(metrics.coco_keypoint_ap(pred, np.ones(len(gt)), gt, boxes, areas, COCO17).ap)
    assert results[0] == pytest.approx(1.0)
    assert results[0] > results[1] > results[2] > results[3]


def test_results_json_shape():
    pred = np.arange(2 * 17 * 3, dtype=np.float64).reshape(2, 17, 3)
    results = metrics.coco_results(pred, np.array([0.9, 0.8]))
    assert [r["image_id"] for r in results] == [1, 2]
    assert len(results[0]["keypoints"]) == 51 and results[1]["score"] == 0.8
