"""The evaluation loop: any Runner over a dataset's un-augmented crops, scored in source-image pixels.

Predictions are decoded from heatmaps in crop pixels and mapped back through the crop's matrix, so every
metric is computed where the ground truth lives: in the original image, as COCO's own evaluation does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from edgepose.data import heatmaps
from edgepose.data.pipeline import PipelineSpec, evaluation_dataset
from edgepose.data.samples import PersonSample
from edgepose.errors import ModelError
from edgepose.evaluate import metrics
from edgepose.runtime.runner import Runner
from edgepose.skeletons import Skeleton


@dataclass
class Predictions:
    keypoints: np.ndarray  # (N, K, 3): x, y in source pixels and the keypoint's confidence in [0, 1]
    scores: np.ndarray  # (N,) the person's score: mean keypoint confidence
    found: np.ndarray  # (N,) bool: False where the image could not be decoded


def spec_for(runner: Runner, spec: PipelineSpec) -> PipelineSpec:
    """The dataset's crop settings at the model's own input size and stride."""
    height, width, _ = runner.input_shape
    if runner.keypoints != spec.skeleton.num_keypoints:
        raise ModelError(
            f"{runner.source or 'the model'} predicts {runner.keypoints} keypoints but the dataset has "
            f"{spec.skeleton.num_keypoints}; set dataset.keypoints to match the model"
        )
    return replace(spec, input_size=(height, width), stride=runner.stride, augmentation=None)


def predict(
    runner: Runner,
    samples: Sequence[PersonSample],
    spec: PipelineSpec,
    batch_size: int = 32,
    refine: heatmaps.Refine = "integral",
    flip_test: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Predictions:
    spec = spec_for(runner, spec)
    permutation = spec.skeleton.flip_permutation()
    count, keypoints = len(samples), spec.skeleton.num_keypoints
    out = np.zeros((count, keypoints, 3), np.float32)
    found = np.zeros(count, bool)
    for batch in evaluation_dataset(samples, spec, batch_size).as_numpy_iterator():
        maps = runner.run(batch["image"])
        if flip_test:
            mirrored = runner.run(batch["image"][:, :, ::-1])
            maps = (maps + mirrored[:, :, ::-1, permutation]) / 2  # flip_heatmaps, batched
        for index, heatmap, matrix in zip(batch["index"], maps, batch["matrix"], strict=True):
            out[index] = source_keypoints(heatmap, matrix, spec.stride, refine)
            found[index] = True
        if progress:
            progress(len(batch["index"]))
    return Predictions(out, out[..., 2].mean(axis=-1), found)


def source_keypoints(heatmap: np.ndarray, matrix: np.ndarray, stride: int, refine: heatmaps.Refine) -> np.ndarray:
    """``(K, 3)``: one crop's heatmaps decoded, mapped back through its matrix, with each keypoint's confidence:
    the probability near the peak, not the peak's value, which as a person's score ranks better (COCO AP is
    computed over predictions sorted by score) and reads as a probability."""
    xy, _ = heatmaps.decode(heatmap, stride, refine)
    source = np.c_[xy, np.ones(len(xy))] @ matrix.T
    return np.c_[source[:, :2], heatmaps.peak_mass(heatmap)].astype(np.float32)


def score(
    samples: Sequence[PersonSample], predictions: Predictions, skeleton: Skeleton, pck_threshold: float = 0.2
) -> dict:
    """The numbers people compare: COCO AP/AR, mean OKS (as the STM32 model zoo reports it), PCK and
    mean pixel error — overall and per keypoint. Samples whose image failed to decode count as misses."""
    gt = np.stack([s.keypoints for s in samples]).astype(np.float64)
    boxes = np.stack([s.bbox for s in samples]).astype(np.float64)
    areas = np.array([s.area for s in samples], np.float64)
    pred = predictions.keypoints.astype(np.float64)
    pred[~predictions.found, :, :2] = -1e6  # far away: zero OKS, no PCK hit, no AP credit
    coco = metrics.coco_keypoint_ap(pred, predictions.scores, gt, boxes, areas, skeleton)
    per_person_oks = metrics.oks(pred, gt, areas, np.asarray(skeleton.sigmas))
    distances = metrics.keypoint_distances(pred, gt)
    scale = boxes[:, 2:4].max(axis=-1, keepdims=True)
    hits = np.where(np.isnan(distances), np.nan, (distances <= pck_threshold * scale).astype(np.float64))
    keypoint_oks = _keypoint_similarity(pred, gt, areas, np.asarray(skeleton.sigmas))
    with metrics.warnings_off():
        per_keypoint = [
            {
                "name": name,
                "labelled": int((gt[:, k, 2] > 0).sum()),
                "oks": _number(np.nanmean(keypoint_oks[:, k])),
                "pck": _number(np.nanmean(hits[:, k])),
                "error_px": _number(np.nanmean(distances[:, k])),
            }
            for k, name in enumerate(skeleton.keypoints)
        ]
        overall = {
            **coco.as_dict(),
            "mean_oks": _number(np.nanmean(per_person_oks)),
            f"pck@{pck_threshold:g}": _number(np.nanmean(hits)),
            "mean_error_px": _number(np.nanmean(distances)),
        }
    return {"samples": len(samples), "missed": int((~predictions.found).sum()), **overall, "per_keypoint": per_keypoint}


def _keypoint_similarity(pred: np.ndarray, gt: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Per-keypoint OKS terms ``exp(-d²/2s²k²)`` ``(N, K)``, NaN where unlabelled."""
    squared = ((pred[..., :2] - gt[..., :2]) ** 2).sum(axis=-1)
    e = squared / (2 * sigmas) ** 2 / (areas[:, None] + np.spacing(1)) / 2
    return np.where(gt[..., 2] > 0, np.exp(-e), np.nan)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)
