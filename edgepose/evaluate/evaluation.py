"""``edgepose evaluate``: score one model on one dataset and write what a reviewer needs to check it.

Outputs in the run directory: ``metrics.json`` (overall and per keypoint), ``results.json`` (predictions
in COCO results format) with ``ground_truth.json`` (the people scored, in COCO format, so that
``COCOeval`` can be re-run on the two files by anyone), and ``predictions.png`` (predictions drawn over
ground truth on the crops).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgepose.config.schema import Config
from edgepose.data.pipeline import PipelineSpec, evaluation_dataset
from edgepose.data.samples import PersonSample
from edgepose.evaluate import loop, metrics
from edgepose.runs import Run
from edgepose.runtime.runner import Runner

METRICS, RESULTS, GROUND_TRUTH, PICTURE = "metrics.json", "results.json", "ground_truth.json", "predictions.png"


def evaluate(
    runner: Runner,
    samples: Sequence[PersonSample],
    config: Config,
    run: Run | None = None,
    progress=None,
) -> dict:
    """Predict, score and (with ``run``) write the outputs; returns the metrics. A config that leaves the
    keypoint count to the data scores as many as the model predicts."""
    if config.dataset.keypoints is None:
        config = config.model_copy(deep=True)
        config.dataset.keypoints = runner.keypoints
    spec = PipelineSpec.from_config(config, runner.input_shape[:2], augment_data=False)
    settings = config.evaluation
    chosen = list(samples[: settings.max_samples]) if settings.max_samples else list(samples)
    predictions = loop.predict(
        runner, chosen, spec, config.training.batch_size, settings.refine, settings.flip_test, progress
    )
    scores = loop.score(chosen, predictions, spec.skeleton, settings.pck_threshold)
    scores["model"] = runner.describe()
    scores["settings"] = {"refine": settings.refine, "flip_test": settings.flip_test}
    if run is not None:
        _write(run, chosen, predictions, scores, spec)
        run.log_metrics(scores)
    return scores


def _write(run: Run, samples: Sequence[PersonSample], predictions: loop.Predictions, scores: dict, spec) -> None:
    gt = np.stack([s.keypoints for s in samples])
    boxes = np.stack([s.bbox for s in samples])
    areas = np.array([s.area for s in samples])
    truth = metrics.coco_ground_truth(gt, boxes, areas, spec.skeleton)
    for image, sample in zip(truth["images"], samples, strict=True):
        image["file_name"] = str(sample.image)
        image["height"], image["width"] = sample.image_size
    results = metrics.coco_results(predictions.keypoints, predictions.scores)
    for result, found in zip(results, predictions.found, strict=True):
        result["found"] = bool(found)
    run.write_json(GROUND_TRUTH, truth)
    run.write_json(RESULTS, [r for r in results if r.pop("found")])
    run.write_json(METRICS, scores)
    run.write_bytes(PICTURE, prediction_picture(samples, predictions, spec))


def prediction_picture(
    samples: Sequence[PersonSample], predictions: loop.Predictions, spec: PipelineSpec, count: int = 16
) -> bytes:
    """A PNG grid of crops: ground truth in green, predictions in the skeleton's colours."""
    import cv2

    from edgepose.draw import draw_skeleton, image_grid

    chosen = list(range(min(count, len(samples))))
    crops = []
    batch = next(evaluation_dataset([samples[i] for i in chosen], spec, len(chosen)).as_numpy_iterator())
    for position, matrix in zip(batch["index"], batch["matrix"], strict=True):
        image = ((batch["image"][list(batch["index"]).index(position)] - spec.offset) / spec.scale).clip(0, 255)
        image = np.ascontiguousarray(np.repeat(image, 3, -1) if image.shape[-1] == 1 else image).astype(np.uint8)
        inverse = np.linalg.inv(matrix)
        index = chosen[position]
        truth = _to_crop(samples[index].keypoints, inverse)
        guess = _to_crop(predictions.keypoints[index], inverse, visibility=2.0)
        image = draw_skeleton(image, truth, spec.skeleton, color=(0, 200, 0))
        crops.append(draw_skeleton(image, guess, spec.skeleton))
    grid = image_grid(crops, columns=4)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return encoded.tobytes() if ok else b""


def _to_crop(keypoints: np.ndarray, inverse: np.ndarray, visibility: float | None = None) -> np.ndarray:
    xy = np.c_[keypoints[:, :2], np.ones(len(keypoints))] @ inverse.T
    v = keypoints[:, 2] if visibility is None else np.full(len(keypoints), visibility)
    return np.c_[xy[:, :2], v].astype(np.float32)


def write_path(run: Run) -> Path:
    return run.path / METRICS
