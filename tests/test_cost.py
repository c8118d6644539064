"""The cost model patch-based execution's budget is counted in: instructions per layer, per kernel variant,
from MACs, output elements, pixels and calls (its constants are measured by ``bench_mcu.py --cost``)."""

from __future__ import annotations

import pytest
from opmodels import int8_tflite, inverted_residuals

from edgepose.codegen.cost import instructions, kernel_of, per_call
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
    assert instructions(graph, found["ADD"]) > 0 and per_call(found["ADD"]) == 0


def test_the_faster_kernels_are_estimated_faster(graph):
    steps = {k: lower(graph, None, k)[0] for k in ("portable", "dsp", "mve")}
    totals = {k: sum(instructions(graph, s) for s in v) for k, v in steps.items()}
    assert totals["portable"] > 4 * totals["dsp"] > 4 * totals["mve"]


def test_a_layer_the_fast_variant_cannot_take_is_costed_as_the_portable_kernel_it_calls(graph):
    pointwise = _by_kind(graph, "dsp")["pointwise"]
    portable = type(pointwise)(pointwise.op, pointwise.code.replace("_dsp_s8(", "_s8("), macs=pointwise.macs)
    assert kernel_of(portable) == "portable"
    assert instructions(graph, portable) > 3 * instructions(graph, pointwise)
