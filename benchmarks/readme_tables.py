"""Rewrite the README's result tables from the newest files in ``results/``.

Each table sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in README.md and is made
only from recorded results, so a figure in the README always has a file (with its date, command and
machine) behind it.

    .venv/bin/python benchmarks/readme_tables.py
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
README = Path(__file__).parents[1] / "README.md"


def newest(pattern: str) -> dict | None:
    files = sorted(RESULTS.glob(pattern))
    return json.loads(files[-1].read_text()) if files else None


def _ap(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def recipe() -> str:
    rows = []
    for name, suffix in (("tiny", ""), ("mobilenetv2_heatmaps", "-mobilenetv2_heatmaps")):
        pattern = f"*-bench_accuracy_synth-softmax_ce{suffix}.json"
        result = newest(pattern)
        if result is None:
            continue
        r, v = result["recipe"], result["validation"]
        flipped = next(
            (d["AP"] for d in result.get("by_decoding", []) if d["refine"] == "integral" and d["flip_test"]), None
        )
        optimizer = json.dumps(r["optimizer"]).replace('"', "")
        busy = " (machine busy: an upper bound)" if "busy" in result.get("note", "") else ""
        rows.append(
            f"| {name} {r['input_size'][0]} px | {result['epochs']} epochs, batch {r['batch_size']}, sigma "
            f"{r['heatmap_sigma']}, {optimizer} | {_ap(v['AP'])} | {_ap(v['AP50'])} | {_ap(v['AP75'])} | "
            f"{v['mean_oks']:.3f} | {_ap(flipped)} | {result['wall_minutes']:.1f} min{busy} | {result['date']} |"
        )
    head = "| model | recipe | AP | AP50 | AP75 | mean OKS | AP with flip test | wall time | measured |\n"
    return head + "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n" + "\n".join(rows)


def pipeline() -> str:
    result = newest("*-bench_train.json")
    head = (
        "| model | train img/s | pipeline img/s | ratio | model CPU ms/img | pipeline CPU ms/img | ratio |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    rows = [
        f"| {m['model']} {m['input_size'][0]} px | {m['train_images_per_s']} | {m['pipeline_images_per_s']} | "
        f"{m['pipeline_to_model']}x | {m.get('train_cpu_ms_per_image', '-')} | "
        f"{m.get('pipeline_cpu_ms_per_image', '-')} | {m.get('pipeline_to_model_cpu', '-')}x |"
        for m in result["models"]
    ]
    tiny = next((m for m in result["models"] if m["model"] == "tiny" and "stage_profile" in m), None)
    stages = ""
    if tiny:
        stages = (
            "\n\nWhere the pipeline's time goes (tiny; the pipeline cut after each stage, CPU ms per image; a "
            "negative stage costs less than the per-element work that batching saves):\n\n"
            "| pipeline up to | CPU ms/img | the stage's own |\n| --- | ---: | ---: |\n"
        )
        stages += "\n".join(
            f"| {s['stage']} | {s['cpu_ms_per_image']} | {s['stage_cpu_ms_per_image']:+} |"
            for s in tiny["stage_profile"]
        )
    return f"({result['date']}, batch {result['batch_size']})\n\n" + head + "\n".join(rows) + stages


def int8() -> str:
    result = newest("*-bench_quant_accuracy.json")
    variants = ("tflite per-channel", "tflite per-tensor", "onnx qdq minmax")
    head = "| model | float AP | " + " | ".join(f"int8 {v} (drop)" for v in variants) + " |\n"
    head += "| --- | ---: |" + " ---: |" * len(variants) + "\n"
    rows = []
    for name, m in result["models"].items():
        cells = []
        for variant in variants:
            scores = m["int8"].get(variant)
            cells.append("-" if scores is None else f"{scores['AP']:.3f} ({scores['AP_drop_points']:+.2f})")
        epochs = result["epochs"].get(name)
        label = f"{name}, {epochs} epochs" if epochs else f"{name}, the recipe's model above"
        rows.append(f"| {label} | {m['float']['AP']:.3f} | " + " | ".join(cells) + " |")
    return f"({result['date']}; drop in AP points, positive = int8 lower)\n\n" + head + "\n".join(rows)


def qat() -> str:
    """PTQ against quantization-aware fine-tuning on the larger validation set, in one run."""
    result = newest("*-bench_quant_accuracy-qat-*.json")
    variants = ("tflite per-channel", "tflite per-tensor", "tflite per-channel + QAT", "tflite per-tensor + QAT")
    head = "| model | validation people | float AP | " + " | ".join(f"{v} (drop)" for v in variants) + " |\n"
    head += "| --- | ---: | ---: |" + " ---: |" * len(variants) + "\n"
    rows, notes = [], []
    for name, m in result["models"].items():
        cells = []
        for variant in variants:
            scores = m["int8"].get(variant)
            cells.append("-" if scores is None else f"{scores['AP']:.3f} ({scores['AP_drop_points']:+.2f})")
            if scores and "fine_tuned_float_AP" in scores:
                against_tuned = scores["AP_drop_vs_fine_tuned_float_points"]
                notes.append(
                    f"{name} {variant}: {scores['qat_epochs']} epochs, {scores['quantize_minutes']} min; the "
                    f"fine-tuned float model scores {scores['fine_tuned_float_AP']:.3f}, and its int8 model "
                    f"{against_tuned:+.2f} against it"
                )
        rows.append(f"| {name} | {m['val_people']} | {m['float']['AP']:.3f} | " + " | ".join(cells) + " |")
    table = f"({result['date']}; drop in AP points against the original float model)\n\n" + head + "\n".join(rows)
    return table + "".join(f"\n- {note}" if i else f"\n\n- {note}" for i, note in enumerate(notes))


def mcu_memory() -> str:
    """Activation RAM layer by layer and with patch-based execution, against TFLite Micro's arena; where an
    STM32H743 puts the activations."""
    result = newest("*-bench_mcu-memory.json")
    head = (
        "| model (int8), qemu-m7 | TFLite Micro arena | layer by layer | tiled | extra MACs | extra instructions |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n"
    )
    rows, exact = [], True
    for r in result["results"]:
        s = r.get("summary")
        if s is None:
            continue
        exact = exact and r["layer_by_layer"]["bit_exact"] and r["tiled"]["bit_exact"]
        rows.append(
            f"| {_label(r)} | {s['tflm_arena_bytes']:,} B | {s['arena_layer_by_layer']:,} B "
            f"({s['ratio_layer_by_layer']:.3f}x) | {s['arena_tiled']:,} B ({s['ratio_tiled']:.3f}x) | "
            f"{100 * s['extra_macs_ratio']:.1f}% | {100 * (s['instructions_ratio'] - 1):.1f}% |"
        )
    m4 = result["tiny_96_on_qemu_m4"]
    fits = (
        f"tiny at 96 px fits qemu-m4's 128 KB of SRAM: firmware RAM {m4['firmware_ram_bytes']:,} B"
        if "error" not in m4
        else f"tiny at 96 px on qemu-m4: {m4['error']}"
    )
    h7 = [
        f"{_label(r)}: {r['fast_arena_bytes']:,} B in DTCM, {r['arena_bytes'] - r['fast_arena_bytes']:,} B in "
        f"{r['placement']['arena']}"
        if r.get("fast_arena_bytes")
        else f"{_label(r)}: all {r['arena_bytes']:,} B in {r['placement']['arena']}"
        for r in result.get("h743_regions", [])
        if "error" not in r
    ]
    regions = f" On an STM32H743 (compiled and linked): {'; '.join(h7)}." if h7 else ""
    check = "every run bit-exact with tflite-micro" if exact else "NOT every run bit-exact: see the file"
    return f"({result['date']}; {check})\n\n" + head + "\n".join(rows) + f"\n\n{fits}.{regions}"


def _label(row: dict) -> str:
    from edgepose.models import model_names

    size = row.get("input_size")
    brought = "" if row["model"] in model_names() else " (brought, several outputs)"
    return f"{row['model']} {size[0]} px{brought}" if size else f"{row['model']}{brought}"


TABLES: dict[str, Callable[[], str]] = {
    "recipe": recipe,
    "pipeline": pipeline,
    "int8": int8,
    "qat": qat,
    "mcu-memory": mcu_memory,
}


def main() -> None:
    text = README.read_text()
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- results:{name} -->\n)(?:.*?\n)?(<!-- /results:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- results:{name} --> ... <!-- /results:{name} --> block")
        text = pattern.sub(lambda m, table=make(): m.group(1) + table + "\n" + m.group(2), text)
    README.write_text(text)
    print(f"rewrote {', '.join(TABLES)} in {README}")


if __name__ == "__main__":
    main()
