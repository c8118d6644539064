"""Every zoo model, int8, compiled with the benchmark firmware for every STM32 board in targets/ (and the
emulated ones): whether it fits, the clock the firmware sets up, and where each part goes — code, weights,
the most-read weights copied into a TCM, arena, stack — with how full each memory region is, read back from
the linked ELF. The figures a user checks before buying a board; no board is needed to produce them.

    .venv/bin/python benchmarks/bench_boards.py [--boards nucleo-h743zi2,...] [--models tiny,...]

Weights are random (an untrained model at its default size and at 96 px): sizes do not depend on them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _record import record  # noqa: E402
from bench_mcu import int8_model  # noqa: E402

from edgepose.boards import load_boards  # noqa: E402
from edgepose.codegen.compile import compile_for_board  # noqa: E402
from edgepose.errors import EdgeposeError  # noqa: E402
from edgepose.models import model_names  # noqa: E402
from edgepose.models.registry import model_info  # noqa: E402


def row(model: Path, name: str, size: int, board: str, folder: Path) -> dict:
    out = {"model": name, "input_size": size, "board": board}
    try:
        report = compile_for_board(model, board, folder / f"{name}-{size}-{board}")
    except EdgeposeError as exc:
        return out | {"fits": False, "error": str(exc)}
    firmware = report["firmware"]
    regions = {r["name"]: {"used": r["used"], "size": r["size"]} for r in report["regions"]}
    hot = next((r for r in report["regions"] if r["name"] == report["placement"].get("hot_weights")), None)
    return out | {
        "fits": True,
        "kernels": report["kernels"],
        "clock_hz": report["clock"]["core_hz"],
        "arena_bytes": report["arena_bytes"],
        "weights_bytes": report["weights_bytes"],
        "code_bytes": report["code_bytes"],
        "flash_bytes": firmware["flash_bytes"],
        "placement": report["placement"],
        "regions": regions,
        "hot_weights_in": hot["name"] if hot else None,
    }


def main() -> None:
    mcus = [name for name, board in load_boards().items() if board.is_mcu]
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", default=",".join(mcus))
    parser.add_argument("--models", default=",".join(model_names()))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-boards-"))
    rows = []
    for name in args.models.split(","):
        default = max(model_info(name).input_sizes)[0]
        for size in sorted({default, 96}, reverse=True):
            model = int8_model(name, folder, (size, size))
            for board in args.boards.split(","):
                rows.append(row(model, name, size, board, folder))
                summary = {k: rows[-1].get(k) for k in ("model", "input_size", "board", "fits", "placement")}
                print(summary, flush=True)
    record("bench_boards", {"results": rows})


if __name__ == "__main__":
    main()
