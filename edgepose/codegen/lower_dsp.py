"""What the DSP and Helium convolutions (``kernels/ep_conv_dsp.h``, ``ep_conv_mve.h``) need, prepared at build time.

A generator knows every weight, so work a library does on every call is done here once: the input offset
times the sum of the weights goes into the bias, TFLite's requantization becomes three constants per channel
(``ep_rq``) whose arithmetic is proven exact for every accumulator the layer can produce, and the weights are
widened to int16 in the order the kernels load them. A layer for which any of that does not hold returns
``None`` and keeps the portable kernel, so choosing the DSP variant never changes a result.
"""

from __future__ import annotations

import numpy as np

from edgepose.codegen import fixedpoint as fp

INT32_LIMIT = 2**31
MAX_KERNEL_ROWS = 16  # the depthwise kernel's ring of rows is sized for this


def sxtb16_order(values: np.ndarray) -> np.ndarray:
    """Reorder the last axis (a multiple of 4) in groups of 4 as 0, 2, 1, 3: the order SXTB16 widens bytes in."""
    shape = values.shape
    grouped = values.reshape(*shape[:-1], shape[-1] // 4, 4)
    return grouped[..., [0, 2, 1, 3]].reshape(shape)


def requantization(
    weights: np.ndarray, bias: np.ndarray | None, scales: np.ndarray, in_offset: int, out_offset: int
) -> np.ndarray | None:
    """``ep_rq`` rows ``(bias, multiplier, round, shift)`` per output channel, or None where the fast
    arithmetic would differ from TFLite's for some reachable accumulator. ``weights``: ``[channels, K]``."""
    weights = weights.astype(np.int64)
    bias = np.zeros(len(weights), np.int64) if bias is None else bias.astype(np.int64)
    rows = []
    for w, b, real in zip(weights, bias, scales, strict=True):
        multiplier, shift = fp.quantize_multiplier(float(real))
        folded = int(b) + in_offset * int(w.sum())
        row = rq_row(abs(folded) + 128 * int(np.abs(w).sum()), multiplier, shift, out_offset)  # |acc| for any input
        if row is None:
            return None
        rows.append((folded, *row[1:]))
    return np.array(rows, np.int64).astype(np.int32)


def rq_row(bound: int, multiplier: int, shift: int, out_offset: int) -> tuple[int, int, int, int] | None:
    """One ``ep_rq`` row (bias 0) for TFLite's ``MultiplyByQuantizedMultiplier(acc, multiplier, shift) +
    out_offset``, or None unless it is exact for every ``|acc| <= bound``: a right shift of 1 to 30, and no
    overflow in the doubled accumulator or in adding the rounding."""
    exponent = -shift
    if multiplier == 0 or not 1 <= exponent <= 30:
        return None  # a left shift or no shift: the portable kernel's general path
    rounding = (1 << (exponent - 1)) + out_offset * (1 << exponent)
    if 2 * bound >= INT32_LIMIT or bound + 1 + abs(rounding) >= INT32_LIMIT:
        return None
    return 0, multiplier, rounding, exponent


def add_constants(
    inputs: list[tuple[int, int, int]], left_shift: int, out_multiplier: int, out_shift: int, out_offset: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The fast ADD's tables ``[2][256]`` (each input's rescaled value by its byte, as unsigned: TFLite's
    ``MBQM((x + offset) << left_shift, multiplier, shift)``) and its ``ep_rq`` row, or None where the row would
    not be exact for every sum of two table entries. ``inputs``: (offset, multiplier, shift) per input."""
    values = np.arange(256, dtype=np.int64)
    values = np.where(values > 127, values - 256, values)
    tables = np.array(
        [
            [fp.multiply_by_quantized_multiplier((int(v) + offset) << left_shift, multiplier, shift) for v in values]
            for offset, multiplier, shift in inputs
        ],
        np.int64,
    )
    bound = int(np.abs(tables).max(axis=1).sum())
    row = rq_row(bound, out_multiplier, out_shift, out_offset)
    if row is None:
        return None
    return tables.astype(np.int32), np.array(row, np.int32)


def conv_constants(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """CONV_2D weights ``[oc, kh, kw, ic]`` as the kernel reads them, and kp: int16 in SXTB16 order, K padded to
    kp, channel pairs interleaved group by group (``[oc / 2][kp / 4][2][4]``), an odd last channel alone."""
    flat = weights.reshape(len(weights), -1).astype(np.int16)
    oc, kp = len(flat), (flat.shape[1] + 3) // 4 * 4
    padded = np.zeros((oc, kp), np.int16)
    padded[:, : flat.shape[1]] = flat
    ordered = sxtb16_order(padded)
    pairs = ordered[: oc // 2 * 2].reshape(oc // 2, 2, kp // 4, 4).transpose(0, 2, 1, 3)
    return np.concatenate([pairs.reshape(-1), ordered[oc // 2 * 2 :].reshape(-1)]), kp


def rq_blocks(rq: np.ndarray, count: int) -> np.ndarray:
    """The ep_rq rows as the Helium kernels load them, one block of 16 int32 per four channels: ``[count / 4][4][4]``
    (bias, multiplier, round and negated shift of the four channels: VSHL shifts right by a negative amount),
    zero past the real channels."""
    lanes = np.zeros((count, 4), np.int32)
    lanes[: len(rq)] = rq
    lanes[:, 3] = -lanes[:, 3]
    return lanes.reshape(count // 4, 4, 4).transpose(0, 2, 1)


def helium_conv_constants(weights: np.ndarray, rq: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """CONV_2D weights ``[oc, kh, kw, ic]`` for the Helium kernel: int8 ``[np / 4][kp / 16][4][16]`` (K zero-padded
    to kp, a multiple of 16: one vector; the channels to np, a multiple of 4: one vector of accumulators), each
    block of four channels' 16-value chunks in the order the kernel loads them; the ep_rq blocks; and kp."""
    flat = weights.reshape(len(weights), -1)
    kp, count = (flat.shape[1] + 15) // 16 * 16, (len(flat) + 3) // 4 * 4
    padded = np.zeros((count, kp), np.int8)
    padded[: len(flat), : flat.shape[1]] = flat
    ordered = padded.reshape(count // 4, 4, kp // 16, 16).transpose(0, 2, 1, 3)
    return ordered, rq_blocks(rq, count), kp


def helium_depthwise_constants(weights: np.ndarray, rq: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """DEPTHWISE_CONV_2D weights ``[1, kh, kw, c]`` for the Helium kernel: int32 ``[cp / 4, kh * kw, 4]`` (one
    vector load per tap and 4 channels), the ep_rq blocks, and cp."""
    _, kh, kw, c = weights.shape
    cp = (c + 3) // 4 * 4
    padded = np.zeros((kh * kw, cp), np.int32)
    padded[:, :c] = weights.reshape(kh * kw, c)
    padded = padded.reshape(kh * kw, cp // 4, 4).transpose(1, 0, 2)  # each group of 4 channels' taps together
    return padded, rq_blocks(rq, cp), cp


def depthwise_constants(weights: np.ndarray, rq: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """DEPTHWISE_CONV_2D weights ``[1, kh, kw, c]`` as int16 ``[cp / 4][kh * kw][4]`` in SXTB16 order, the
    ep_rq rows padded to cp (the padding channels are computed and never stored), and cp."""
    _, kh, kw, c = weights.shape
    cp = (c + 3) // 4 * 4
    padded = np.zeros((kh * kw, cp), np.int16)
    padded[:, :c] = weights.reshape(kh * kw, c)
    padded = padded.reshape(kh * kw, cp // 4, 4).transpose(1, 0, 2).reshape(cp // 4, kh * kw * 4)
    rows = np.zeros((cp, 4), np.int32)
    rows[:, 3] = 1
    rows[:c] = rq
    return sxtb16_order(padded), rows, cp
