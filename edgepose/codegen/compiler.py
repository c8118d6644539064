"""``edgepose compile``'s library side: a ``.tflite`` file → a folder of generated C, and a host build of
it for checking against the reference interpreter.

The whole model is checked before anything is written: every op that cannot be lowered is listed in one
error (as ST's ``analyze`` does), and the folder is written to a temporary sibling and renamed, so a
failed run never leaves a half-generated folder behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from edgepose.atomic import atomic_directory
from edgepose.codegen.emit import emit
from edgepose.codegen.graph import Graph, read_graph
from edgepose.codegen.lower import lower
from edgepose.codegen.planner import plan_memory
from edgepose.codegen.tiling import DEFAULT_MAX_RECOMPUTE, tile
from edgepose.errors import EdgeposeError, UnsupportedOpError

SUMMARY = "network.json"


@dataclass
class Compiled:
    folder: Path
    layers: int
    kernels: str
    macs: int
    arena_bytes: int  # all activation RAM, the fast arena's part included
    input_bytes: int
    output_bytes: int
    weights_bytes: int
    fast_arena_bytes: int = 0  # the part of arena_bytes in the board's fast RAM (see planner)
    tiling: dict | None = None  # what patch-based execution tiled and saved (see tiling.Tiling)

    def to_dict(self) -> dict:
        return {**asdict(self), "folder": str(self.folder)}


def generate(
    model: Path,
    out: Path,
    lut_source=None,
    check=None,
    kernels: str = "portable",
    max_recompute: float = DEFAULT_MAX_RECOMPUTE,
    fast_ram: tuple[int, int] | None = None,
) -> Compiled:
    """Generate the C folder ``out`` for ``model``; raises UnsupportedOpError listing every missing op.
    ``check(compiled)`` runs before anything is written (the board fit check) and may raise. ``kernels``:
    the variant of the kernels to call (see ``lower``). ``max_recompute``: the extra MACs patch-based
    execution of the first layers may cost, as a fraction of the model's (0: layer by layer only).
    ``fast_ram``: ``(size, room)`` of a RAM faster than the others: an arena bigger than ``size`` is split, its
    most-used activations in at most ``room`` bytes there (None: one arena)."""
    model = Path(model)
    graph = read_graph(model)
    _check_io(graph, model)
    steps, problems = lower(graph, lut_source, kernels)
    if problems:
        raise UnsupportedOpError(
            f"{model}: {len(problems)} op(s) cannot be compiled: " + "; ".join(problems) + ". Nothing was written."
        )
    steps, tiling = tile(graph, steps, max_recompute, kernels, lut_source)
    plan = plan_memory(graph, steps)
    if fast_ram and plan.arena_bytes > fast_ram[0]:
        plan = plan_memory(graph, steps, fast_bytes=fast_ram[1])
    files = emit(graph, steps, plan, model.stem)
    weights = sum(c.values.nbytes for s in steps for c in s.constants)
    compiled = Compiled(
        Path(out),
        len(steps),
        kernels,
        sum(s.macs for s in steps),
        plan.arena_bytes + plan.fast_arena_bytes,
        plan.input_bytes,
        plan.output_bytes,
        weights,
        plan.fast_arena_bytes,
        tiling.to_dict() if tiling else None,
    )
    if check is not None:
        check(compiled)
    files[SUMMARY] = json.dumps(
        {**compiled.to_dict(), "model": model.name, "layers_detail": _layers(graph, steps)}, indent=2
    )
    with atomic_directory(Path(out)) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text)
    return compiled


def _layers(graph: Graph, steps) -> list[dict]:
    return [
        {
            "index": i,
            "op": s.op.kind,
            "output": graph.tensors[s.op.outputs[0]].name,
            "macs": s.macs,
            "constants": {c.name: int(c.values.nbytes) for c in s.constants},
        }
        for i, s in enumerate(steps)
    ]


def _check_io(graph: Graph, model: Path) -> None:
    for t in graph.inputs + graph.outputs:
        tensor = graph.tensors[t]
        if tensor.dtype not in ("INT8", "INT16", "FLOAT32"):
            raise UnsupportedOpError(
                f"{model}: model input/output '{tensor.name}' is {tensor.dtype.lower()}; quantize with int8 (int16 "
                "for 16x8) or float32 input and output types"
            )


def build_host(folder: Path, build_dir: Path, poison: bool = False, in_place: bool = False, cc: str = "gcc") -> Path:
    """Compile the generated folder with the host harness into an executable; returns its path. ``in_place``
    builds the harness that passes the arena's own input and output locations (the no-copy path)."""
    if shutil.which(cc) is None:
        raise EdgeposeError(f"'{cc}' not found: install a C compiler (apt-get install gcc) to build generated code")
    build_dir.mkdir(parents=True, exist_ok=True)
    harness = resources.files("edgepose.codegen") / "kernels" / "ep_host_main.c"
    exe = build_dir / ("network" + ("_poison" if poison else "") + ("_in_place" if in_place else ""))
    sources = sorted(str(p) for p in Path(folder).glob("*.c"))
    command = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-I", str(folder)]
    command += ["-DEP_POISON_DEAD"] if poison else []
    command += ["-DEP_HOST_IN_PLACE"] if in_place else []
    command += [*sources, str(harness), "-lm", "-o", str(exe)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise EdgeposeError(f"{folder}: generated code does not compile: {result.stderr.strip()[:2000]}")
    return exe
