"""Static memory plan: every intermediate tensor gets an offset in one activation arena.

- Tensors that are views of each other (RESHAPE, SQUEEZE, EXPAND_DIMS) share one buffer.
- A buffer lives from the step that writes it to the last step that reads it; two buffers whose lives
  overlap must not overlap in memory — with one exception that saves most of the RAM: when an op's
  input dies at that op, its output may overlap the input provided the output starts at least ``D`` bytes
  below it, where ``D`` is how far the op's writes run ahead of its reads (``Step.overlap``). Elementwise
  ops have ``D = 0`` (fully in place); a 3x3 stride-1 depthwise convolution needs about one image row.
- Buffers are placed largest first (and again largest in bytes x steps first; the smaller plan is kept).
  Each goes to the candidate offset that keeps the arena smallest, preferring the tightest gap (best fit);
  offsets may go below zero and the plan is shifted at the end.
- Graph inputs and outputs live in the arena too, as in TFLite Micro. Several inputs (or outputs) form one
  block laid out exactly as the caller's ``in`` (``out``) buffer is: each at its slot offset, 4-byte
  aligned, in the model's order. So a caller that passes the arena locations themselves needs no copy,
  whatever the number, sizes and writers of the outputs.
- Regions: where a board has a RAM faster than the one the arena goes to (an H7's DTCM beside its AXI SRAM)
  and the arena does not fit in it whole, the buffers used most per byte (the MACs of the layers that read
  or write them, over their size) go to a second, fast arena of at most ``fast_bytes`` there, planned the
  same way. The graph's inputs and outputs stay in the main arena, where the caller's no-copy path finds
  them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgepose.codegen.graph import Graph
from edgepose.codegen.lower import Step
from edgepose.errors import UnsupportedOpError

ALIGNMENT = 16
SLOT_ALIGNMENT = 4  # inputs/outputs in a block: float and int32 ones stay word-aligned
FAST_ARENA = "ep_fast_arena"  # the generated code's array for the fast arena


@dataclass
class Buffer:
    id: int
    size: int
    first: int  # step index that writes it
    last: int  # last step index that reads it
    tensors: list[int] = field(default_factory=list)
    offset: int = 0
    below: dict[int, int] = field(default_factory=dict)  # buffer id -> D: may overlap it from D bytes below
    block: bool = False  # several graph inputs or outputs laid out as the caller's buffer
    base: str = "arena"  # the arena it is in: "arena", or FAST_ARENA in the board's fast RAM


@dataclass
class Plan:
    arena_bytes: int
    buffers: list[Buffer]
    location: dict[int, str]  # tensor index -> C pointer expression
    scratch: dict[int, str]  # step position -> C pointer expression of its scratch buffer
    dead_after: dict[int, list[Buffer]]  # step position -> buffers whose life ends there
    input_bytes: int
    output_bytes: int
    input_offsets: list[int]  # arena offset of each graph input
    output_offsets: list[int]
    input_slots: list[int]  # offset of each input in the caller's ``in`` (and of the arena's input block)
    output_slots: list[int]
    fast_arena_bytes: int = 0  # the part in the board's fast RAM (0: one arena)

    @property
    def input_offset(self) -> int:
        """Where ``in`` may point in the arena: the first input's slot."""
        return self.input_offsets[0] - self.input_slots[0]

    @property
    def output_offset(self) -> int:
        return self.output_offsets[0] - self.output_slots[0]


def plan_memory(graph: Graph, steps: list[Step], fast_bytes: int = 0) -> Plan:
    """Graph inputs and outputs get arena buffers too (as in TFLite Micro): the input lives until its
    last reader, the output from its writer to the end, and the run function copies them from and to
    the caller's buffers unless the caller passes the arena locations themselves. ``fast_bytes``: the room
    of a faster RAM for a second arena, used when the whole arena does not fit there (0: one arena)."""
    root, groups = _lifetimes(graph, steps)
    _distinct_io(graph, root)
    where = {r: (buffer, 0) for r, buffer in groups.items()}  # view root -> (buffer, offset inside it)
    input_slots = _block(graph.inputs, root, groups, where, -1)
    output_slots = _block(graph.outputs, root, groups, where, -2)

    def buffer_of(t: int) -> Buffer | None:
        return where[root(t)][0] if t >= 0 and root(t) in where else None

    for i, step in enumerate(steps):  # outputs allowed to overlap inputs that die at this step
        out = buffer_of(step.op.outputs[0]) if step.op.outputs else None
        for position, distance in (step.overlap or {}).items():
            inp = buffer_of(step.op.inputs[position])
            if out is None or inp is None or out.block or inp.block:
                continue  # a block's members have fixed places inside it: no overlap with their neighbours
            if inp is not out and inp.last == i and out.first == i:
                out.below[inp.id] = _aligned(distance)
                inp.below[out.id] = -_aligned(distance)  # seen from the input: the output sits D or more below
    buffers = list({id(b): b for b, _ in where.values()}.values())
    scratch_buffers = {}
    for i, step in enumerate(steps):
        if step.scratch_bytes:
            scratch_buffers[i] = Buffer(len(groups) + i, step.scratch_bytes, i, i)
            buffers.append(scratch_buffers[i])

    arena, fast_arena = _place(buffers), 0
    if fast_bytes and arena > fast_bytes:
        io = set(graph.inputs) | set(graph.outputs)
        movable = [b for b in buffers if not io & set(b.tensors)]  # the caller's no-copy path finds I/O in arena
        fast = _most_used(movable, _traffic(graph, steps, buffers, where, root, scratch_buffers), fast_bytes)
        for buffer in fast:
            buffer.base = FAST_ARENA
        arena, fast_arena = _place([b for b in buffers if b.base != FAST_ARENA]), _place(fast)
    location = {}
    for t in range(len(graph.tensors)):
        if root(t) in where and graph.tensors[t].data is None:
            buffer, inside = where[root(t)]
            location[t] = f"({buffer.base} + {buffer.offset + inside})"
    dead_after: dict[int, list[Buffer]] = {}
    for buffer in buffers:
        dead_after.setdefault(buffer.last, []).append(buffer)
    return Plan(
        arena_bytes=arena,
        buffers=buffers,
        location=location,
        scratch={i: f"({b.base} + {b.offset})" for i, b in scratch_buffers.items()},
        dead_after=dead_after,
        input_bytes=_slots_end(graph, graph.inputs, input_slots),
        output_bytes=_slots_end(graph, graph.outputs, output_slots),
        input_offsets=[int(location[t].split("+ ")[1].rstrip(")")) for t in graph.inputs],
        output_offsets=[int(location[t].split("+ ")[1].rstrip(")")) for t in graph.outputs],
        input_slots=input_slots,
        output_slots=output_slots,
        fast_arena_bytes=fast_arena,
    )


def live_bytes(graph: Graph, steps: list[Step]) -> list[int]:
    """Bytes live at each step (every buffer from its writer to its last reader, and the step's scratch):
    what no placement can go below, and cheap — no placement is made."""
    _, groups = _lifetimes(graph, steps)
    live = [s.scratch_bytes for s in steps] + [0]
    for buffer in groups.values():
        for i in range(buffer.first, min(buffer.last, len(steps)) + 1):
            live[i] += buffer.size
    return live[: len(steps)]


def _lifetimes(graph: Graph, steps: list[Step]) -> tuple:
    """``(root, groups)``: the view roots, and a buffer per root with its size and life in steps."""
    root = _view_roots(steps)
    produced = {t: i for i, s in enumerate(steps) for t in s.op.outputs}
    produced.update({t: 0 for t in graph.inputs})
    groups: dict[int, Buffer] = {}
    for t in sorted(produced):
        tensor = graph.tensors[t]
        if tensor.data is not None:
            continue
        buffer = groups.setdefault(root(t), Buffer(len(groups), 0, len(steps), -1))
        buffer.tensors.append(t)
        buffer.size = max(buffer.size, tensor.nbytes)
        buffer.first = min(buffer.first, produced[t])
        buffer.last = max(buffer.last, produced[t], len(steps) if t in graph.outputs else -1)
    for i, step in enumerate(steps):
        for t in step.op.inputs:
            if t >= 0 and root(t) in groups:
                groups[root(t)].last = max(groups[root(t)].last, i)
    return root, groups


def _traffic(graph: Graph, steps: list[Step], buffers: list[Buffer], where: dict, root, scratch: dict) -> dict:
    """How much each buffer is used: the MACs of every step that reads or writes it (a step without MACs
    counts its output's elements); a step's scratch, that step's."""
    traffic = {b.id: 0 for b in buffers}
    for i, step in enumerate(steps):
        work = step.macs or max((graph.tensors[t].size for t in step.op.outputs), default=0)
        touched = {where[root(t)][0].id for t in (*step.op.inputs, *step.op.outputs) if t >= 0 and root(t) in where}
        for buffer_id in touched:
            traffic[buffer_id] += work
        if i in scratch:
            traffic[scratch[i].id] += work
    return traffic


def _most_used(buffers: list[Buffer], traffic: dict[int, int], room: int) -> list[Buffer]:
    """The buffers for the fast arena: most used per byte first, each taken when the fast arena's plan with
    it still fits ``room``."""
    chosen: list[Buffer] = []
    candidates = [b for b in buffers if traffic[b.id] and _aligned(b.size) <= room]
    for buffer in sorted(candidates, key=lambda b: -traffic[b.id] / b.size):
        if _place([*chosen, buffer]) <= room:
            chosen.append(buffer)
    return chosen


def _distinct_io(graph: Graph, root) -> None:
    """Every graph input and output needs bytes of its own for the caller's buffers to mirror the arena."""
    seen: dict[int, int] = {}
    for t in graph.inputs + graph.outputs:
        if root(t) in seen:
            first, second = graph.tensors[seen[root(t)]].name, graph.tensors[t].name
            raise UnsupportedOpError(
                f"model inputs/outputs '{first}' and '{second}' are the same bytes (one is a view of the "
                "other); give the model distinct outputs"
            )
        seen[root(t)] = t


def _block(tensors: list[int], root, groups: dict[int, Buffer], where: dict, block_id: int) -> list[int]:
    """Slot offsets of ``tensors`` laid back to back; with two or more, one block buffer holds them all."""
    slots, end = [], 0
    for t in tensors:
        slots.append(end)
        end = (end + groups[root(t)].size + SLOT_ALIGNMENT - 1) // SLOT_ALIGNMENT * SLOT_ALIGNMENT
    if len(tensors) < 2:
        return slots
    members = [groups[root(t)] for t in tensors]
    block = Buffer(block_id, end, min(b.first for b in members), max(b.last for b in members), block=True)
    for t, slot, member in zip(tensors, slots, members, strict=True):
        block.tensors += member.tensors
        where[root(t)] = (block, slot)
    return slots


def _slots_end(graph: Graph, tensors: list[int], slots: list[int]) -> int:
    return slots[-1] + graph.tensors[tensors[-1]].nbytes if tensors else 0


def poison_ranges(plan: Plan, step: int) -> list[tuple[str, int, int]]:
    """``(arena, offset, size)`` ranges of buffers that die at ``step``, minus what live buffers occupy there."""
    live = [b for b in plan.buffers if b.first <= step < b.last or b.first == step]
    ranges = []
    for dead in plan.dead_after.get(step, []):
        pieces = [(dead.offset, dead.offset + dead.size)]
        for other in live:
            if other is dead or other.base != dead.base:
                continue
            lo, hi = other.offset, other.offset + other.size
            pieces = [(a, min(b, lo)) for a, b in pieces if a < lo] + [(max(a, hi), b) for a, b in pieces if b > hi]
        ranges += [(dead.base, a, b - a) for a, b in pieces if b > a]
    return ranges


def _view_roots(steps: list[Step]):
    """Union of view ops' inputs and outputs: they are one buffer."""
    parent: dict[int, int] = {}

    def find(t: int) -> int:
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    for step in steps:
        if step.view:
            parent[find(step.op.outputs[0])] = find(step.op.inputs[0])
    return find


def _forbidden(buffer: Buffer, other: Buffer) -> tuple[int, int]:
    """Open interval of offsets ``buffer`` may not take, given ``other`` placed and alive at the same time."""
    size = _aligned(buffer.size)
    if other.id in buffer.below:
        distance = buffer.below[other.id]
        if distance >= 0:  # buffer is the output: at least D below the input, or wholly above it
            return other.offset - distance + 1, other.offset + _aligned(other.size)
        return other.offset - size + 1, other.offset - distance  # buffer is the input
    return other.offset - size + 1, other.offset + _aligned(other.size)


# Orders to place buffers in: largest first is best for most plans; largest area in bytes x steps first wins
# where long-lived tensors sit beside short strips (patch-based execution), by up to a tenth.
PLACEMENT_ORDERS = (lambda b: (-b.size, b.first), lambda b: (-b.size * (b.last - b.first + 1), b.first))


def _place(buffers: list[Buffer]) -> int:
    """Offsets for ``buffers`` (set on them), with the placement order that needs the smallest arena."""
    best = None
    for order in PLACEMENT_ORDERS:
        arena = _place_in_order(buffers, order)
        if best is None or arena < best[0]:
            best = (arena, [b.offset for b in buffers])
    for buffer, offset in zip(buffers, best[1], strict=True):
        buffer.offset = offset
    return best[0]


def _place_in_order(buffers: list[Buffer], order) -> int:
    placed: list[Buffer] = []
    low, high = 0, 0
    for buffer in sorted(buffers, key=order):
        size = _aligned(buffer.size)
        intervals = [_forbidden(buffer, b) for b in placed if b.first <= buffer.last and buffer.first <= b.last]
        candidates = {low, high - size} | {hi for _, hi in intervals} | {lo - 1 for lo, _ in intervals}
        candidates |= {b.offset - d for b in placed for bid, d in buffer.below.items() if bid == b.id and d >= 0}
        best = None
        for offset in sorted(candidates):
            if offset % ALIGNMENT or any(lo <= offset < hi for lo, hi in intervals):
                continue
            extent = max(high, offset + size) - min(low, offset)
            gap = min((lo - 1 - offset - size for lo, _ in intervals if lo - 1 >= offset + size), default=1 << 40)
            key = (extent, gap, abs(offset))
            if best is None or key < best[0]:
                best = (key, offset)
        buffer.offset = best[1] if best else high
        placed.append(buffer)
        low, high = min(low, buffer.offset), max(high, buffer.offset + size)
    for buffer in buffers:
        buffer.offset -= low
    return high - low


def _aligned(size: int) -> int:
    return (size + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
