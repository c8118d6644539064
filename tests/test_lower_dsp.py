"""The build-time preparation of the fast kernels: where its arithmetic would not equal TFLite's, it declines
(None) and the layer keeps the portable kernel."""

from __future__ import annotations

from edgepose.codegen import fixedpoint as fp
from edgepose.codegen import lower_dsp


def test_the_add_tables_are_tflites_rescaling_of_every_input_byte():
    inputs = [(3, *fp.quantize_multiplier(0.4)), (-7, *fp.quantize_multiplier(0.5))]
    out_multiplier, out_shift = fp.quantize_multiplier(2.0 / (1 << 20) / 0.05)
    tables, row = lower_dsp.add_constants(inputs, 20, out_multiplier, out_shift, 5)
    for table, (offset, multiplier, shift) in zip(tables, inputs, strict=True):
        for byte in (0, 1, 127, 128, 200, 255):
            value = byte - 256 if byte > 127 else byte
            assert table[byte] == fp.multiply_by_quantized_multiplier((value + offset) << 20, multiplier, shift)
    assert row[0] == 0 and row[1] == out_multiplier and row[3] == -out_shift


def test_the_fast_add_declines_where_its_requantization_would_not_be_exact():
    inputs = [(0, *fp.quantize_multiplier(0.5)), (0, *fp.quantize_multiplier(0.5))]
    left_shift_multiplier, left_shift = fp.quantize_multiplier(3.0)  # a left shift: no rounding step to fold
    assert left_shift > 0
    assert lower_dsp.add_constants(inputs, 20, left_shift_multiplier, left_shift, 0) is None
    assert lower_dsp.rq_row(2**30, *fp.quantize_multiplier(0.001), 0) is None  # the doubled sum would overflow
    assert lower_dsp.rq_row(2**20, *fp.quantize_multiplier(0.001), 0) is not None
