"""Patch-based execution: the layers around the memory peak run in strips of rows.

A small model's activation peak sits where tensors are large: the first layers, where the image is still
big, and the expanded tensors of inverted-residual blocks (six times their block's width). Run such a stage
strip by strip instead — its output rows split into strips, and for each strip every layer of the stage
computes just the rows its consumers need — and none of the stage's inner tensors exists whole: the stage
needs its inputs, its output and small strip buffers. Neighbouring strips need a few rows in common (each
layer's halo), which are computed twice: that is the recompute cost, bounded by a budget
(``--max-recompute``) counted in estimated instructions (``cost``: a depthwise MAC costs a core about twice a
pointwise one, the early layers pay more per MAC for their few channels, and a strip reads its halo's input
rows again). A stage that is one
inverted-residual block (expand, depthwise, project, add) is the fused block of the literature: the
expanded tensor never exists whole.

Strips are whole rows (a 1-D split of MCUNetV2's 2-D patches): an NHWC row is contiguous, so a strip is one
pointer into a tensor, and every kernel computes a strip exactly as it computes the whole tensor, given the
strip's rows as its input with the padding shifted — rows above or below the image are padding as before,
rows of the image always come from the window. Each output element sees the same inputs in the same
order, so tiled execution is byte-identical to layer-by-layer execution.

A stage is a run of consecutive steps — convolutions, depthwise convolutions, PADs, same-shape ADDs and
nearest-neighbour upsampling — whose tensors, all but the last step's output, are read only inside the
stage. Stages are chosen for a target: while some step has more live bytes than the target, the cheapest
stage around the step with most that brings its own step there (taking in stages chosen before where a
longer run does better); the lowest target reachable within the budget is found by bisection. A model
whose RAM peaks at several places (the first layers, each expanded tensor, an FPN's upsampling) gets a
cheap stage at each, where spending the budget on the highest peak first would leave the others. The
search runs on the layers in the graph's order and with layers that grow their input (an FPN's lateral
convolutions) moved to just before their reader, so they join its stage and the smaller input is held
instead. Then stages that do not lower the arena are dropped and strip counts refined.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from edgepose.codegen.cost import instructions
from edgepose.codegen.graph import Graph, Operator
from edgepose.codegen.lower import Rows, Step, lower_rows, row_geometry
from edgepose.codegen.planner import ALIGNMENT, Buffer, _place, live_bytes, plan_memory

ROW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "PAD", "PADV2", "ADD", "RESIZE_NEAREST_NEIGHBOR")
DEFAULT_MAX_RECOMPUTE = 0.10  # extra work allowed (estimated instructions), as a fraction of the model's
MAX_STAGE = 10  # steps in one stage
STRIP_COUNTS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48)


@dataclass
class Tiling:
    """What was tiled and what it saved: the report's ``tiling`` entry."""

    stages: list[dict]  # per stage: its layers (output tensor names), ops, strips, extra MACs and work
    arena_before: int
    arena_after: int
    extra_macs: int
    extra_macs_ratio: float
    extra_work_ratio: float  # estimated extra instructions, as a fraction of the model's (see cost)

    @property
    def layers(self) -> list[str]:
        return [name for stage in self.stages for name in stage["layers"]]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "layers": self.layers, "strips": [s["strips"] for s in self.stages]}


@dataclass
class Stage:
    steps: list[Step]
    inputs: list[int]  # tensors read from outside the stage (full tensors)
    output: int
    strips: int = 0
    rows: list[list[Rows]] = field(default_factory=list)  # per strip, per step
    extra_macs: int = 0
    extra_work: float = 0.0  # estimated instructions of the recomputed rows (see cost)
    planning_step: Step | None = field(default=None, repr=False, compare=False)  # its folded step, without code


def tile(graph: Graph, steps: list[Step], max_recompute: float, kernels: str, lut_source=None):
    """``(steps, tiling)``: the steps with the chosen stages each folded into one step, and the report;
    the steps unchanged and None when no stage within ``max_recompute`` makes the arena smaller."""
    before, original = plan_memory(graph, steps).arena_bytes, steps
    if max_recompute <= 0:
        return steps, None
    work = sum(instructions(graph, s) for s in steps) or 1.0
    budget = max_recompute * work
    sunk = _sunk(graph, steps)
    orders = [steps] + ([sunk] if any(a is not b for a, b in zip(sunk, steps, strict=True)) else [])
    steps, chosen = min(
        (_cheapest_covers(graph, order, budget) for order in orders),
        key=lambda found: (plan_memory(graph, found[0]).arena_bytes, sum(s.extra_work for s in found[1])),
    )
    steps, chosen = _prune(graph, steps, chosen)
    steps, chosen = _revisit_peak(graph, steps, chosen, budget)
    steps, chosen, spent = _refine(graph, steps, chosen, budget)
    arena = plan_memory(graph, steps).arena_bytes
    if not chosen or arena >= before:
        return original, None
    for stage in chosen:  # the folded steps get their code now, once
        code, constants = _stage_code(graph, stage, kernels, lut_source)
        steps[_position_of(steps, stage)] = _stage_step(graph, stage, code, constants)
    extra_macs = sum(stage.extra_macs for stage in chosen)
    total = sum(s.macs for s in steps) - extra_macs
    tiling = Tiling(
        stages=[
            {
                "layers": [graph.tensors[s.op.outputs[0]].name for s in stage.steps],
                "ops": [s.op.kind for s in stage.steps],
                "strips": stage.strips,
                "extra_macs": stage.extra_macs,
                "extra_work": round(stage.extra_work),
            }
            for stage in sorted(chosen, key=lambda stage: stage.steps[0].op.index)
        ],
        arena_before=before,
        arena_after=arena,
        extra_macs=extra_macs,
        extra_macs_ratio=round(extra_macs / (total or 1), 4),
        extra_work_ratio=round(spent / work, 4),
    )
    return steps, tiling


# ---------------------------------------------------------------------------------------------- stages


def _sunk(graph: Graph, steps: list[Step]) -> list[Step]:
    """``steps`` with each layer whose output is bigger than its input moved to just before its first reader
    (an FPN's lateral convolutions, computed early and read at the end): the smaller input is held instead,
    and the layer can join the stage of its reader."""
    order = list(steps)
    for step in reversed(steps):
        op = step.op
        if step.view or len(op.outputs) != 1 or op.outputs[0] in graph.outputs:
            continue
        inputs = [t for t in op.inputs if t >= 0 and graph.tensors[t].data is None]
        if graph.tensors[op.outputs[0]].nbytes <= sum(graph.tensors[t].nbytes for t in inputs):
            continue
        readers = [i for i, s in enumerate(order) if op.outputs[0] in s.op.inputs]
        position = order.index(step)
        if readers and readers[0] > position + 1:
            order.insert(readers[0] - 1, order.pop(position))
    return order


def _cheapest_covers(graph: Graph, steps: list[Step], budget: float) -> tuple[list[Step], list[Stage]]:
    """The lowest live-bytes target that the cheapest stages reach within the budget, found by bisection: a
    model whose RAM peaks at several places (the first layers, each expanded tensor, an FPN's upsampling)
    needs a cheap stage at each, not the budget spent on its highest peak."""
    memo: dict = {}
    live = live_bytes(graph, steps)
    low, high, found = 0, max(live), [(steps, [])]
    while high - low > max(ALIGNMENT, high // 200):  # to half a percent
        target = (low + high) // 2
        covered = _cover(graph, steps, target, budget, memo)
        if covered is None:
            low = target
        else:
            high = target
            found.append(covered)
    return min(found, key=lambda f: (plan_memory(graph, f[0]).arena_bytes, sum(s.extra_work for s in f[1])))


def _cover(graph: Graph, steps: list[Step], target: int, budget: float, memo: dict):
    """``(steps, stages)`` that bring the live bytes of every step to ``target`` or below: while a step has
    more, the cheapest stage of layers around it that brings its own step there (a stage may take in stages
    chosen before, which a longer run then replaces). None where the budget runs out first, or no stage does."""
    chosen: dict[int, tuple[int, Stage]] = {}  # first layer -> (last layer, stage), layers as in ``steps``
    for _ in range(len(steps)):
        folded, spans = _fold(graph, steps, chosen)
        live = live_bytes(graph, folded)
        peak = max(range(len(folded)), key=lambda i: live[i])
        if live[peak] <= target:
            return folded, [stage for _, stage in chosen.values()]
        best = None
        low, high = spans[peak]
        for first in range(max(0, high - MAX_STAGE + 1), low + 1):
            for last in range(high, min(len(steps), first + MAX_STAGE)):
                inside = {f: c for f, c in chosen.items() if first <= f <= last or first <= c[0] <= last}
                if any(f < first or c[0] > last for f, c in inside.items()):
                    continue  # a stage chosen before would be cut in two
                others = sum(c[1].extra_work for f, c in chosen.items() if f not in inside)
                stage = stage_of(graph, steps[first : last + 1])
                for candidate in _strips_memo(graph, stage, budget - others, memo) if stage else ():
                    if best is not None and others + candidate.extra_work >= best[0]:
                        break  # cheapest first
                    rest = {f: c for f, c in chosen.items() if f not in inside} | {first: (last, candidate)}
                    trial, trial_spans = _fold(graph, steps, rest)
                    if live_bytes(graph, trial)[trial_spans.index((first, last))] <= target:
                        best = (others + candidate.extra_work, rest)
                        break
        if best is None:
            return None
        chosen = best[1]
    return None


def _fold(graph: Graph, steps: list[Step], chosen: dict) -> tuple[list[Step], list[tuple[int, int]]]:
    """``steps`` with each chosen stage folded in, and the layers each of the result's steps stands for."""
    folded, spans, i = [], [], 0
    while i < len(steps):
        if i in chosen:
            last, stage = chosen[i]
            folded.append(_planning_step(graph, stage))
            spans.append((i, last))
            i = last + 1
        else:
            folded.append(steps[i])
            spans.append((i, i))
            i += 1
    return folded, spans


def _strips_memo(graph: Graph, stage: Stage, budget: float, memo: dict) -> list[Stage]:
    """``_with_strips`` of ``stage``, cheapest first, computed once per run of layers."""
    key = tuple(s.op.index for s in stage.steps)
    if key not in memo:
        memo[key] = sorted(_with_strips(graph, stage, float("inf")), key=lambda c: c.extra_work)
    return [c for c in memo[key] if c.extra_work <= budget]


def _with_strips(graph: Graph, stage: Stage, budget: float, skip: int = 0):
    """``stage`` with each strip count (but ``skip``) whose extra work fits in ``budget``, ready to plan."""
    height = graph.tensors[stage.output].shape[1]
    for strips in (k for k in STRIP_COUNTS if k <= height // 2 and k != skip):
        rows = strip_rows(graph, stage, strips)
        extra = _extra_work(graph, stage, rows)
        if extra <= budget:
            macs = _extra_macs(graph, stage, rows)
            changed = {"strips": strips, "rows": rows, "extra_macs": macs, "extra_work": extra, "planning_step": None}
            yield dataclasses.replace(stage, **changed)


def _key(graph: Graph, steps: list[Step], stage: Stage) -> tuple:
    """How good ``steps`` (with ``stage`` folded in) are: the score of their plan, then the work spent."""
    return (*_score(plan_memory(graph, steps)), stage.extra_work)


def _prune(graph: Graph, steps: list[Step], chosen: list[Stage]):
    """Stages that lowered a secondary peak but not, in the end, the arena are run layer by layer again:
    their work goes back to the budget for the stages that decide the arena."""
    arena = plan_memory(graph, steps).arena_bytes
    for stage in sorted(chosen, key=lambda s: -s.extra_work):
        position = _position_of(steps, stage)
        unfolded = [*steps[:position], *stage.steps, *steps[position + 1 :]]
        if plan_memory(graph, unfolded).arena_bytes <= arena:
            steps = unfolded
            chosen = [s for s in chosen if s is not stage]
    return steps, chosen


def _revisit_peak(graph: Graph, steps: list[Step], chosen: list[Stage], budget: float):
    """The stage where the arena now peaks was chosen while other peaks decided the arena: with the work
    the pruned stages gave back, another run of layers starting there (shorter, longer, more strips) may
    do better."""
    live = _live(plan_memory(graph, steps))
    peak = max(range(min(len(steps), len(live))), key=lambda i: live[i])
    stage = next((s for s in chosen if _position_of(steps, s) == peak), None)
    if stage is None:
        return steps, chosen
    unfolded = [*steps[:peak], *stage.steps, *steps[peak + 1 :]]
    others = sum(s.extra_work for s in chosen) - stage.extra_work
    best = (_key(graph, steps, stage), None)
    for first in range(max(0, peak - MAX_STAGE + 1), peak + 1):
        for last in range(peak + 1, min(len(unfolded), first + MAX_STAGE)):
            run = stage_of(graph, unfolded[first : last + 1])
            for candidate in _with_strips(graph, run, budget - others) if run is not None else ():
                trial = _replaced(graph, unfolded, first, candidate)
                key = _key(graph, trial, candidate)
                if key < best[0]:
                    best = (key, (first, candidate, trial))
    if best[1] is None:
        return steps, chosen
    _, candidate, trial = best[1]
    return trial, [candidate if s is stage else s for s in chosen]


def _refine(graph: Graph, steps: list[Step], chosen: list[Stage], budget: float):
    """Each stage's strip count again, now that the others are in place: a stage chosen while another peak
    decided the arena may do better with more strips, or as well with fewer (giving work back)."""
    for _ in range(2):
        for i, stage in enumerate(chosen):
            position = _position_of(steps, stage)
            others = sum(s.extra_work for s in chosen) - stage.extra_work
            best = (_key(graph, steps, stage), stage)
            for candidate in _with_strips(graph, stage, budget - others, skip=stage.strips):
                key = _key(graph, _folded(steps, position, candidate, graph), candidate)
                if key < best[0]:
                    best = (key, candidate)
            if best[1] is not stage:
                chosen[i] = best[1]
                steps = _folded(steps, position, best[1], graph)
    return steps, chosen, sum(s.extra_work for s in chosen)


def _folded(steps: list[Step], position: int, stage: Stage, graph: Graph) -> list[Step]:
    """``steps`` with the folded step at ``position`` replaced by ``stage`` (same layers, other strips)."""
    return [*steps[:position], _planning_step(graph, stage), *steps[position + 1 :]]


def _score(plan) -> tuple[int, tuple[int, ...]]:
    """What a stage must lower: the arena, then the bytes live at each step, most first (so a stage that
    flattens one of several equal peaks counts, and the next one can flatten the next)."""
    return plan.arena_bytes, tuple(sorted(_live(plan), reverse=True))


def _live(plan) -> list[int]:
    steps = max(b.last for b in plan.buffers) + 1
    return [sum(b.size for b in plan.buffers if b.first <= i <= b.last) for i in range(steps)]


def stage_of(graph: Graph, run: list[Step]) -> Stage | None:
    """The stage these consecutive steps make, or None where they cannot run in strips together."""
    if len(run) < 2:
        return None
    inside = {s.op.outputs[0] for s in run}
    output = run[-1].op.outputs[0]
    inputs = []
    for step in run:
        op = step.op
        if step.view or op.kind not in ROW_OPS or not _row_local(graph, op):
            return None
        for t in _activations_of(op):
            if t not in inside and t not in inputs:
                inputs.append(t)
    for t in inside - {output}:
        if t in graph.outputs or any(op.outputs[0] not in inside for op in graph.consumers(t)):
            return None  # read outside the stage: it must exist whole
    return Stage(list(run), inputs, output)


def _activations_of(op: Operator) -> list[int]:
    """The tensors a row op reads row by row (not its weights, bias or paddings)."""
    return list(op.inputs[:2]) if op.kind == "ADD" else [op.inputs[0]]


def _row_local(graph: Graph, op: Operator) -> bool:
    shapes = [graph.tensors[t].shape for t in (*_activations_of(op), op.outputs[0])]
    if any(len(s) != 4 or s[0] != 1 for s in shapes):
        return False
    if op.kind == "ADD":
        return shapes[0] == shapes[1] == shapes[2]  # no broadcasting
    if op.kind == "RESIZE_NEAREST_NEIGHBOR":
        return graph.tensors[op.inputs[0]].dtype == "INT8"
    if op.kind.startswith("PAD"):
        paddings = graph.tensors[op.inputs[1]].data
        return paddings is not None and not paddings.reshape(-1, 2)[0].any()  # not the batch
    return True


# ---------------------------------------------------------------------------------------------- geometry


def strip_rows(graph: Graph, stage: Stage, strips: int) -> list[list[Rows]]:
    """For each strip, each step's rows: the output rows it computes (what its consumers in the stage read,
    together) and the input rows it reads, walking backward from the stage output's share of the strip."""
    height = graph.tensors[stage.output].shape[1]
    bounds = [round(k * height / strips) for k in range(strips + 1)]
    result = []
    for k in range(strips):
        need = {stage.output: (bounds[k], bounds[k + 1])}
        rows: list[Rows] = []
        for step in reversed(stage.steps):
            lo, hi = need[step.op.outputs[0]]
            if step.op.kind == "ADD":
                first, end, pad = lo, hi, 0
            else:
                first, end, pad = row_geometry(graph, step.op, lo, hi)
            rows.append(Rows(out_start=lo, out_rows=hi - lo, in_start=first, in_rows=end - first, pad=pad))
            for t in _activations_of(step.op):
                old = need.get(t)
                need[t] = (first, end) if old is None else (min(old[0], first), max(old[1], end))
        result.append(rows[::-1])
    return result


def _extra_work(graph: Graph, stage: Stage, rows: list[list[Rows]]) -> float:
    """The instructions the strips add, estimated per layer from its kernel (see cost): the output rows they
    share and the input rows each reads again (the kernels widen them) — what the budget bounds."""
    extra = 0.0
    for i, step in enumerate(stage.steps):
        strips = sum(instructions(graph, step, (strip[i].out_rows, strip[i].in_rows)) for strip in rows)
        extra += strips - instructions(graph, step)
    return extra


def _extra_macs(graph: Graph, stage: Stage, rows: list[list[Rows]]) -> int:
    """The MACs the strips' shared rows add (for the report), and for the ops without any (resize, pad, add)
    one per output element computed again."""
    extra = 0
    for i, step in enumerate(stage.steps):
        out = graph.tensors[step.op.outputs[0]]
        computed = sum(strip[i].out_rows for strip in rows)
        extra += (computed - out.shape[1]) * (step.macs or out.size) // max(out.shape[1], 1)
    return extra


# ---------------------------------------------------------------------------------------------- the step


def _buffers(graph: Graph, stage: Stage) -> tuple[dict[int, int], int]:
    """Offset of each inner tensor's strip buffer (sized for its largest strip), placed by the arena
    planner over the steps of one strip, and the bytes they take together."""
    buffers, offsets = [], {}
    for i, step in enumerate(stage.steps[:-1]):
        t = step.op.outputs[0]
        rows = max(strip[i].out_rows for strip in stage.rows)
        readers = [j for j, s in enumerate(stage.steps) if t in _activations_of(s.op)]
        buffers.append(Buffer(t, _aligned(rows * _row_bytes(graph, t)), i, max(readers)))
    area = _place(buffers) if buffers else 0
    for buffer in buffers:
        offsets[buffer.id] = buffer.offset
    return offsets, area


def _stage_step(graph: Graph, stage: Stage, code: str, constants: list) -> Step:
    _, area = _buffers(graph, stage)
    inner = max(s.scratch_bytes for s in stage.steps)
    first = stage.steps[0].op
    op = Operator(first.index, "TILED", list(stage.inputs), [stage.output], {"steps": len(stage.steps)})
    macs = sum(s.macs for s in stage.steps) + stage.extra_macs
    return Step(op, code, constants, scratch_bytes=area + inner, macs=macs)


def _planning_step(graph: Graph, stage: Stage) -> Step:
    """The folded step of ``stage`` without code, for planning: made once, as a stage is tried in many plans."""
    if stage.planning_step is None:
        stage.planning_step = _stage_step(graph, stage, "", [])
    return stage.planning_step


def _replaced(graph: Graph, steps: list[Step], position: int, stage: Stage) -> list[Step]:
    """``steps`` with the run of ``stage``'s layers at ``position`` folded into one step (no code yet)."""
    return [*steps[:position], _planning_step(graph, stage), *steps[position + len(stage.steps) :]]


def _position_of(steps: list[Step], stage: Stage) -> int:
    return next(i for i, s in enumerate(steps) if s.op.kind == "TILED" and s.op.outputs[0] == stage.output)


def _stage_code(graph: Graph, stage: Stage, kernels: str, lut_source) -> tuple[str, list]:
    """One block per strip and step: the step lowered for the strip's rows, reading stage inputs (full
    tensors, at the window's first row) or strip buffers, writing a strip buffer or the stage output."""
    offsets, area = _buffers(graph, stage)
    inner_scratch = f"({{SCRATCH}} + {area})"
    lines = [f"/* tiled: {len(stage.steps)} layers in {stage.strips} strips of rows */"]
    constants: dict[str, object] = {}
    for k, strip in enumerate(stage.rows):
        computed = {s.op.outputs[0]: r.out_start for s, r in zip(stage.steps, strip, strict=True)}
        for step, rows in zip(stage.steps, strip, strict=True):
            lowered = lower_rows(graph, step.op, kernels, rows, lut_source)
            for constant in lowered.constants:
                constants.setdefault(constant.name, constant)
            window = rows.out_start if step.op.kind == "ADD" else rows.in_start
            code = lowered.code.replace("{SCRATCH}", inner_scratch)
            for t in dict.fromkeys([*_activations_of(step.op), step.op.outputs[0]]):
                start = rows.out_start if t == step.op.outputs[0] else window
                if t in offsets:  # an inner tensor: its strip buffer holds rows from where its producer started
                    skip = _row_elements(graph, t) * (start - computed[t])
                    pointer = f"(({_ctype(graph, t)} *)({{SCRATCH}} + {offsets[t]}) + {skip})"
                else:  # a stage input or the stage output: the full tensor, from the window's first row
                    pointer = f"({{T{t}}} + {start * _row_elements(graph, t)})"
                code = code.replace(f"{{T{t}}}", pointer)
            lines.append(f"{{ /* strip {k}: {step.op.kind} rows {rows.out_start}..{rows.out_start + rows.out_rows} */")
            lines.append("    " + code.replace("\n", "\n    ") + " }")
    return "\n".join(lines), list(constants.values())


def _row_elements(graph: Graph, tensor: int) -> int:
    """Elements in one row of ``tensor`` (NHWC: width times channels)."""
    shape = graph.tensors[tensor].shape
    return int(shape[2] * shape[3])


def _row_bytes(graph: Graph, tensor: int) -> int:
    t = graph.tensors[tensor]
    return t.nbytes // t.shape[1]


def _ctype(graph: Graph, tensor: int) -> str:
    return {"INT16": "int16_t", "FLOAT32": "float"}.get(graph.tensors[tensor].dtype, "int8_t")


def _aligned(size: int) -> int:
    return (size + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
