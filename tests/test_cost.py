"""The cost model patch-based execution's budget is counted in: instructions per layer, per kernel variant,
from MACs, output elements, clamped outputs, pixels and input elements (its constants are fitted by
``bench_mcu.py --cost``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from opmodels import int8_tflite, inverted_residuals

from edgepose.codegen.cost import instructions, kernel_of, terms
from edgepose.codegen.graph import read_graph
from edgepose.codegen.lower import lower


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return read_graph(int8_tflite(tmp_path_factory.mktemp("cost") / "m.tflite", inverted_residuals, (24, 20, 3)))


def _by_kind(graph, kernels: str) -> dict:
    steps, _ = lower(graph, None, kernels)
    found = {}
    for step in steps:
        weights = graph.tensors[step.op.inputs[1]].shape if step.op.kind == "CONV_2D" else None
        kind = "pointwise" if weights is not None and weights[1] == weights[2] == 1 else step.op.kind
        found.setdefault(kind, step)
    return found


@pytest.mark.parametrize("kernels", ["portable", "dsp", "mve"])
def test_a_depthwise_mac_costs_more_than_a_pointwise_one(graph, kernels):
    found = _by_kind(graph, kernels)
    pointwise, depthwise = found["pointwise"], found["DEPTHWISE_CONV_2D"]
    assert kernel_of(pointwise) == kernels and kernel_of(depthwise) == kernels
    per_mac = {name: instructions(graph, s) / s.macs for name, s in (("pw", pointwise), ("dw", depthwise))}
    assert per_mac["dw"] > per_mac["pw"] > 0
    assert instructions(graph, found["ADD"]) > 0


def test_the_faster_kernels_are_estimated_faster(graph):
    steps = {k: lower(graph, None, k)[0] for k in ("portable", "dsp", "mve")}
    totals = {k: sum(instructions(graph, s) for s in v) for k, v in steps.items()}
    assert totals["portable"] > 4 * totals["dsp"] > 4 * totals["mve"]


def test_a_layer_the_fast_variant_cannot_take_is_costed_as_the_portable_kernel_it_calls(graph):
    pointwise = _by_kind(graph, "dsp")["pointwise"]
    portable = type(pointwise)(pointwise.op, pointwise.code.replace("_dsp_s8(", "_s8("), macs=pointwise.macs)
    assert kernel_of(portable) == "portable"
    assert instructions(graph, portable) > 3 * instructions(graph, pointwise)


def test_an_activation_that_narrows_the_int8_range_costs_its_clamp_per_output_on_the_dsp_kernels(graph):
    pointwise = _by_kind(graph, "dsp")["pointwise"]  # relu6, calibrated to the whole int8 range: no clamp
    out = pointwise.op.outputs[0]
    family, counts = terms(graph, pointwise)
    assert family == "pointwise" and counts[2] == 0
    # the same layer with its output's zero point at 0: ReLU6 cuts the int8 range at 0, every output clamps
    narrowed = dataclasses.replace(graph, tensors=list(graph.tensors))
    narrowed.tensors[out] = dataclasses.replace(graph.tensors[out], zero_point=np.array([0]))
    assert terms(narrowed, pointwise)[1][2] == graph.tensors[out].size
    assert instructions(narrowed, pointwise) > instructions(graph, pointwise)


def test_a_depthwise_mac_outside_the_unrolled_3x3_window_costs_more(tmp_path):
    from keras import layers

    costs = {}
    for size in (3, 5):
        model = int8_tflite(tmp_path / f"dw{size}.tflite", lambda x, k=size: layers.DepthwiseConv2D(k)(x), (16, 16, 8))
        graph = read_graph(model)
        steps, _ = lower(graph, None, "dsp")
        (step,) = [s for s in steps if s.op.kind == "DEPTHWISE_CONV_2D"]
        costs[size] = instructions(graph, step) / step.macs
    assert costs[5] > costs[3]


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
def test_strips_cost_their_rows_and_the_input_rows_they_read_again(graph, kernels):
    depthwise = _by_kind(graph, kernels)["DEPTHWISE_CONV_2D"]
    height = graph.tensors[depthwise.op.outputs[0]].shape[1]
    top, bottom = height // 2, height - height // 2
    whole = instructions(graph, depthwise)
    assert instructions(graph, depthwise, (top, top)) + instructions(graph, depthwise, (bottom, bottom)) == (
        pytest.approx(whole)
    )
    # a 3x3 window: each strip reads one row of the other's input again, and the kernel widens it again
    halo = instructions(graph, depthwise, (top, top + 1)) + instructions(graph, depthwise, (bottom, bottom + 1))
    assert halo > whole
