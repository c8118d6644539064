"""Every zoo model, int8, compiled to C and run in the emulated Cortex-M boards: instructions per
inference, instructions per MAC, activation RAM, weights flash, code size, and the TFLite Micro arena the
same model needs. The baseline that faster kernels are measured against.

Weights are random (an untrained model at its default size): memory and instruction counts do not depend
on their values. With QEMU's ``-icount shift=0`` one instruction is one emulated nanosecond, so the
figures are instruction counts, deterministic from run to run, not board time.

    .venv/bin/python benchmarks/bench_mcu.py [--boards qemu-m7,qemu-m55,qemu-m4] [--models tiny,...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _record import record  # noqa: E402

from edgepose.backends.qemu import QemuLink  # noqa: E402
from edgepose.bench.client import Client  # noqa: E402
from edgepose.bench.harness import Settings, Target, benchmark  # noqa: E402
from edgepose.boards import find_board  # noqa: E402
from edgepose.codegen.compile import compile_for_board  # noqa: E402
from edgepose.errors import EdgeposeError  # noqa: E402
from edgepose.models import build_model, model_names  # noqa: E402
from edgepose.models.registry import model_info  # noqa: E402


def int8_model(name: str, folder: Path, size: tuple[int, int] | None = None) -> Path:
    import tensorflow as tf

    model = build_model(name, size)
    shape = (1, *model.input_shape[1:])
    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))]
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.uniform(-1, 1, shape).astype(np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = folder / f"{name}_{shape[1]}_int8.tflite"
    path.write_bytes(converter.convert())
    return path


def measure(model: Path, board_name: str, folder: Path) -> dict:
    board = find_board(board_name)
    try:
        compiled = compile_for_board(model, board_name, folder / f"{model.stem}-{board_name}")
    except EdgeposeError as error:
        return {"board": board_name, "error": str(error)}
    link = QemuLink(board, Path(compiled["firmware"]["elf"]))
    with link:
        report = benchmark(
            Client(link, timeout=2.0), model, Target(board.name, "qemu", reference_runtime="tflite-micro"),
            Settings(warmup=0, runs=1, timeout_s=600),
        )  # fmt: skip
    instructions = report["latency"]["p50"]  # an emulated board's latency is in instructions
    return {
        "board": board_name,
        "instructions": instructions,
        "instructions_per_mac": round(instructions / compiled["macs"], 2),
        "macs": compiled["macs"],
        "arena_bytes": compiled["arena_bytes"],
        "weights_bytes": compiled["weights_bytes"],
        "code_bytes": compiled["code_bytes"],
        "firmware_flash_bytes": compiled["firmware"]["flash_bytes"],
        "firmware_ram_bytes": compiled["firmware"]["ram_bytes"],
        "tflm_arena_bytes": compiled["tflm_arena_bytes"],
        "ram_vs_tflm": compiled["ram_vs_tflm"],
        "bit_exact": report["output_check"]["passed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", default="qemu-m7,qemu-m55,qemu-m4")
    parser.add_argument("--models", default=",".join(model_names()))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-mcu-"))
    rows = []
    for name in args.models.split(","):
        sizes = sorted(model_info(name).input_sizes, reverse=True)
        models = {size: int8_model(name, folder, size) for size in sizes}
        for board in args.boards.split(","):
            for size in sizes:  # the default size first; a smaller one where it does not fit the board
                row = {"model": name, "input_size": list(size), **measure(models[size], board, folder)}
                print(row, flush=True)
                rows.append(row)
                if "error" not in row:
                    break
    record("bench_mcu", {"results": rows})


if __name__ == "__main__":
    main()
