"""What an int8 ``.tflite`` made from float16 weights weighs: every zoo model (random weights, default size)
exported as float32 and float16 TFLite, the float16 file quantized with TFLite's calibrator, and the int8
file as the calibrator writes it (it keeps the float16 originals: edgepose's output before pruning) and as
edgepose writes it now (unused tensors and buffers pruned). Parameters are counted as ``inspect`` does
(constants some op reads).

    .venv/bin/python benchmarks/bench_int8_size.py [--models tiny,mobilenetv2_heatmaps,movenet_like]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _record import record  # noqa: E402

import edgepose.quantize.tflite_ptq as tflite_ptq  # noqa: E402
from edgepose.convert.export import export_model  # noqa: E402
from edgepose.convert.inspect import describe  # noqa: E402
from edgepose.convert.tflite_prune import prune_unused  # noqa: E402
from edgepose.models import build_model, model_names  # noqa: E402


def sizes(name: str, folder: Path) -> dict:
    model = build_model(name)
    keras_file = folder / f"{name}.keras"
    model.save(keras_file)
    fp32 = export_model(keras_file, "tflite", folder).path
    fp16 = export_model(keras_file, "tflite-fp16", folder).path
    inputs = np.random.default_rng(0).uniform(-1, 1, (8, *model.input_shape[1:])).astype(np.float32)
    written = {}
    with mock.patch.object(tflite_ptq, "prune_unused", lambda data: written.setdefault("raw", data)):
        tflite_ptq.quantize_tflite_file(fp16, inputs, tflite_ptq.TfliteSettings())
    before, after = folder / f"{name}_before.tflite", folder / f"{name}_after.tflite"
    before.write_bytes(written["raw"])
    after.write_bytes(prune_unused(written["raw"]))
    row = {"model": name, "input": list(model.input_shape[1:3])}
    for label, path in (("fp32", fp32), ("fp16", fp16), ("int8_before", before), ("int8_after", after)):
        row[f"{label}_bytes"] = path.stat().st_size
        row[f"{label}_params"] = describe(path)["params"]
    row["int8_after_vs_fp32"] = round(row["int8_after_bytes"] / row["fp32_bytes"], 3)
    row["int8_before_vs_fp16"] = round(row["int8_before_bytes"] / row["fp16_bytes"], 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(model_names()))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            rows.append(sizes(name, Path(scratch)))
            r = rows[-1]
            print(
                f"{name:22s} fp32 {r['fp32_bytes']:>10,} fp16 {r['fp16_bytes']:>10,} int8 before "
                f"{r['int8_before_bytes']:>10,} ({r['int8_before_params']:,} params) "
                f"after {r['int8_after_bytes']:>10,} "
                f"({r['int8_after_params']:,} params) = {r['int8_after_vs_fp32']:.3f} x fp32"
            )
    record("bench_int8_size", {"rows": rows})


if __name__ == "__main__":
    main()
