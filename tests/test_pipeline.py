"""Augmentation geometry and the tf.data pipeline.

The geometry tests draw a small Gaussian blob at one keypoint, push image and keypoints through the
crop and augmentation, and check that the blob's centroid in the crop is where the keypoint landed: the
image and its labels must go through exactly the same map, whatever the transforms and their order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from edgepose.config.schema import DataAugmentation
from edgepose.data import heatmaps
from edgepose.data.pipeline import PipelineSpec, crop_sample, encode_heatmaps, evaluation_dataset, training_dataset
from edgepose.data.samples import PersonSample
from edgepose.skeletons import COCO17

HEIGHT, WIDTH = 200, 160
BOX = np.array([30, 30, 100, 140], np.float32)
INPUT = (128, 96)


def _keypoints(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = np.zeros((17, 3), np.float32)
    points[:, 0] = rng.uniform(45, 115, 17)
    points[:, 1] = rng.uniform(45, 155, 17)
    points[:, 2] = 2
    return points


def _blob_image(path: Path, x: float, y: float) -> Path:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    blob = 255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
    Image.fromarray(np.repeat(blob.astype(np.uint8)[..., None], 3, axis=-1)).save(path)
    return path


def _centroid(image: np.ndarray) -> tuple[float, float]:
    weight = np.clip(image - 0.3 * image.max(), 0, None)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    return float((weight * xx).sum() / weight.sum()), float((weight * yy).sum() / weight.sum())


def _crop(path: Path, keypoints: np.ndarray, augmentation: dict | None, seed: int) -> dict:
    spec = PipelineSpec(
        INPUT, 4, COCO17, augmentation=DataAugmentation.model_validate(augmentation) if augmentation else None
    )
    columns = {"path": tf.constant(str(path)), "bbox": tf.constant(BOX), "keypoints": tf.constant(keypoints)}
    # Traced as tf.data traces it: graph-mode optimizations have broken crop maths before.
    out = tf.function(lambda row: crop_sample(row, tf.constant([seed, 7], tf.int64), spec))(columns)
    return {key: value.numpy() for key, value in out.items()}


GEOMETRY = {
    "crop only": None,
    "flip": {"random_flip": {"change_rate": 1.0}},
    "rotation": {"random_rotation": {"factor": 0.25}},
    "scale": {"random_scale": {"factor": [0.6, 1.4]}},
    "translation": {"random_translation": {"width_factor": 0.2, "height_factor": 0.2}},
    "all, one order": {
        "random_flip": {},
        "random_rotation": {"factor": 0.2},
        "random_scale": {},
        "random_translation": {},
    },
    "all, another order": {
        "random_translation": {},
        "random_scale": {},
        "random_rotation": {"factor": 0.2},
        "random_flip": {},
    },
}


@pytest.mark.parametrize("augmentation", GEOMETRY.values(), ids=GEOMETRY.keys())
def test_each_keypoint_lands_on_the_pixel_it_marks(tmp_path: Path, augmentation: dict | None) -> None:
    keypoints = _keypoints()
    permutation = COCO17.flip_permutation()
    checked = 0
    for k in (0, 5, 10, 15):
        path = _blob_image(tmp_path / f"blob{k}.png", *keypoints[k, :2])
        for seed in range(4):
            out = _crop(path, keypoints, augmentation, seed)
            # A flip swaps channels: the blob drawn for keypoint k is now labelled as its mirror twin.
            x, y, v = out["keypoints"][permutation[k] if out["flipped"] else k]
            if not (4 <= x <= INPUT[1] - 5 and 4 <= y <= INPUT[0] - 5):
                continue  # pushed out of (or against the edge of) the crop: the blob is cut
            assert v == 2
            cx, cy = _centroid(out["image"][..., 0])
            assert abs(cx - x) < 0.15 and abs(cy - y) < 0.15, (k, seed, (x, y), (cx, cy))
            checked += 1
    assert checked >= 8


def test_flip_swaps_left_and_right(tmp_path: Path) -> None:
    keypoints = _keypoints()
    path = _blob_image(tmp_path / "b.png", *keypoints[5, :2])  # left shoulder
    out = _crop(path, keypoints, {"random_flip": {"change_rate": 1.0}}, seed=0)
    assert out["flipped"]
    x, y, _ = out["keypoints"][6]  # now labelled right shoulder
    cx, cy = _centroid(out["image"][..., 0])
    assert abs(cx - x) < 0.15 and abs(cy - y) < 0.15
    plain = _crop(path, keypoints, None, seed=0)
    assert abs(x - (INPUT[1] - 1 - plain["keypoints"][5, 0])) < 1e-3  # mirrored about the crop's centre


def test_points_that_leave_the_crop_lose_their_label(tmp_path: Path) -> None:
    keypoints = _keypoints()
    path = _blob_image(tmp_path / "b.png", 80, 100)
    out = _crop(path, keypoints, {"random_scale": {"factor": [3.0, 3.0]}}, seed=0)
    x, y, v = out["keypoints"].T
    outside = (x < -0.5) | (x > INPUT[1] - 0.5) | (y < -0.5) | (y > INPUT[0] - 0.5)
    assert outside.any() and (~outside).any()
    assert (v[outside] == 0).all() and (v[~outside] == 2).all()


def test_photometric_augmentations_move_nothing(tmp_path: Path) -> None:
    keypoints = _keypoints()
    path = _blob_image(tmp_path / "b.png", *keypoints[0, :2])
    plain = _crop(path, keypoints, None, seed=0)
    augmented = _crop(
        path,
        keypoints,
        {"random_brightness": {"factor": 0.1}, "random_contrast": {}, "random_blur": {"change_rate": 1.0}},
        seed=1,
    )
    np.testing.assert_allclose(augmented["keypoints"], plain["keypoints"])
    assert not np.allclose(augmented["image"], plain["image"])
    x, y, _ = plain["keypoints"][0]
    cx, cy = _centroid(augmented["image"][..., 0])
    assert abs(cx - x) < 0.15 and abs(cy - y) < 0.15


def test_graph_heatmaps_match_the_numpy_encoder() -> None:
    spec = PipelineSpec((128, 96), 4, COCO17, sigma=2.0)
    keypoints = _keypoints()
    keypoints[:, :2] -= 40
    keypoints[3, 2] = 0
    keypoints[4, :2] = (200, 10)  # outside the crop
    expected, expected_weights = heatmaps.encode(keypoints, spec.heatmap_size, spec.stride, spec.sigma)
    got, weights = encode_heatmaps(tf.constant(keypoints), spec)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(weights.numpy(), expected_weights)
    assert weights.numpy()[3] == 0 and weights.numpy()[4] == 0


def _dataset_on_disk(tmp_path: Path, count: int) -> list[PersonSample]:
    samples = []
    for index in range(count):
        keypoints = _keypoints(index)
        path = _blob_image(tmp_path / f"img{index}.png", *keypoints[0, :2])
        samples.append(PersonSample(path, BOX.copy(), keypoints, (HEIGHT, WIDTH), 1000.0, f"img{index}"))
    return samples


def _batches(dataset: tf.data.Dataset) -> list:
    return [tuple(np.asarray(part) for part in batch) for batch in dataset.as_numpy_iterator()]


def test_training_batches_are_shaped_and_seeded(tmp_path: Path) -> None:
    samples = _dataset_on_disk(tmp_path, 6)
    augmentation = DataAugmentation.model_validate({"random_flip": {}, "random_rotation": {}, "random_brightness": {}})
    spec = PipelineSpec(INPUT, 4, COCO17, augmentation=augmentation)
    first = _batches(training_dataset(samples, spec, batch_size=4, seed=5))
    again = _batches(training_dataset(samples, spec, batch_size=4, seed=5))
    other = _batches(training_dataset(samples, spec, batch_size=4, seed=6))
    images, targets, weights = first[0]
    assert images.shape == (4, 128, 96, 3) and images.dtype == np.float32
    assert targets.shape == (4, 32, 24, 17) and weights.shape == (4, 17)
    assert images.min() >= -1.0 and images.max() <= 1.0  # rescaled by 1/127.5 - 1
    assert sum(len(batch[0]) for batch in first) == 6
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(first[0][0], other[0][0])


def test_periodic_resizing_keeps_the_shape_and_changes_every_period(tmp_path: Path) -> None:
    samples = _dataset_on_disk(tmp_path, 8)
    resizing = {"random_periodic_resizing": {"image_sizes": [[32, 24], [64, 48]], "period": 2}}
    spec = PipelineSpec(INPUT, 4, COCO17, augmentation=DataAugmentation.model_validate(resizing))
    plain = PipelineSpec(INPUT, 4, COCO17)
    batches = _batches(training_dataset(samples, spec, batch_size=1, seed=0, shuffle=False))
    originals = _batches(training_dataset(samples, plain, batch_size=1, seed=0, shuffle=False))
    assert all(batch[0].shape == (1, 128, 96, 3) for batch in batches)
    # Down to at most 64x48 and back loses detail; the blob's peak gets lower and wider.
    assert all(b[0].max() < o[0].max() for b, o in zip(batches, originals, strict=True))


def test_an_undecodable_image_is_dropped_not_fatal(tmp_path: Path) -> None:
    samples = _dataset_on_disk(tmp_path, 5)
    data = samples[2].image.read_bytes()
    samples[2].image.write_bytes(data[: len(data) // 3])  # header intact, pixels truncated
    spec = PipelineSpec(INPUT, 4, COCO17)
    batches = _batches(training_dataset(samples, spec, batch_size=2, seed=0))
    assert sum(len(batch[0]) for batch in batches) == 4
    indices = np.concatenate([batch["index"] for batch in evaluation_dataset(samples, spec, 2).as_numpy_iterator()])
    assert sorted(indices.tolist()) == [0, 1, 3, 4]


def test_evaluation_crops_are_unaugmented_and_carry_their_matrix(tmp_path: Path) -> None:
    samples = _dataset_on_disk(tmp_path, 3)
    augmentation = DataAugmentation.model_validate({"random_flip": {"change_rate": 1.0}})
    spec = PipelineSpec(INPUT, 4, COCO17, augmentation=augmentation)
    batch = next(evaluation_dataset(samples, spec, 3).as_numpy_iterator())
    assert batch["index"].tolist() == [0, 1, 2]
    for image, matrix, sample in zip(batch["image"], batch["matrix"], samples, strict=True):
        source = matrix @ np.array([*_centroid(image[..., 0]), 1.0])
        np.testing.assert_allclose(source[:2], sample.keypoints[0, :2], atol=0.15)
