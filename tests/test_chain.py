"""`edgepose pipeline` end to end on a micro config (a few synthetic images, one epoch, the tiny model at
96 px): train → export → quantize → evaluate → benchmark on the host agent and the emulated Cortex-M7 →
compare; `--resume` skipping what is unchanged; a target that fails without losing the others; and
`--steps` on a model trained elsewhere."""

from __future__ import annotations

import json

import pytest

MICRO = """
dataset:
  synthetic: {train_size: 16, val_size: 8, image_size: 96}
model: {name: tiny, input_size: 96}
training: {epochs: 1, batch_size: 8}
quantization: {calibration_size: 8}
evaluation: {max_samples: 8}
targets:
  - host
  - qemu-m7
  - {board: nucleo-h743zi2, port: /dev/ttyNOSUCHPORT}
benchmark: {warmup: 0, runs: 3}
"""


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """One whole pipeline run, shared by the tests that read it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path_factory.mktemp("chain")
    (folder / "micro.yaml").write_text(MICRO)
    env = {**os.environ, "EDGEPOSE_CACHE": str(folder / "cache")}
    cli = str(Path(sys.executable).parent / "edgepose")

    def run(*args):
        return subprocess.run([cli, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=900)

    first = run("pipeline", "micro.yaml", "--out", "run")
    return folder, run, first


@pytest.mark.slow
def test_the_whole_chain_runs_and_a_failing_target_loses_nothing(chain):
    folder, _, done = chain
    assert done.returncode == 0, done.stderr[-2000:]
    run = folder / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert [s["name"] for s in summary["steps"]] == ["train", "export", "quantize", "evaluate", "benchmark", "compare"]
    assert all(s["status"] == "done" for s in summary["steps"])
    for target in ("host", "qemu-m7"):
        report = json.loads((run / "benchmark" / f"{target}.json").read_text())
        assert report["output_check"]["passed"], target
    assert json.loads((run / "benchmark" / "qemu-m7.json").read_text())["latency"]["unit"] == "instructions"
    failed = json.loads((run / "pipeline.json").read_text())["steps"]["benchmark"]["failures"]
    assert [f["target"] for f in failed] == ["nucleo-h743zi2"] and "/dev/ttyNOSUCHPORT" in failed[0]["reason"]
    assert "target nucleo-h743zi2 failed" in done.stderr
    accuracy = json.loads((run / "evaluate" / "accuracy.json").read_text())
    assert set(accuracy) == {"float", "int8"}
    for scores in accuracy.values():
        assert {"AP", "AP50", "AP75", "AR", "mean_oks", "pck@0.2", "mean_error_px"} <= set(scores)
        assert scores["mean_error_px"] > 0
    assert "qemu-m7" in (run / "compare" / "compare.html").read_text()
    assert (run / "pipeline.log").read_text().count("done in") == 6


@pytest.mark.slow
def test_resume_skips_finished_steps_and_reruns_what_changed(chain):
    folder, run, first = chain
    assert first.returncode == 0
    again = run("pipeline", "micro.yaml", "--out", "run", "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    steps = json.loads((folder / "run" / "summary.json").read_text())["steps"]
    assert {s["status"] for s in steps} == {"skipped"}
    changed = run(
        "pipeline", "micro.yaml", "benchmark.runs=2", "--out", "run", "--resume", "--steps", "benchmark,compare"
    )
    assert changed.returncode == 0, changed.stderr[-2000:]
    steps = {s["name"]: s["status"] for s in json.loads((folder / "run" / "summary.json").read_text())["steps"]}
    assert steps == {"benchmark": "done", "compare": "done"}
    assert json.loads((folder / "run" / "benchmark" / "host.json").read_text())["settings"]["runs"] == 2


@pytest.mark.slow
def test_steps_on_a_model_trained_elsewhere(chain):
    """The config leaves the input size to the zoo default (128): the 96 px model given decides it."""
    folder, run, first = chain
    assert first.returncode == 0
    done = run(
        "pipeline", "micro.yaml", "targets=[host]", "model.input_size=null", "--steps", "quantize,evaluate",
        "--model", str(folder / "run" / "train" / "best.keras"), "--out", "second",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads((folder / "second" / "summary.json").read_text())["steps"]
    assert [s["name"] for s in steps] == ["quantize", "evaluate"]
    assert (folder / "second" / "evaluate" / "accuracy.json").is_file()


def test_unknown_steps_and_resume_without_a_folder_are_refused(edgepose, tmp_path):
    (tmp_path / "c.yaml").write_text(MICRO)
    bad = edgepose("pipeline", "c.yaml", "--steps", "train,flash")
    assert bad.returncode == 2 and "unknown step(s) flash" in bad.stderr
    assert "train, export, quantize" in bad.stderr
    lost = edgepose("pipeline", "c.yaml", "--resume")
    assert lost.returncode == 2 and "--out" in lost.stderr
    missing = edgepose("pipeline", "c.yaml", "--steps", "evaluate", "--out", "x")
    assert missing.returncode == 2 and "nothing to evaluate: train a model, or give one" in missing.stderr


MICRO_DEMO = [
    "dataset.synthetic.train_size=16", "dataset.synthetic.val_size=8", "dataset.synthetic.image_size=96",
    "model.input_size=96", "training.epochs=1", "training.batch_size=8", "quantization.calibration_size=8",
    "evaluation.max_samples=8", "benchmark.runs=3", "benchmark.warmup=0",
]  # fmt: skip


@pytest.mark.slow
def test_demo_produces_the_summary_page(edgepose, tmp_path):
    """The demo on a micro dataset: the same steps as `make demo`, in a fraction of the time."""
    import re

    import yaml

    done = edgepose("demo", *MICRO_DEMO, env={"EDGEPOSE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = (tmp_path / "runs").glob("demo-*")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["verb"] == "demo"
    assert yaml.safe_load((run / "config.yaml").read_text()) == manifest["config"]
    assert [t["board"] for t in json.loads((run / "targets.json").read_text())] == [
        "host", "host", "qemu-m7", "qemu-m55"
    ]  # fmt: skip
    page = (run / "summary.html").read_text()
    assert f"summary: {run / 'summary.html'}" in done.stdout
    assert re.search(r"<td>float</td>.*<td>int8</td>", page)
    accuracy_table = page.split("<table>")[1]
    assert "<th>mean_error_px</th>" in accuracy_table and "nan" not in accuracy_table
    for runtime in ("litert", "onnxruntime", "edgepose-c"):
        assert f"<td>{runtime}</td>" in page
    assert page.count("instructions (emulated)") == 2 and page.count("<td>pass</td>") == 4
    assert page.count("data:image/png;base64,") == 3  # latency plot, float and int8 predictions
