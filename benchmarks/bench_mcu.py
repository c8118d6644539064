"""Every zoo model, int8, compiled to C and run in the emulated Cortex-M boards: instructions per
inference, instructions per MAC, activation RAM, weights flash, code size, and the TFLite Micro arena the
same model needs. The baseline that faster kernels are measured against.

Weights are random (an untrained model at its default size): memory and instruction counts do not depend
on their values. With QEMU's ``-icount shift=0`` one instruction is one emulated nanosecond, so the
figures are instruction counts, deterministic from run to run, not board time.

    .venv/bin/python benchmarks/bench_mcu.py [--boards qemu-m7,qemu-m55,qemu-m4] [--models tiny,...]
    .venv/bin/python benchmarks/bench_mcu.py --layers [--kernels portable,dsp] [--boards qemu-m7,qemu-m33]
    .venv/bin/python benchmarks/bench_mcu.py --memory [--models tiny,...] [--brought model_int8.tflite,...]
    .venv/bin/python benchmarks/bench_mcu.py --cost

``--layers`` measures the four layers compact pose models spend their time in, each as a single-op int8
model, with every kernel variant the board runs, beside the anchor: ARM's CMSIS-NN kernels in TFLite Micro
measured on the same emulated cores (arm-none-eabi-gcc 12.2 -O2, QEMU 7.2; figures from the kernels issue,
not measured by this script).

``--memory`` measures activation RAM against TFLite Micro's arena layer by layer and with patch-based
execution, per zoo model at its default size and at 96 px and per brought model (by default a
landmark-like network with four outputs built here), with the extra MACs and instructions it costs.
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

# Whole models in TFLite Micro with CMSIS-NN (its own Makefile, cortex_m_generic, -O2) on the same QEMU machines:
# instructions per inference, from the kernels issue (not measured by this script). Targets: <= 0.5x on qemu-m7,
# <= 0.7x on qemu-m55.
TFLM_CMSIS_NN = {
    ("tiny", 128): {"qemu-m7": 111.1e6, "qemu-m55": 27.9e6},
    ("mobilenetv2_heatmaps", 96): {"qemu-m7": 40.3e6, "qemu-m55": 12.8e6},
}


def int8_model(name: str, folder: Path, size: tuple[int, int] | None = None) -> Path:
    model = build_model(name, size)
    return full_int8(model, folder / f"{name}_{model.input_shape[1]}_int8.tflite")


def full_int8(model, path: Path) -> Path:
    """``model`` (Keras) as a full-integer .tflite with int8 input and output, calibrated on random inputs:
    instruction counts and memory do not depend on the values."""
    import tensorflow as tf

    shape = (1, *model.input_shape[1:])
    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))]
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.uniform(-1, 1, shape).astype(np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


# layer -> (input shape, Keras layer builder, MACs, CMSIS-NN instructions per MAC on qemu-m7, on qemu-m55)
LAYERS = {
    "1x1 conv, 12x12x16 -> 96": ((12, 12, 16), lambda L: L.Conv2D(96, 1, activation="relu6"), 221_184, 3.91, 1.05),
    "1x1 conv, 12x12x96 -> 24": ((12, 12, 96), lambda L: L.Conv2D(24, 1), 331_776, 1.83, 0.32),
    "depthwise 3x3 s1 same, 24x24x48": (
        (24, 24, 48), lambda L: L.DepthwiseConv2D(3, padding="same", activation="relu6"), 248_832, 7.97, 2.47,
    ),
    "conv 3x3 s2 same, 96x96x3 -> 16": (
        (96, 96, 3), lambda L: L.Conv2D(16, 3, strides=2, padding="same", activation="relu6"), 995_328, 4.88, 1.42,
    ),
}  # fmt: skip
CMSIS_NN = {"qemu-m7": 3, "qemu-m55": 4}  # index of the anchor column in LAYERS


def layer_model(name: str, folder: Path) -> Path:
    import keras

    shape, build, _, _, _ = LAYERS[name]
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, build(keras.layers)(inputs))
    return full_int8(model, folder / (name.replace(" ", "_").replace(",", "").replace(">", "") + ".tflite"))


def measure(
    model: Path, board_name: str, folder: Path, kernels: str | None = None, max_recompute: float = 0.10
) -> dict:
    board = find_board(board_name)
    try:
        build = folder / f"{model.stem}-{board_name}-{kernels or 'auto'}-{max_recompute:g}"
        compiled = compile_for_board(model, board_name, build, kernels=kernels, max_recompute=max_recompute)
    except EdgeposeError as error:
        return {"board": board_name, "error": str(error)}
    link = QemuLink(board, Path(compiled["firmware"]["elf"]))
    with link:
        report = benchmark(
            Client(link, timeout=30.0), model, Target(board.name, "qemu", reference_runtime="tflite-micro"),
            Settings(warmup=0, runs=1, timeout_s=600),
        )  # fmt: skip
    instructions = report["latency"]["p50"]  # an emulated board's latency is in instructions
    return {
        "board": board_name,
        "kernels": compiled["kernels"],
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
        "tiling": compiled["tiling"],
    }


def layers(boards: list[str], variants: list[str], folder: Path) -> None:
    """The four layers, every variant, beside CMSIS-NN's instructions per MAC."""
    rows = []
    for name in LAYERS:
        model = layer_model(name, folder)
        for board in boards:
            for variant in variants:
                if variant not in find_board(board).kernel_variants:
                    continue
                row = {"layer": name, **measure(model, board, folder, variant)}
                anchor = LAYERS[name][CMSIS_NN[board]] if board in CMSIS_NN else None
                row["cmsis_nn_instructions_per_mac"] = anchor
                row["vs_cmsis_nn"] = round(row["instructions_per_mac"] / anchor, 3) if anchor else None
                print(row, flush=True)
                rows.append(row)
    totals = {}
    for row in rows:
        key = f"{row['board']} {row['kernels']}"
        total = totals.setdefault(key, {"instructions": 0, "macs": 0, "cmsis_nn_instructions": 0.0})
        total["instructions"] += row["instructions"]
        total["macs"] += row["macs"]
        total["cmsis_nn_instructions"] += (row["cmsis_nn_instructions_per_mac"] or 0) * row["macs"]
    for key, total in totals.items():
        total["instructions_per_mac"] = round(total["instructions"] / total["macs"], 2)
        anchor = total.pop("cmsis_nn_instructions")
        total["vs_cmsis_nn"] = round(total["instructions"] / anchor, 3) if anchor else None
        print(key, total)
    record("bench_mcu-layers", {"results": rows, "all_four": totals})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", default="qemu-m7,qemu-m55,qemu-m4")
    parser.add_argument("--models", default=",".join(model_names()))
    parser.add_argument("--layers", action="store_true", help="the four single-layer models instead of the zoo")
    parser.add_argument("--kernels", default="portable,dsp", help="variants to compare (with --layers)")
    parser.add_argument(
        "--memory", action="store_true", help="activation RAM with and without patch-based execution (qemu-m7)"
    )
    parser.add_argument("--cost", action="store_true", help="the tiling budget's cost model against a profile")
    parser.add_argument(
        "--brought", default="", help="with --memory: int8 .tflite models from elsewhere (default: a landmark-like one)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-mcu-"))
    if args.layers:
        layers(args.boards.split(","), args.kernels.split(","), folder)
        return
    if args.cost:
        cost(folder)
        return
    if args.memory:
        memory(args.models.split(","), [Path(p) for p in args.brought.split(",") if p], folder)
        return
    rows = []
    for name in args.models.split(","):
        sizes = sorted(model_info(name).input_sizes, reverse=True)
        anchored = [(s, s) for model, s in TFLM_CMSIS_NN if model == name and (s, s) not in sizes]
        models = {size: int8_model(name, folder, size) for size in sizes + anchored}
        for board in args.boards.split(","):
            for size in sizes:  # the default size first; a smaller one where it does not fit the board
                rows.append(zoo_row(name, size, models[size], board, folder))
                if "error" not in rows[-1]:
                    break
            rows += [zoo_row(name, size, models[size], board, folder) for size in anchored]
    record("bench_mcu", {"results": rows})


def memory(names: list[str], brought: list[Path], folder: Path) -> None:
    """Per zoo model at its default size and at 96 px, and per brought model, on qemu-m7: the arena layer by
    layer and with patch-based execution (default budget), TFLite Micro's arena, extra MACs and instructions
    of both; whether tiny at 96 px fits qemu-m4 (128 KB SRAM) with its firmware; and where each zoo model's
    activations go on an STM32H743 (DTCM and AXI SRAM; compiled and linked, not run)."""
    models = [
        (name, list(size), int8_model(name, folder, size))
        for name in names
        for size in sorted({tuple(model_info(name).default_input_size), (96, 96)}, reverse=True)
    ]
    models += [(path.stem, None, path) for path in brought] or [("landmark_like", [224, 224], landmark_like(folder))]
    rows = [memory_row(name, size, model, folder) for name, size, model in models]
    fits = measure(int8_model("tiny", folder, (96, 96)), "qemu-m4", folder)
    print("tiny 96 on qemu-m4:", {k: fits.get(k) for k in ("arena_bytes", "firmware_ram_bytes", "error")}, flush=True)
    regions = [region_row(name, size, model, folder) for name, size, model in models if size is None or name in names]
    record(
        "bench_mcu-memory",
        {"results": rows, "tiny_96_on_qemu_m4": fits, "h743_regions": regions, "target_ratio": 0.40,
         "target_ratio_brought": 0.60},
    )  # fmt: skip


def memory_row(name: str, size: list | None, model: Path, folder: Path) -> dict:
    plain, tiled = (measure(model, "qemu-m7", folder, max_recompute=budget) for budget in (0.0, 0.10))
    row = {"model": name, "input_size": size, "board": "qemu-m7", "layer_by_layer": plain, "tiled": tiled}
    if "error" not in plain and "error" not in tiled:
        row["summary"] = {
            "tflm_arena_bytes": tiled["tflm_arena_bytes"],
            "arena_layer_by_layer": plain["arena_bytes"],
            "arena_tiled": tiled["arena_bytes"],
            "ratio_layer_by_layer": plain["ram_vs_tflm"],
            "ratio_tiled": tiled["ram_vs_tflm"],
            "extra_macs_ratio": (tiled["tiling"] or {}).get("extra_macs_ratio", 0.0),
            "instructions_ratio": round(tiled["instructions"] / plain["instructions"], 4),
        }
    print(name, size, row.get("summary") or row, flush=True)
    return row


def region_row(name: str, size: list | None, model: Path, folder: Path) -> dict:
    """The model compiled and linked for nucleo-h743zi2: its activations in DTCM and AXI SRAM."""
    try:
        report = compile_for_board(model, "nucleo-h743zi2", folder / f"{model.stem}-h743")
    except EdgeposeError as error:
        return {"model": name, "input_size": size, "error": str(error)}
    row = {
        "model": name,
        "input_size": size,
        "arena_bytes": report["arena_bytes"],
        "fast_arena_bytes": report["fast_arena_bytes"],
        "placement": report["placement"],
        "regions": [{k: r[k] for k in ("name", "size", "used", "sections")} for r in report["regions"]],
    }
    print("nucleo-h743zi2:", {k: row[k] for k in ("model", "input_size", "arena_bytes", "fast_arena_bytes")})
    return row


def landmark_like(folder: Path, size: int = 224) -> Path:
    """A hand-landmark network as other projects ship them (not an edgepose zoo model): a MobileNetV2-style
    backbone with residual blocks down to stride 32, and four outputs of different sizes — 21x3 landmarks,
    presence and handedness scores, 21x3 world landmarks. Random weights: memory does not depend on them."""
    import keras
    from keras import layers

    def block(x, width: int, stride: int, expand: int = 4):
        y = layers.Conv2D(x.shape[-1] * expand, 1, activation="relu6")(x)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6")(y)
        y = layers.Conv2D(width, 1)(y)
        return layers.Add()([x, y]) if stride == 1 and x.shape[-1] == width else y

    keras.utils.set_random_seed(0)
    image = keras.Input((size, size, 3), batch_size=1, name="image")
    x = layers.Conv2D(24, 3, strides=2, padding="same", activation="relu6")(image)
    for width, stride in ((16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (64, 2), (64, 1), (96, 2), (96, 1)):
        x = block(x, width, stride)
    pooled = layers.GlobalAveragePooling2D()(x)
    outputs = [
        layers.Dense(63, name="landmarks")(pooled),
        layers.Dense(1, activation="sigmoid", name="presence")(pooled),
        layers.Dense(1, activation="sigmoid", name="handedness")(pooled),
        layers.Dense(63, name="world_landmarks")(pooled),
    ]
    return full_int8(keras.Model(image, outputs), folder / f"landmark_like_{size}_int8.tflite")


COST_MODELS = (("mobilenetv2_heatmaps", 96), ("tiny", 96), ("tiny", 128))  # what the cost model is fitted to


def cost(folder: Path) -> None:
    """The cost model patch-based execution's budget is counted in (``edgepose/codegen/cost.py``) against the
    per-layer profiles of COST_MODELS, laid out layer by layer, with each kernel variant: estimated and
    measured instructions per model and per family of layers, and the constants a least-squares fit to
    these profiles gives (what ``cost.COST`` holds)."""
    rows = []
    for board_name, kernels in (("qemu-m7", "portable"), ("qemu-m7", "dsp"), ("qemu-m55", "mve")):
        layers = []
        for name, size in COST_MODELS:
            model = int8_model(name, folder, (size, size))
            layers += profile_layers(model, board_name, kernels, folder / f"cost-{model.stem}-{kernels}")
        row = {"board": board_name, "kernels": kernels, "fitted": fit_cost(layers), "models": {}}
        for model_name in dict.fromkeys(layer["model"] for layer in layers):
            mine = [layer for layer in layers if layer["model"] == model_name]
            row["models"][model_name] = {"measured": round(sum(layer["measured"] for layer in mine))}
            for family in dict.fromkeys(layer["family"] for layer in mine):
                estimated = sum(layer["estimated"] for layer in mine if layer["family"] == family)
                measured = sum(layer["measured"] for layer in mine if layer["family"] == family)
                row["models"][model_name][family] = round(estimated / measured, 3)
            row["models"][model_name]["ratio"] = round(
                sum(layer["estimated"] for layer in mine) / row["models"][model_name]["measured"], 3
            )
        print(row, flush=True)
        rows.append(row)
    record("bench_mcu-cost", {"models": [f"{n} {s}x{s}" for n, s in COST_MODELS], "results": rows})


def profile_layers(model: Path, board_name: str, kernels: str, build: Path) -> list[dict]:
    """Per layer of ``model`` laid out layer by layer: its family and counts of work (``cost.terms``), the
    estimate, and the instructions measured (the profile's timer ticks scaled to the whole inference)."""
    from edgepose.codegen.cost import instructions, terms
    from edgepose.codegen.graph import read_graph
    from edgepose.codegen.lower import lower

    compiled = compile_for_board(model, board_name, build, kernels=kernels, max_recompute=0)
    with QemuLink(find_board(board_name), Path(compiled["firmware"]["elf"])) as link:
        report = benchmark(
            Client(link, timeout=30.0), model, Target(board_name, "qemu", reference_runtime="tflite-micro"),
            Settings(warmup=0, runs=1, timeout_s=900, profile=True),
        )  # fmt: skip
    ticks = [layer["ticks"] for layer in report["profile"]]
    per_tick = report["latency"]["p50"] / sum(ticks)  # the profile is in timer ticks
    graph = read_graph(model)
    steps, _ = lower(graph, None, kernels)
    layers = []
    for step, tick in zip(steps, ticks, strict=True):
        family, counts = terms(graph, step)
        layers.append({
            "model": model.stem, "family": family or step.op.kind, "counts": counts,
            "estimated": instructions(graph, step), "measured": tick * per_tick,
        })  # fmt: skip
    return layers


def fit_cost(layers: list[dict]) -> dict:
    """Least-squares constants per family of convolutions (none negative), every model weighted alike (each
    layer by the inverse of its model's total); other convolutions take all but their cost per MAC from the
    pointwise fit (they share the requantization and the call)."""
    from edgepose.codegen.cost import TERMS

    totals: dict[str, float] = {}
    for layer in layers:
        totals[layer["model"]] = totals.get(layer["model"], 0.0) + layer["measured"]
    fitted = {}
    for family in ("pointwise", "depthwise", "convolution"):
        mine = [layer for layer in layers if layer["family"] == family]
        if not mine:
            continue
        x = np.array([layer["counts"] for layer in mine], float)
        y = np.array([layer["measured"] for layer in mine])
        weight = np.array([1.0 / totals[layer["model"]] for layer in mine])
        free = list(range(len(TERMS[family])))
        if family == "convolution" and "pointwise" in fitted:
            shared = {i: fitted["pointwise"][TERMS["pointwise"].index(term)] for i, term in enumerate(TERMS[family])}
            del shared[0]
            y = y - sum(x[:, i] * value for i, value in shared.items())
            free = [0]
        solution = np.zeros(len(TERMS[family]))
        solution[free] = nonnegative_lstsq(x[:, free] * weight[:, None], y * weight)
        if family == "convolution" and "pointwise" in fitted:
            for i, value in shared.items():
                solution[i] = value
        fitted[family] = [round(float(v), 3) for v in solution]
    return fitted


def nonnegative_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with no coefficient below zero: the most negative one is dropped until none is."""
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    active = list(range(x.shape[1]))
    while True:
        solution = np.zeros(x.shape[1])
        solution[active] = np.linalg.lstsq(x[:, active] / scale[active], y, rcond=None)[0] / scale[active]
        negative = [i for i in active if solution[i] < 0]
        if not negative:
            return solution
        active.remove(min(negative, key=lambda i: solution[i]))


def zoo_row(name: str, size: tuple[int, int], model: Path, board: str, folder: Path) -> dict:
    row = {"model": name, "input_size": list(size), **measure(model, board, folder)}
    anchor = TFLM_CMSIS_NN.get((name, size[0]), {}).get(board)
    if anchor and "instructions" in row:
        row["tflm_cmsis_nn_instructions"] = int(anchor)
        row["vs_tflm_cmsis_nn"] = round(row["instructions"] / anchor, 3)
    print(row, flush=True)
    return row


if __name__ == "__main__":
    main()
