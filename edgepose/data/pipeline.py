"""The tf.data input pipeline: person samples → top-down crops → (image, heatmaps, target weights).

It is plain TensorFlow from the file name on (read, decode, warp, photometry, Gaussian targets), with no
Python callbacks, so it runs in parallel outside the GIL and can be shipped to tf.data service workers.
Loaders have already checked that every image exists and has a readable header; an image that still fails
to decode (truncated data) is dropped by ``ignore_errors`` with a logged warning instead of ending training.

Training elements: ``(image (H, W, C) float32, heatmaps (H/s, W/s, K) float32, weights (K,) float32)`` —
Keras' ``(x, y, sample_weight)``. Evaluation elements add what is needed to map predictions back to the
source image: ``{"index", "image", "matrix"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from edgepose.config.schema import Config, DataAugmentation
from edgepose.data import augment
from edgepose.data.samples import PersonSample
from edgepose.skeletons import Skeleton, skeleton_for


@dataclass(frozen=True)
class PipelineSpec:
    """What the pipeline needs to know, independent of where the data came from."""

    input_size: tuple[int, int]
    stride: int
    skeleton: Skeleton
    sigma: float = 1.5
    padding: float = 1.25
    scale: float = 1 / 127.5
    offset: float = -1.0
    color_mode: str = "rgb"
    interpolation: str = "bilinear"
    augmentation: DataAugmentation | None = None

    @classmethod
    def from_config(cls, config: Config, input_size: tuple[int, int], augment_data: bool = True) -> PipelineSpec:
        """``input_size`` comes from the model (the config may leave it to the model's default)."""
        pre = config.preprocessing
        return cls(
            input_size=tuple(input_size),
            stride=config.model.heatmap_stride,
            skeleton=skeleton_for(config.dataset.keypoints),
            sigma=config.training.heatmap_sigma,
            padding=config.dataset.bbox_padding,
            scale=pre.rescaling.scale,
            offset=pre.rescaling.offset,
            color_mode=pre.color_mode,
            interpolation=pre.resizing.interpolation,
            augmentation=config.data_augmentation if augment_data else None,
        )

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "grayscale" else 3


def sample_tensors(samples: Sequence[PersonSample]) -> dict[str, np.ndarray]:
    """The columns the pipeline reads: image paths, boxes and source-image keypoints."""
    if not samples:
        raise ValueError("no samples to build a pipeline from")
    return {
        "path": np.array([str(s.image) for s in samples]),
        "bbox": np.stack([s.bbox for s in samples]).astype(np.float32),
        "keypoints": np.stack([s.keypoints for s in samples]).astype(np.float32),
    }


def read_image(path: tf.Tensor) -> tf.Tensor:
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def to_model_input(image: tf.Tensor, spec: PipelineSpec) -> tf.Tensor:
    """Pixels in [0, 255] → what the model takes: colour order, then ``scale * x + offset``."""
    if spec.color_mode == "grayscale":
        image = tf.image.rgb_to_grayscale(image)
    elif spec.color_mode == "bgr":
        image = image[..., ::-1]
    return image * spec.scale + spec.offset


def encode_heatmaps(keypoints: tf.Tensor, spec: PipelineSpec) -> tuple[tf.Tensor, tf.Tensor]:
    """Gaussian targets and weights, the graph twin of ``edgepose.data.heatmaps.encode``."""
    height, width = spec.heatmap_size
    uv = (keypoints[:, :2] + 0.5) / spec.stride - 0.5
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
    weights = tf.cast((keypoints[:, 2] > 0) & inside, tf.float32)
    xs = tf.range(width, dtype=tf.float32)
    ys = tf.range(height, dtype=tf.float32)
    gx = tf.exp(-((xs[None, :] - uv[:, :1]) ** 2) / (2 * spec.sigma**2))
    gy = tf.exp(-((ys[None, :] - uv[:, 1:]) ** 2) / (2 * spec.sigma**2))
    heatmaps = tf.einsum("kh,kw->hwk", gy, gx) * weights
    return heatmaps, weights


def crop_sample(columns: dict, seed: tf.Tensor, spec: PipelineSpec) -> dict[str, tf.Tensor]:
    """One person: read, crop (with augmentation when ``spec.augmentation`` is set), keypoints to match."""
    image = read_image(columns["path"])
    matrix = augment.crop_matrix(columns["bbox"], spec.input_size, spec.padding)
    flipped = tf.constant(False)
    if spec.augmentation is not None:
        extra, flipped = augment.augment_matrix(spec.augmentation, spec.input_size, seed)
        matrix = matrix @ extra
    crop = augment.warp(image, matrix, spec.input_size, spec.interpolation)
    if spec.augmentation is not None:
        crop = augment.photometric(crop, spec.augmentation, seed)
    keypoints = augment.transform_keypoints(
        columns["keypoints"], matrix, spec.input_size, flipped, spec.skeleton.flip_permutation()
    )
    return {"image": crop, "keypoints": keypoints, "matrix": matrix, "flipped": flipped}


def training_dataset(
    samples: Sequence[PersonSample],
    spec: PipelineSpec,
    batch_size: int,
    seed: int | None = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Shuffled, augmented batches of ``(images, heatmaps, weights)``; a new draw every epoch.

    ``repeat`` makes the stream endless (give Keras ``steps_per_epoch``): epochs then never end on a short
    batch, and a dropped image does not shorten the epoch.
    """
    dataset = tf.data.Dataset.from_tensor_slices(sample_tensors(samples))
    if shuffle:
        dataset = dataset.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, seeds)

    def element(columns, draw):
        crop = crop_sample(columns, tf.stack([draw, tf.constant(0, tf.int64)]), spec)
        heatmaps, weights = encode_heatmaps(crop["keypoints"], spec)
        return crop["image"], heatmaps, weights

    dataset = dataset.map(element, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.ignore_errors(log_warning=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    resizing = spec.augmentation.random_periodic_resizing if spec.augmentation else None
    if resizing is not None:
        sizes = [tuple(size) for size in resizing.image_sizes]
        base = 0 if seed is None else seed

        def resize(index, batch):
            images, heatmaps, weights = batch
            return augment.periodic_resize(images, index, sizes, resizing.period, base), heatmaps, weights

        dataset = dataset.enumerate().map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(
        lambda images, heatmaps, weights: (to_model_input(images, spec), heatmaps, weights),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(samples: Sequence[PersonSample], spec: PipelineSpec, batch_size: int) -> tf.data.Dataset:
    """Batches of un-augmented crops in sample order, with each crop's index and matrix ``M``.

    A sample whose image fails to decode is dropped; its index is then missing from the stream, which the
    evaluation loop reports instead of silently shifting every later prediction.
    """
    columns = sample_tensors(samples)
    columns["index"] = np.arange(len(samples), dtype=np.int64)
    plain = PipelineSpec(**{**spec.__dict__, "augmentation": None})

    def element(row):
        crop = crop_sample(row, tf.constant([0, 0], tf.int64), plain)
        return {"index": row["index"], "image": to_model_input(crop["image"], plain), "matrix": crop["matrix"]}

    dataset = tf.data.Dataset.from_tensor_slices(columns).map(element, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.ignore_errors(log_warning=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)
