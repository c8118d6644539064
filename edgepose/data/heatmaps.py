"""Gaussian heatmap targets and their decoding back to keypoints.

Coordinates: input pixels follow the pixel-index convention (pixel ``i``'s centre at ``x = i``). With an
output stride ``s``, heatmap pixel ``j`` covers input pixels ``[j*s, (j+1)*s)``, so centres line up when

    u = (x + 0.5) / s - 0.5        and back        x = (u + 0.5) * s - 0.5

Targets are Gaussians centred at the exact (sub-pixel) heatmap position, so a decoder with sub-pixel
refinement can recover positions far below one heatmap pixel.

Arrays: heatmaps are ``(H, W, K)`` float32 (NHWC without the batch, as Keras produces them); keypoints are
``(K, 3)`` ``x, y, v`` in input pixels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Refine = Literal["none", "quarter", "dark", "integral"]
INTEGRAL_RADIUS = 4  # the integral window is 9x9 heatmap pixels: +-2 sigma of a sigma-2 peak (7x7 cut it short)


def to_heatmap(xy: np.ndarray, stride: int) -> np.ndarray:
    return (np.asarray(xy, dtype=np.float32) + 0.5) / stride - 0.5


def from_heatmap(uv: np.ndarray, stride: int) -> np.ndarray:
    return (np.asarray(uv, dtype=np.float32) + 0.5) * stride - 0.5


def encode(
    keypoints: np.ndarray,
    heatmap_size: tuple[int, int],
    stride: int,
    sigma: float = 2.0,
    keypoint_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets ``(H, W, K)`` in [0, 1] and per-keypoint target weights ``(K,)``.

    A keypoint's weight is 0 when it is not labelled (``v == 0``) or its centre falls outside the heatmap
    (its channel is then all zeros), else its ``keypoint_weights`` entry (default 1).
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    height, width = heatmap_size
    uv = to_heatmap(keypoints[:, :2], stride)
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
    weights = ((keypoints[:, 2] > 0) & inside).astype(np.float32)
    if keypoint_weights is not None:
        weights *= np.asarray(keypoint_weights, dtype=np.float32)
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    # Separable Gaussian: exp(-(dx²+dy²)/2σ²) = exp(-dx²/2σ²) · exp(-dy²/2σ²), one outer product per keypoint.
    gx = np.exp(-((xs[None, :] - uv[:, :1]) ** 2) / (2 * sigma**2))  # (K, W)
    gy = np.exp(-((ys[None, :] - uv[:, 1:]) ** 2) / (2 * sigma**2))  # (K, H)
    heatmaps = np.einsum("kh,kw->hwk", gy, gx) * (weights > 0)
    return heatmaps.astype(np.float32), weights


def decode(
    heatmaps: np.ndarray, stride: int, refine: Refine = "integral", blur_kernel: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``(K, 2)`` in input pixels and confidences ``(K,)`` (each channel's peak value).

    ``refine``: ``none`` takes the argmax pixel; ``quarter`` moves it a quarter pixel towards the higher
    neighbour on each axis (the classic SimpleBaseline rule); ``dark`` fits a 2-D quadratic to the log of
    the heatmap around the peak and takes its maximum (Zhang et al., DARK, CVPR 2020); ``integral`` takes
    the mean position of the probability mass in a 9x9 window around the peak (a local soft-argmax, as in
    integral pose regression), which averages out a noisy peak; on a clean sigma-2 Gaussian the cut-off
    window leaves it up to 0.07 heatmap pixels short of the centre, where DARK is exact. ``blur_kernel``
    (odd, e.g. 3) smooths predicted heatmaps first, as DARK does; it is off by default because a blur near
    the border (reflected by OpenCV) pulls peaks within two pixels of the edge inwards.

    Two kinds of heatmaps come in: Gaussians (``mse`` models; the peak near 1) and log-probabilities
    (``softmax_ce`` models; every value <= 0). A channel whose peak is <= 0 is read as log-probabilities:
    it already is the log DARK fits, and its exponential is the probability ``integral`` averages.
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    height, width, count = heatmaps.shape
    flat = heatmaps.reshape(-1, count)
    peak = flat.argmax(axis=0)
    confidence = flat[peak, np.arange(count)]
    uv = np.stack([peak % width, peak // width], axis=-1).astype(np.float32)
    if refine == "quarter":
        uv += 0.25 * _neighbour_sign(heatmaps, uv)
    elif refine == "dark":
        uv += _dark_offset(heatmaps, uv, blur_kernel)
    elif refine == "integral":
        uv += _integral_offset(heatmaps, uv)
    return from_heatmap(uv, stride), confidence


def peak_mass(heatmaps: np.ndarray) -> np.ndarray:
    """A confidence in [0, 1] per keypoint that people can threshold: for log-probability channels the
    probability within the integral window around the peak (a peak's own probability is small however sure
    the model is, since a sigma-2 target spreads over ~25 pixels); for Gaussian channels the peak value."""
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    height, width, count = heatmaps.shape
    flat = heatmaps.reshape(-1, count)
    peak = flat.argmax(axis=0)
    r = INTEGRAL_RADIUS
    mass = np.empty(count, np.float32)
    for k, (u, v) in enumerate(zip(peak % width, peak // width, strict=True)):
        channel = heatmaps[:, :, k]
        if channel.max() > 0:
            mass[k] = min(float(channel.max()), 1.0)
            continue
        probability = np.exp(channel - np.logaddexp.reduce(channel.reshape(-1)))
        mass[k] = probability[max(v - r, 0) : v + r + 1, max(u - r, 0) : u + r + 1].sum()
    return mass


def _positive(channel: np.ndarray) -> np.ndarray:
    """A heatmap channel as non-negative values proportional to probability: a log-probability channel
    (peak <= 0) exponentiated, relative to its peak; a Gaussian one with negative noise cut off."""
    return np.exp(channel - channel.max()) if channel.max() <= 0 else np.maximum(channel, 0.0)


def _integral_offset(heatmaps: np.ndarray, uv: np.ndarray) -> np.ndarray:
    height, width, _ = heatmaps.shape
    r = INTEGRAL_RADIUS
    offsets = np.zeros_like(uv)
    for k, (u, v) in enumerate(uv.astype(int)):
        top, bottom, left, right = max(v - r, 0), min(v + r + 1, height), max(u - r, 0), min(u + r + 1, width)
        weight = _positive(heatmaps[:, :, k])[top:bottom, left:right]
        rows, columns = np.mgrid[top:bottom, left:right]
        offsets[k] = [(weight * columns).sum() / weight.sum() - u, (weight * rows).sum() / weight.sum() - v]
    return offsets


def _neighbour_sign(heatmaps: np.ndarray, uv: np.ndarray) -> np.ndarray:
    height, width, _ = heatmaps.shape
    signs = np.zeros_like(uv)
    for k, (u, v) in enumerate(uv.astype(int)):
        hm = heatmaps[:, :, k]
        if 0 < u < width - 1:
            signs[k, 0] = np.sign(hm[v, u + 1] - hm[v, u - 1])
        if 0 < v < height - 1:
            signs[k, 1] = np.sign(hm[v + 1, u] - hm[v - 1, u])
    return signs


def _dark_offset(heatmaps: np.ndarray, uv: np.ndarray, blur_kernel: int) -> np.ndarray:
    import cv2

    height, width, _ = heatmaps.shape
    offsets = np.zeros_like(uv)
    for k, (u, v) in enumerate(uv.astype(int)):
        if not (1 <= u < width - 1 and 1 <= v < height - 1):
            continue  # no neighbours on both sides: keep the argmax
        hm = _positive(heatmaps[:, :, k])
        if blur_kernel > 1:
            # Predicted heatmaps are not clean Gaussians; a light blur (rescaled to keep the peak)
            # restores the shape the Taylor expansion assumes.
            blurred = cv2.GaussianBlur(hm, (blur_kernel, blur_kernel), 0)
            hm = blurred * (hm.max() / max(float(blurred.max()), 1e-12))
        log = np.log(np.maximum(hm[v - 1 : v + 2, u - 1 : u + 2], 1e-10))
        dx = 0.5 * (log[1, 2] - log[1, 0])
        dy = 0.5 * (log[2, 1] - log[0, 1])
        dxx = log[1, 2] - 2 * log[1, 1] + log[1, 0]
        dyy = log[2, 1] - 2 * log[1, 1] + log[0, 1]
        dxy = 0.25 * (log[2, 2] - log[2, 0] - log[0, 2] + log[0, 0])
        hessian = np.array([[dxx, dxy], [dxy, dyy]])
        if abs(np.linalg.det(hessian)) < 1e-12:
            continue
        step = -np.linalg.solve(hessian, [dx, dy])
        offsets[k] = np.clip(step, -1.0, 1.0)  # the peak is within a pixel of the argmax
    return offsets


def flip_heatmaps(heatmaps: np.ndarray, flip_permutation: np.ndarray) -> np.ndarray:
    """Heatmaps of the mirrored image mapped back: mirror the columns and swap left/right channels.

    Used for flip test: average ``decode``-ready heatmaps of an image and of its mirror. Columns mirror
    exactly because the stride grid is symmetric when the input width is a multiple of the stride.
    """
    return np.asarray(heatmaps)[:, ::-1, flip_permutation]
