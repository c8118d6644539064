"""Augmentation as TensorFlow graph ops: geometry as one affine matrix, photometry on the pixels.

Everything here is plain TF (no ``py_function``), so the input pipeline can run on tf.data service
workers in other processes or on other machines.

Geometry. A crop is an affine map ``M`` (3x3, homogeneous) from crop pixels to source-image pixels, both in
the pixel-index convention (pixel ``i``'s centre at ``x = i``). The top-down crop and every geometric
augmentation (flip, rotation, scale, translation) compose into ``M`` in the order the config writes them,
so the image is resampled once and keypoints go through exactly the same map (``M⁻¹``). A flip also swaps
left/right keypoint channels. Points that leave the crop lose their label (``v = 0``).

Photometry (brightness, contrast, blur) acts on the warped pixels in [0, 255], in written order.
``random_periodic_resizing`` works on whole batches (see ``periodic_resize``).

Randomness is stateless: each sample carries a seed pair, so a sample's augmentation depends only on the
run's seed and its position in the stream, not on thread scheduling.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from edgepose.config.schema import DataAugmentation

GEOMETRIC = ("random_flip", "random_rotation", "random_scale", "random_translation")
PHOTOMETRIC = ("random_brightness", "random_contrast", "random_blur")


# ---------------------------------------------------------------------------------------------- matrices


def _translate(tx, ty) -> tf.Tensor:
    one, zero = tf.ones_like(tx), tf.zeros_like(tx)
    return tf.reshape(tf.stack([one, zero, tx, zero, one, ty, zero, zero, one]), (3, 3))


def _scale(sx, sy) -> tf.Tensor:
    zero, one = tf.zeros_like(sx), tf.ones_like(sx)
    return tf.reshape(tf.stack([sx, zero, zero, zero, sy, zero, zero, zero, one]), (3, 3))


def _rotate(angle) -> tf.Tensor:
    c, s = tf.cos(angle), tf.sin(angle)
    zero, one = tf.zeros_like(angle), tf.ones_like(angle)
    return tf.reshape(tf.stack([c, -s, zero, s, c, zero, zero, zero, one]), (3, 3))


def crop_matrix(bbox: tf.Tensor, input_size: tuple[int, int], padding: float) -> tf.Tensor:
    """``M`` for the top-down crop: the box, padded and widened to the input's aspect, fills the crop."""
    height, width = input_size
    bbox = tf.cast(bbox, tf.float32)
    # Indexing, not tf.unstack: TF 2.21's graph optimizer feeds unstack's first output into a later
    # tf.maximum of the others (seen here: max(w, h) came out as x), which silently shrinks every crop.
    x, y, w, h = bbox[0], bbox[1], bbox[2], bbox[3]
    centre_x, centre_y = x + w / 2 - 0.5, y + h / 2 - 0.5  # continuous box → pixel-index centre
    aspect = width / height
    side_w = tf.maximum(w, h * aspect) * padding
    pixel = side_w / width  # source pixels per crop pixel, the same on both axes (aspect preserved)
    out_centre = tf.constant([(width - 1) / 2, (height - 1) / 2])
    return _translate(centre_x, centre_y) @ _scale(pixel, pixel) @ _translate(-out_centre[0], -out_centre[1])


def augment_matrix(
    augmentation: DataAugmentation, input_size: tuple[int, int], seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(A, flipped)``: an affine map of crop pixels onto crop pixels, to be applied as ``M @ A``.

    Each transform acts about the crop's centre; they compose in the written order (the first written
    is applied to the image first).
    """
    height, width = input_size
    cx, cy = tf.constant((width - 1) / 2), tf.constant((height - 1) / 2)
    about_centre = (_translate(cx, cy), _translate(-cx, -cy))
    matrix = tf.eye(3)
    flipped = tf.constant(False)
    for index, (name, params) in enumerate(augmentation.pipeline()):
        if name not in GEOMETRIC:
            continue
        draw = _draws(seed, index)
        if name == "random_flip":
            flipped = draw(()) < params.change_rate
            step = _scale(tf.where(flipped, -1.0, 1.0), tf.constant(1.0))
        elif name == "random_rotation":
            step = _rotate(draw((), *params.factor) * 2 * math.pi)
        elif name == "random_scale":
            zoom = draw((), *params.factor)
            step = _scale(zoom, zoom)
        else:
            step = _translate(draw((), *params.width_factor) * width, draw((), *params.height_factor) * height)
        # The output of this step is sampled from its input at ``inverse(step)``; sampling maps go
        # crop→source, so a forward image transform T contributes T⁻¹ on the right of the chain.
        matrix = matrix @ about_centre[0] @ tf.linalg.inv(step) @ about_centre[1]
    return matrix, flipped


def _draws(seed: tf.Tensor, index: int):
    """Uniform draws for augmentation ``index``: independent streams per augmentation, same per sample."""
    counter = [0]

    def draw(shape, low=0.0, high=1.0):
        counter[0] += 1
        sub = tf.stack([seed[0], seed[1] + 1000 * (index + 1) + counter[0]])
        return tf.random.stateless_uniform(shape, sub, minval=low, maxval=high)

    return draw


# ---------------------------------------------------------------------------------------------- applying M


def warp(image: tf.Tensor, matrix: tf.Tensor, input_size: tuple[int, int], interpolation: str = "bilinear"):
    """Resample ``image`` so that crop pixel ``p`` shows source pixel ``M p`` (zeros outside)."""
    height, width = input_size
    row = tf.reshape(matrix, (9,))[:8] / matrix[2, 2]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None],
        transforms=row[None],
        output_shape=tf.constant([height, width]),
        interpolation="NEAREST" if interpolation == "nearest" else "BILINEAR",
        fill_mode="CONSTANT",
        fill_value=0.0,
    )[0]


def transform_keypoints(
    keypoints: tf.Tensor, matrix: tf.Tensor, input_size: tuple[int, int], flipped: tf.Tensor, flip_permutation
) -> tf.Tensor:
    """Source-image keypoints ``(K, 3)`` → crop keypoints, left/right swapped if ``flipped``; points
    outside the crop get ``v = 0``."""
    height, width = input_size
    keypoints = tf.cast(keypoints, tf.float32)
    xy1 = tf.concat([keypoints[:, :2], tf.ones_like(keypoints[:, :1])], axis=1)
    crop_xy = tf.transpose(tf.linalg.inv(matrix) @ tf.transpose(xy1))[:, :2]
    x, y = crop_xy[:, 0], crop_xy[:, 1]
    inside = (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
    visibility = tf.where(inside, keypoints[:, 2], 0.0)
    out = tf.concat([crop_xy, visibility[:, None]], axis=1)
    permutation = tf.constant(np.asarray(flip_permutation, np.int32))
    return tf.cond(flipped, lambda: tf.gather(out, permutation), lambda: out)


# ---------------------------------------------------------------------------------------------- photometry


def photometric(image: tf.Tensor, augmentation: DataAugmentation, seed: tf.Tensor) -> tf.Tensor:
    """Brightness, contrast and blur on a float image in [0, 255], in the written order."""
    for index, (name, params) in enumerate(augmentation.pipeline()):
        if name not in PHOTOMETRIC:
            continue
        draw = _draws(seed, index)
        if name == "random_brightness":
            image = image + draw((), -params.factor, params.factor) * 255.0
        elif name == "random_contrast":
            mean = tf.reduce_mean(image, axis=(0, 1), keepdims=True)
            image = (image - mean) * draw((), 1 - params.factor, 1 + params.factor) + mean
        elif name == "random_blur":
            size = draw((), float(params.filter_size[0]), float(params.filter_size[1]))
            blurred = gaussian_blur(image, size, max_size=params.filter_size[1])
            image = tf.where(draw(()) < params.change_rate, blurred, image)
        image = tf.clip_by_value(image, 0.0, 255.0)
    return image


def gaussian_blur(image: tf.Tensor, box_size: tf.Tensor, max_size: int) -> tf.Tensor:
    """A Gaussian as strong as a ``box_size``-pixel box filter (same standard deviation, ``size/√12``).

    A Gaussian with an odd, centred kernel keeps every feature where it was, which an even box filter
    would shift by half a pixel — and keypoints must stay on their pixels.
    """
    radius = max(1, math.ceil(max_size * 0.29 * 3))
    sigma = tf.maximum(box_size / math.sqrt(12.0), 1e-3)
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-(taps**2) / (2 * sigma**2))
    kernel /= tf.reduce_sum(kernel)
    channels = image.shape[-1]
    row = tf.tile(tf.reshape(kernel, (1, -1, 1, 1)), (1, 1, channels, 1))
    column = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), (1, 1, channels, 1))
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    out = tf.nn.depthwise_conv2d(padded, row, strides=(1, 1, 1, 1), padding="VALID")
    out = tf.nn.depthwise_conv2d(out, column, strides=(1, 1, 1, 1), padding="VALID")
    return out[0]


def periodic_resize(
    images: tf.Tensor, batch_index: tf.Tensor, sizes: list[tuple[int, int]], period: int, seed: int
) -> tf.Tensor:
    """Random periodic resizing, at a fixed tensor shape: every ``period`` batches one of ``sizes`` is
    drawn, and the batch is resampled to that resolution and back. The model sees the detail (and lack
    of it) of each resolution while its input shape stays static, as an MCU graph needs."""
    height, width = images.shape[1], images.shape[2]
    window = tf.cast(batch_index // period, tf.int32)
    choice = tf.random.stateless_uniform((), [seed, window], maxval=len(sizes), dtype=tf.int32)
    table = tf.constant(np.asarray(sizes, np.int32))
    size = table[choice]
    resized = tf.image.resize(images, size, method="bilinear", antialias=True)
    return tf.image.resize(resized, (height, width), method="bilinear")
