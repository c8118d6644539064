"""TFLite's quantization arithmetic in Python, for the parameters the code generator computes once.

``quantize_multiplier`` is TFLite's ``QuantizeMultiplier`` (frexp, round half away from zero, the
``q == 2^31`` carry, flush below 2^-31); ``multiply_by_quantized_multiplier`` is the double-rounding
``MultiplyByQuantizedMultiplier`` that the C kernels run, used here to build lookup tables.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def round_away(value: float) -> int:
    """``TfLiteRound`` / ``std::round``: half away from zero."""
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(multiplier, shift)`` with ``real ≈ multiplier * 2^(shift - 31)``, as TFLite computes it."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's requantization with the division by ``count`` folded into the multiplier."""
    multiplier, shift = quantize_multiplier(real)
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def _srdhm(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _truncating_div(ab + nudge, 1 << 31)  # C's int64 division truncates toward zero


def _truncating_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def _rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _wrap32(x: int) -> int:
    return ((x + (1 << 31)) % (1 << 32)) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return _rounding_divide_by_pot(_srdhm(_wrap32(x << left), multiplier), right)


def activation_range(
    activation: int, scale: float, zero_point: int, low: int = INT8_MIN, high: int = INT8_MAX
) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized``: the fused activation as an output clamp, within the output
    type's range ``[low, high]`` (int8 by default; int16 for 16x8 models).

    ``activation`` is the schema's ActivationFunctionType (0 none, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6).
    The bounds are quantized in float32 like the reference (``zero_point + round(f / scale)``).
    """

    def quantize(value: float) -> int:
        return zero_point + round_away(float(np.float32(value) / np.float32(scale)))

    if activation == 1:
        return max(low, quantize(0.0)), high
    if activation == 3:
        return max(low, quantize(0.0)), min(high, quantize(6.0))
    if activation == 2:
        return max(low, quantize(-1.0)), min(high, quantize(1.0))
    return low, high


def logistic_int16_rescale(input_scale: float) -> tuple[int, int]:
    """``(input_multiplier, input_left_shift)`` of TFLite's int16 LOGISTIC Prepare: the input rescaled to
    1/(3*4096) per step, as the table lookup expects; a power-of-two scale of 2^-12 needs no multiplier."""
    log2 = math.log2(input_scale)
    rounded = round_away(log2)
    left_shift = (15 - 3) + rounded
    if abs(log2 - rounded) < 1e-3 and left_shift == 0:
        return 3, 0  # the kernel's power-of-two case: multiplier 3 << 0
    multiplier, left_shift = input_scale * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    return int(multiplier), left_shift
