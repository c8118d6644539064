"""What quantization cost: output-level error and keypoint accuracy of each quantized artifact against
its float reference, measured through the same Runner loop as ``edgepose evaluate``."""

from __future__ import annotations

import math

import numpy as np

from edgepose.runtime.runner import Runner

ACCURACY_KEYS = ("AP", "AP50", "AP75", "AR", "mean_oks", "mean_error_px")


def output_error(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict:
    """Per output: max and mean absolute difference, cosine similarity and SNR (dB) of ``candidate``
    against ``reference``. Outputs are matched by name, or by position when the names differ.

    A heatmap output (``N, H, W, K``) also gets ``spatial_snr_db``: the SNR of each map's variation about
    its own mean. Decoding a heatmap (argmax, soft-argmax, a softmax's log-probabilities) ignores a
    constant added to the whole map, and a log-probability map is mostly such a constant, which makes its
    plain SNR look excellent while the peaks drown; ``quality_snr_db`` is the lower of the two, what the
    advice looks at."""
    pairs = _pair(reference, candidate)
    result = {}
    for name, (want, have) in pairs.items():
        want, have = want.astype(np.float64), have.astype(np.float64)
        norms = float(np.linalg.norm(want) * np.linalg.norm(have))
        result[name] = {
            "max_abs": float(np.abs(want - have).max()),
            "mean_abs": float(np.abs(want - have).mean()),
            "cosine": 1.0 if norms == 0 else float((want.ravel() @ have.ravel()) / norms),
            "snr_db": _snr_db(want, have),
        }
        if want.ndim == 4 and want.shape[1] * want.shape[2] > 1:
            centred = [x - x.mean(axis=(1, 2), keepdims=True) for x in (want, have)]
            result[name]["spatial_snr_db"] = _snr_db(*centred)
        result[name]["quality_snr_db"] = min(result[name]["snr_db"], result[name].get("spatial_snr_db", math.inf))
    return result


def _snr_db(want: np.ndarray, have: np.ndarray) -> float:
    noise, signal = float(((want - have) ** 2).sum()), float((want**2).sum())
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def compare_outputs(reference: Runner, candidate: Runner, inputs: np.ndarray) -> dict:
    return output_error(reference.run_all(inputs), candidate.run_all(inputs))


def accuracy(runner: Runner, samples, config, progress=None) -> dict:
    """Keypoint accuracy of one runner (the evaluation loop of ``edgepose evaluate``)."""
    from edgepose.evaluate.evaluation import evaluate

    scores = evaluate(runner, samples, config, progress=progress)
    pck = next(key for key in scores if key.startswith("pck@"))
    return {key: scores[key] for key in (*ACCURACY_KEYS, pck)}


def accuracy_drop(float_scores: dict, quant_scores: dict) -> dict:
    """Points lost (x100 for AP/OKS/PCK), positive = worse."""
    drop = {}
    for key, value in quant_scores.items():
        if key == "mean_error_px" or value is None or float_scores.get(key) is None:
            continue
        drop[f"{key}_points"] = round(100 * (float_scores[key] - value), 3)
    return drop


def _pair(reference: dict, candidate: dict) -> dict:
    if set(reference) <= set(candidate):
        return {name: (reference[name], candidate[name]) for name in reference}
    if len(reference) != len(candidate):
        raise ValueError(f"outputs differ: {list(reference)} vs {list(candidate)}")
    return {name: (reference[name], value) for name, value in zip(reference, candidate.values(), strict=True)}


def metrics(report: dict) -> dict[str, float]:
    """What a quantization run is compared by: accuracy per engine and its drop, output error, sizes."""
    from edgepose.tracking import numbers

    sizes = {f"bytes.{a['role']}": a["bytes"] for a in report["artifacts"]}
    return {**numbers({"accuracy": report.get("accuracy") or {}, "output_error": report["output_error"]}), **sizes}
