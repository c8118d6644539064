"""What a layer costs a core, estimated: instructions as a linear function of a few counts of its work.

Patch-based execution's budget is counted in these, so it bounds what the recomputed rows cost in time,
not in MACs: MACs are not equal. On the DSP kernels a 3x3 depthwise MAC takes about two instructions and a
pointwise one about one, and every output element pays its requantization besides (14 instructions, 6 more
where a fused ReLU narrows the int8 range; 138 in portable C), so the early layers, with few channels, cost
several times more per MAC than the model's average — and they are the ones patch-based execution
recomputes.

Per family of layers, the counts (``TERMS``) and, per kernel variant, what each costs (``COST``):
a pointwise convolution pays per MAC, per output element (its requantization), per output element whose
activation clamps, per output pixel and per input element (each input pixel is widened once); another
convolution per MAC, with the pointwise costs per output; a depthwise convolution per MAC (3x3 taps are
unrolled, other windows not), per output element, per clamped one and per input element (each input row is
widened once). An op without MACs costs per output element. A strip of patch-based execution pays for its
output rows and for its input rows, so the rows that strips share are counted where they cost; what a
kernel does once per call is too small to measure.

The constants are least-squares fits (each model weighted alike) to per-layer profiles of
mobilenetv2_heatmaps at 96 px and tiny at 96 and 128 px, laid out layer by layer, on qemu-m7 (portable,
DSP) and qemu-m55 (Helium), 2026-12-03. ``benchmarks/bench_mcu.py --cost`` profiles the models again,
prints the fit and how far each model's total is from its estimate (results/2026-12-03-bench_mcu-cost.json).
"""

from __future__ import annotations

from edgepose.codegen.graph import Graph
from edgepose.codegen.lower import Step, activation_range

TERMS = {
    "pointwise": ("macs", "outputs", "clamped", "pixels", "inputs"),
    "convolution": ("macs", "outputs", "clamped"),
    "depthwise": ("macs_3x3", "macs_other", "outputs", "clamped", "inputs"),
}
# family -> kernel -> instructions per unit of each of its TERMS
COST = {
    "pointwise": {
        "portable": (5.974, 138.5, 0.0, 8.01, 0.568),
        "dsp": (0.914, 14.862, 6.67, 104.23, 1.13),
        "mve": (0.110, 7.623, 3.315, 1.076, 1.57),
    },
    "convolution": {  # all but the cost per MAC are the pointwise ones
        "portable": (14.679, 138.5, 0.0),
        "dsp": (1.675, 14.862, 6.67),
        "mve": (0.624, 7.623, 3.315),
    },
    "depthwise": {
        "portable": (17.801, 12.161, 160.51, 0.0, 1.08),
        "dsp": (1.729, 4.659, 15.678, 8.112, 3.092),
        "mve": (0.800, 2.796, 7.267, 0.0, 1.846),
    },
}
# op kind -> kernel -> instructions per output element, for ops without MACs
ELEMENTWISE = {
    "ADD": {"portable": 147.0, "dsp": 15.1, "mve": 6.3},
    "RESIZE_NEAREST_NEIGHBOR": {"portable": 1.2, "dsp": 1.2, "mve": 1.2},
    "PAD": {"portable": 1.0, "dsp": 1.0, "mve": 1.0},
    "PADV2": {"portable": 1.0, "dsp": 1.0, "mve": 1.0},
}
OTHER = 10.0  # per output element, for the rest (not measured: they are not tiled)


def instructions(graph: Graph, step: Step, strip: tuple[int, int] | None = None) -> float:
    """About how many instructions ``step`` takes on the core its kernel is made for; with ``strip``
    (``(output rows, input rows)``), one strip of it in patch-based execution: the work per output row for
    its output rows and the work per input row (the kernels' widening) for its input rows."""
    if step.view:
        return 0.0
    family, counts = terms(graph, step, strip)
    if family:
        return sum(c * n for c, n in zip(COST[family][kernel_of(step)], counts, strict=True))
    out_share = _shares(graph, step, strip)[0]
    per_element = ELEMENTWISE.get(step.op.kind, {}).get(kernel_of(step), OTHER)
    return out_share * (per_element * sum(graph.tensors[t].size for t in step.op.outputs) + step.macs)


def terms(graph: Graph, step: Step, strip: tuple[int, int] | None = None) -> tuple[str | None, tuple[float, ...]]:
    """``(family, counts of its TERMS)`` for a convolution (of one strip of it, see ``instructions``);
    ``(None, ())`` for any other op."""
    op = step.op
    if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return None, ()
    out, inp = graph.tensors[op.outputs[0]], graph.tensors[op.inputs[0]]
    out_share, in_share = _shares(graph, step, strip)
    weights = graph.tensors[op.inputs[1]].shape  # OHWI; depthwise 1HWO
    macs, outputs = step.macs * out_share, out.size * out_share
    clamped = outputs if activation_range(op, out) not in ((-128, 127), (-32768, 32767)) else 0
    if op.kind == "DEPTHWISE_CONV_2D":
        three = weights[1] == weights[2] == 3
        return "depthwise", (macs if three else 0, 0 if three else macs, outputs, clamped, inp.size * in_share)
    if weights[1] == weights[2] == 1:
        pixels = outputs / max(out.shape[-1], 1)
        return "pointwise", (macs, outputs, clamped, pixels, inp.size * in_share)
    return "convolution", (macs, outputs, clamped)


def _shares(graph: Graph, step: Step, strip: tuple[int, int] | None) -> tuple[float, float]:
    """The parts of ``step``'s output and input rows that ``strip`` computes and reads (1, 1: all)."""
    if strip is None:
        return 1.0, 1.0
    heights = [_height(graph.tensors[t]) for t in (step.op.outputs[0], step.op.inputs[0])]
    return strip[0] / heights[0], strip[1] / heights[1]


def _height(tensor) -> int:
    return max(tensor.shape[1] if len(tensor.shape) == 4 else 1, 1)


def kernel_of(step: Step) -> str:
    """The variant of the kernel ``step`` calls (a layer the fast variant cannot take keeps the portable one)."""
    for variant in ("mve", "dsp"):
        if f"_{variant}_s8(" in step.code:
            return variant
    return "portable"
