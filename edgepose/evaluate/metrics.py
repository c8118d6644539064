"""Pose metrics, as the field computes them.

- **OKS** (object keypoint similarity), COCO's definition: for each labelled keypoint,
  ``exp(-d² / (2 · area · (2σ)²))``, averaged over the labelled keypoints; ``area`` is the person's
  segment (or box) area and σ the keypoint's sigma from the skeleton.
- **mean OKS**: OKS averaged over people, the single number the STM32 model zoo reports.
- **PCK@t**: the share of labelled keypoints closer than ``t × max(box width, box height)``.
- **pixel error**: mean Euclidean distance over labelled keypoints, in input pixels.
- **AP/AR**: pycocotools' COCOeval on keypoints (AP, AP50, AP75, AR) with the skeleton's sigmas.

Arrays: ground truth and predictions are ``(N, K, 3)``; for predictions the third column is a per-keypoint
confidence. Boxes are ``(N, 4)`` as COCO's ``x, y, w, h``; areas ``(N,)``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from edgepose.skeletons import Skeleton


def oks(pred: np.ndarray, gt: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS of each prediction with its ground truth, ``(N,)``; NaN for people with no labelled keypoint."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    variances = (2 * np.asarray(sigmas, np.float64)) ** 2
    squared = ((pred[..., :2] - gt[..., :2]) ** 2).sum(axis=-1)
    # COCO adds machine epsilon to the area so that a zero-area person does not divide by zero.
    e = squared / variances / (np.asarray(areas, np.float64)[:, None] + np.spacing(1)) / 2
    labelled = gt[..., 2] > 0
    count = labelled.sum(axis=-1)
    total = (np.exp(-e) * labelled).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def keypoint_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance per keypoint ``(N, K)``; NaN where the keypoint is not labelled."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    distance = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    return np.where(gt[..., 2] > 0, distance, np.nan)


def pck(pred: np.ndarray, gt: np.ndarray, boxes: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Per-keypoint PCK ``(K,)``: share of labelled keypoints within ``threshold × max(w, h)`` of the truth."""
    distance = keypoint_distances(pred, gt)
    scale = np.asarray(boxes, np.float64)[:, 2:4].max(axis=-1, keepdims=True)
    correct = np.where(np.isnan(distance), np.nan, (distance <= threshold * scale).astype(np.float64))
    with np.errstate(invalid="ignore"), warnings_off():
        return np.nanmean(correct, axis=0)


@contextlib.contextmanager
def warnings_off():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN column is NaN, on purpose
        yield


@dataclass
class CocoScores:
    ap: float
    ap50: float
    ap75: float
    ar: float

    def as_dict(self) -> dict[str, float]:
        return {"AP": self.ap, "AP50": self.ap50, "AP75": self.ap75, "AR": self.ar}


def coco_keypoint_ap(
    pred: np.ndarray,
    scores: np.ndarray,
    gt: np.ndarray,
    boxes: np.ndarray,
    areas: np.ndarray,
    skeleton: Skeleton,
) -> CocoScores:
    """COCO keypoint AP/AR through pycocotools' COCOeval, one person per image (single-pose, top-down).

    ``scores`` ``(N,)`` rank the predictions (e.g. mean keypoint confidence).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dataset = coco_ground_truth(gt, boxes, areas, skeleton)
    results = coco_results(pred, scores)
    with contextlib.redirect_stdout(io.StringIO()):  # COCO prints progress lines we do not want
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        detections = truth.loadRes(results) if results else COCO()
        evaluator = COCOeval(truth, detections, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(skeleton.sigmas, np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [max(float(s), 0.0) for s in evaluator.stats]  # COCO uses -1 for "no ground truth"
    return CocoScores(ap=stats[0], ap50=stats[1], ap75=stats[2], ar=stats[5])


def coco_ground_truth(gt: np.ndarray, boxes: np.ndarray, areas: np.ndarray, skeleton: Skeleton) -> dict:
    """A COCO keypoints dataset dict with one image and one person per sample (ids from 1)."""
    gt = np.asarray(gt, np.float64)
    annotations = []
    for index, (keypoints, box, area) in enumerate(zip(gt, boxes, areas, strict=True), start=1):
        annotations.append(
            {
                "id": index,
                "image_id": index,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [float(b) for b in box],
                "area": float(area),
                "num_keypoints": int((keypoints[:, 2] > 0).sum()),
                "keypoints": [float(x) for x in keypoints.reshape(-1)],
            }
        )
    return {
        "images": [{"id": i} for i in range(1, len(gt) + 1)],
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "person" if skeleton.name.startswith("coco") else "hand",
                "keypoints": list(skeleton.keypoints),
                "skeleton": [[a + 1, b + 1] for a, b in skeleton.limbs],
            }
        ],
    }


def coco_results(pred: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Predictions as a COCO results list (the ``*_results.json`` format), image ids from 1."""
    pred = np.asarray(pred, np.float64)
    return [
        {
            "image_id": index,
            "category_id": 1,
            "keypoints": [float(x) for x in keypoints.reshape(-1)],
            "score": float(score),
        }
        for index, (keypoints, score) in enumerate(zip(pred, scores, strict=True), start=1)
    ]
