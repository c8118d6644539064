"""What a layer costs a core, estimated: instructions from its MACs and its output elements, per kernel.

Patch-based execution's budget is counted in these, so it bounds what the recomputed rows cost in time,
not in MACs: MACs are not equal. On the DSP kernels a depthwise MAC takes about four instructions and a
pointwise one about one, and every output element pays its requantization besides (15 instructions; 138
in portable C), so the early layers, with few channels, cost several times more per MAC than the model's
average — and they are the ones patch-based execution recomputes.

The model, per kernel variant: a pointwise convolution costs ``a`` per MAC, ``b`` per output element
(its requantization), ``c`` per output pixel and ``k`` per call (what the kernel prepares before its loops,
paid again by each strip of patch-based execution); another convolution ``a`` per MAC and the same ``b``; a
depthwise convolution ``a`` per MAC and ``d`` per input element (strided ones read more rows per output);
an op without MACs a cost per output element. The constants are least-squares fits to the per-layer profile
of mobilenetv2_heatmaps at 96 px, laid out layer by layer (40 convolutions, 20 depthwise, 10 ADDs, 3
resizes), on qemu-m7 (portable, DSP) and qemu-m55 (Helium), 2026-12-03; they estimate its total within 1%
(portable, DSP) and 4% (Helium), single layers within 10-28%. ``benchmarks/bench_mcu.py --cost`` measures
them again.
"""

from __future__ import annotations

from edgepose.codegen.graph import Graph
from edgepose.codegen.lower import Step

# kernel -> (a per MAC, b per output element, c per output pixel)
POINTWISE = {"portable": (5.98, 138.1, 23.1), "dsp": (1.006, 14.43, 111.7), "mve": (0.176, 6.41, 47.8)}
PER_CALL = {"portable": 4600.0, "dsp": 5100.0, "mve": 0.0}  # k: a convolution's; none measurable elsewhere
CONVOLUTION = {"portable": (14.68, 138.1), "dsp": (1.69, 14.43), "mve": (0.671, 6.41)}  # (a, b): the 3x3 stem
DEPTHWISE = {"portable": (35.3, 1.98), "dsp": (4.18, 1.37), "mve": (1.66, 1.60)}  # (a, d per input element)
# op kind -> kernel -> instructions per output element, for ops without MACs
ELEMENTWISE = {
    "ADD": {"portable": 147.0, "dsp": 15.1, "mve": 6.3},
    "RESIZE_NEAREST_NEIGHBOR": {"portable": 1.2, "dsp": 1.2, "mve": 1.2},
    "PAD": {"portable": 1.0, "dsp": 1.0, "mve": 1.0},
    "PADV2": {"portable": 1.0, "dsp": 1.0, "mve": 1.0},
}
OTHER = 10.0  # per output element, for the rest (not measured: they are not tiled)


def instructions(graph: Graph, step: Step) -> float:
    """About how many instructions ``step`` takes on the core its kernel is made for."""
    op = step.op
    if step.view:
        return 0.0
    out = graph.tensors[op.outputs[0]]
    kernel = kernel_of(step)
    if op.kind == "CONV_2D":
        weights = graph.tensors[op.inputs[1]].shape  # OHWI
        if weights[1] == weights[2] == 1:
            a, b, c = POINTWISE[kernel]
            return a * step.macs + b * out.size + c * out.size // max(out.shape[-1], 1) + per_call(step)
        a, b = CONVOLUTION[kernel]
        return a * step.macs + b * out.size + per_call(step)
    if op.kind == "DEPTHWISE_CONV_2D":
        a, d = DEPTHWISE[kernel]
        return a * step.macs + d * graph.tensors[op.inputs[0]].size
    per_element = ELEMENTWISE.get(op.kind, {}).get(kernel, OTHER)
    return per_element * sum(graph.tensors[t].size for t in op.outputs) + step.macs


def per_call(step: Step) -> float:
    """What one call of ``step``'s kernel costs before its loops: a strip pays it again."""
    return PER_CALL[kernel_of(step)] if step.op.kind == "CONV_2D" else 0.0


def kernel_of(step: Step) -> str:
    """The variant of the kernel ``step`` calls (a layer the fast variant cannot take keeps the portable one)."""
    for variant in ("mve", "dsp"):
        if f"_{variant}_s8(" in step.code:
            return variant
    return "portable"
