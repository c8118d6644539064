"""The evaluation loop and ``edgepose evaluate``.

An oracle runner that answers with perfect heatmaps (encoded from the ground truth it is handed) checks
the whole geometry chain — crop, decode, map back to the source image — without any training: it must
score AP = 1.0 and sub-pixel error. Scores then fall as the oracle's answers are perturbed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgepose.config import load_config
from edgepose.data import heatmaps
from edgepose.data.coco import write_coco
from edgepose.data.pipeline import PipelineSpec
from edgepose.data.samples import PersonSample
from edgepose.errors import ModelError
from edgepose.evaluate import loop
from edgepose.evaluate.evaluation import evaluate
from edgepose.runs import Run
from edgepose.runtime.runner import Runner
from edgepose.skeletons import COCO17


class OracleRunner(Runner):
    """Answers each crop with the Gaussian heatmaps of the true keypoints, plus optional noise in pixels.

    It is told the truth through the order of the crops: the loop feeds samples in order.
    """

    engine = "oracle (test stand-in for a model)"

    def __init__(self, crops_keypoints: list[np.ndarray], noise: float = 0.0, keypoints: int = 17) -> None:
        super().__init__()
        self.truth, self.noise, self.count = crops_keypoints, noise, keypoints
        self.rng = np.random.default_rng(0)
        self.calls = 0

    input_shape = property(lambda self: (128, 96, 3))
    output_shapes = property(lambda self: {"heatmaps": (32, 24, self.count)})

    def run_all(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {"heatmaps": self.run(inputs)}

    def run(self, inputs: np.ndarray) -> np.ndarray:
        out = []
        for _ in inputs:
            points = self.truth[self.calls].copy()
            points[:, :2] += self.rng.normal(0, self.noise, points[:, :2].shape) if self.noise else 0
            out.append(heatmaps.encode(points, (32, 24), 4, 2.0)[0])
            self.calls += 1
        return np.stack(out)


def _people(folder: Path, count: int = 12) -> list[PersonSample]:
    rng = np.random.default_rng(1)
    samples = []
    for index in range(count):
        path = folder / f"person{index}.png"
        Image.fromarray(rng.integers(0, 255, (180, 150, 3), dtype=np.uint8)).save(path)
        box = np.array([rng.uniform(5, 30), rng.uniform(5, 30), rng.uniform(60, 100), rng.uniform(90, 140)], np.float32)
        points = np.zeros((17, 3), np.float32)
        points[:, 0] = box[0] + rng.uniform(0.1, 0.9, 17) * box[2]
        points[:, 1] = box[1] + rng.uniform(0.1, 0.9, 17) * box[3]
        points[:, 2] = 2
        points[rng.integers(0, 17, 2), 2] = 0
        samples.append(PersonSample(path, box, points, (180, 150), float(box[2] * box[3] * 0.6), path.name))
    return samples


def _crop_truth(samples: list[PersonSample], spec: PipelineSpec) -> list[np.ndarray]:
    """The true keypoints in each crop's pixels (what a perfect model would output)."""
    from edgepose.data.pipeline import evaluation_dataset

    truth = {}
    for batch in evaluation_dataset(samples, spec, 64).as_numpy_iterator():
        for index, matrix in zip(batch["index"], batch["matrix"], strict=True):
            points = samples[index].keypoints.copy()
            xy = np.c_[points[:, :2], np.ones(17)] @ np.linalg.inv(matrix).T
            points[:, :2] = xy[:, :2]
            truth[index] = points
    return [truth[i] for i in range(len(samples))]


SPEC = PipelineSpec((128, 96), 4, COCO17)


def test_a_perfect_model_scores_ap_one_and_subpixel_error(tmp_path: Path) -> None:
    samples = _people(tmp_path)
    runner = OracleRunner(_crop_truth(samples, SPEC))
    predictions = loop.predict(runner, samples, SPEC, batch_size=5, refine="dark")
    scores = loop.score(samples, predictions, COCO17)
    assert scores["AP"] == pytest.approx(1.0)
    assert scores["mean_oks"] > 0.999
    assert scores["pck@0.2"] == 1.0
    assert scores["mean_error_px"] < 0.1  # in source pixels, after the crop's inverse map
    assert all(k["labelled"] > 0 for k in scores["per_keypoint"])


def test_scores_fall_as_predictions_get_worse(tmp_path: Path) -> None:
    samples = _people(tmp_path)
    truth = _crop_truth(samples, SPEC)
    results = []
    for noise in (0.0, 1.5, 4.0):
        predictions = loop.predict(OracleRunner(truth, noise), samples, SPEC, refine="dark")
        results.append(loop.score(samples, predictions, COCO17))
    assert results[0]["AP"] > results[1]["AP"] > results[2]["AP"]
    assert results[0]["mean_oks"] > results[1]["mean_oks"] > results[2]["mean_oks"]
    assert results[0]["mean_error_px"] < results[1]["mean_error_px"] < results[2]["mean_error_px"]


def test_flip_test_averages_with_the_mirrored_crop(tmp_path: Path) -> None:
    from edgepose.skeletons import flip_keypoints

    samples = _people(tmp_path, 4)
    truth = _crop_truth(samples, SPEC)
    mirrored = [flip_keypoints(points, 96, COCO17) for points in truth]
    # Batches of 4: the loop asks for the crops, then for their mirror images.
    runner = OracleRunner(truth[:4] + mirrored[:4])
    predictions = loop.predict(runner, samples, SPEC, batch_size=4, refine="dark", flip_test=True)
    assert runner.calls == 8
    scores = loop.score(samples, predictions, COCO17)
    assert scores["mean_error_px"] < 0.1  # the mirrored answer, mapped back, agrees with the direct one
    wrong = OracleRunner(truth[:4] + truth[:4])  # a model that ignores the mirror is caught by the average
    assert loop.score(samples, loop.predict(wrong, samples, SPEC, 4, "dark", True), COCO17)["mean_error_px"] > 1


def test_a_model_with_other_keypoints_is_refused(tmp_path: Path) -> None:
    samples = _people(tmp_path, 2)
    with pytest.raises(ModelError, match="predicts 21 keypoints but the dataset has 17"):
        loop.predict(OracleRunner([], keypoints=21), samples, SPEC)


def test_evaluation_writes_files_that_cocoeval_reproduces(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    samples = _people(tmp_path)
    config = load_config(None, ["model.input_size=(128, 96)"])
    runner = OracleRunner(_crop_truth(samples, SPEC), noise=1.0)
    run = Run.create("evaluate", tmp_path / "run", config=config)
    with run:
        scores = evaluate(runner, samples, config, run)
    written = json.loads((run.path / "metrics.json").read_text())
    assert written["AP"] == pytest.approx(scores["AP"]) and 0 < written["AP"] < 1
    assert {k["name"] for k in written["per_keypoint"]} == set(COCO17.keypoints)
    truth = COCO(str(run.path / "ground_truth.json"))
    detections = truth.loadRes(str(run.path / "results.json"))
    evaluator = COCOeval(truth, detections, iouType="keypoints")
    evaluator.params.kpt_oks_sigmas = np.asarray(COCO17.sigmas)
    evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(written["AP"])
    with Image.open(run.path / "predictions.png") as picture:
        assert picture.format == "PNG" and picture.width >= 4 * 96
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {"metrics.json", "results.json", "ground_truth.json", "predictions.png"} <= {
        o["path"] for o in manifest["outputs"]
    }


def test_evaluate_cli_scores_a_keras_model(tmp_path: Path, edgepose) -> None:
    import keras

    samples = _people(tmp_path, 6)
    annotations = write_coco(samples, tmp_path / "person_keypoints_val.json", COCO17.keypoints)
    inputs = keras.Input((128, 96, 3))
    outputs = keras.layers.Conv2D(17, 3, strides=4, padding="same")(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "model.keras")
    result = edgepose("evaluate", str(tmp_path / "model.keras"), "--data", str(annotations), "--out", "ev")
    assert result.returncode == 0, result.stderr
    assert "AP50" in result.stdout and "left_shoulder" in result.stdout
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["samples"] == 6 and metrics["model"]["engine"] == "keras"


def test_evaluate_cli_names_a_corrupt_model(tmp_path: Path, edgepose) -> None:
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    result = edgepose("evaluate", "broken.keras", "--data", "synthetic")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "broken.keras" in result.stderr
