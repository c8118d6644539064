"""Run directories and atomic writes: nothing half-written ever looks complete."""

from __future__ import annotations

import json
import os

import pytest

from edgepose import atomic
from edgepose.config import load_config
from edgepose.errors import RunError
from edgepose.hashing import sha256_file, sha256_path
from edgepose.runs import Run


def manifest(run_dir):
    return json.loads((run_dir / "manifest.json").read_text())


def test_run_lifecycle(tmp_path):
    config = load_config(None, cwd=tmp_path)
    data = tmp_path / "input.bin"
    data.write_bytes(b"abc")
    run = Run.create("train", runs_dir=tmp_path / "runs", config=config)
    assert run.path.parent == tmp_path / "runs" and run.path.name.startswith("train-")
    assert manifest(run.path)["status"] == "running"
    with run:
        run.add_input(data, "dataset")
        run.write_json("metrics.json", {"ap": 0.5})
    written = manifest(run.path)
    assert written["status"] == "complete" and written["error"] is None
    assert written["inputs"] == [{"role": "dataset", "path": str(data), "sha256": sha256_file(data)}]
    outputs = {o["path"]: o for o in written["outputs"]}
    assert set(outputs) == {"config.yaml", "metrics.json"}
    assert outputs["metrics.json"]["sha256"] == sha256_file(run.path / "metrics.json")
    assert written["config"]["training"]["epochs"] == config.training.epochs
    assert written["machine"]["cores"] == os.cpu_count()


def test_a_failing_run_is_marked_failed(tmp_path):
    run = Run.create("train", runs_dir=tmp_path)
    with pytest.raises(ValueError), run:
        raise ValueError("diverged")
    written = manifest(run.path)
    assert written["status"] == "failed" and written["error"] == "ValueError: diverged"


def test_two_runs_in_the_same_second_get_two_folders(tmp_path):
    first = Run.create("demo", runs_dir=tmp_path)
    second = Run.create("demo", runs_dir=tmp_path)
    assert first.path != second.path


def test_out_must_be_new_or_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    assert Run.create("demo", out=tmp_path / "empty").path == tmp_path / "empty"
    with pytest.raises(RunError, match="it holds a run"):
        Run.create("demo", out=tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="not a folder"):
        Run.create("demo", out=tmp_path / "file")


def test_a_failed_run_does_not_block_its_out_folder_for_the_retry(tmp_path):
    out = tmp_path / "run"
    failed = Run.create("train", out=out)
    with pytest.raises(ValueError), failed:
        failed.write_json("partial.json", {})
        raise ValueError("diverged")
    retry = Run.create("train", out=out)
    assert manifest(out)["status"] == "running" and not (out / "partial.json").exists()
    with retry:
        pass
    with pytest.raises(RunError, match="it holds a run"):  # a finished run is never overwritten
        Run.create("train", out=out)


def test_config_yaml_says_what_the_run_settled(tmp_path):
    import yaml

    config = load_config(None, cwd=tmp_path)
    assert config.dataset.keypoints is None  # left to the data
    with Run.create("train", out=tmp_path / "run", config=config):
        config.dataset.keypoints = 13  # what the data had
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["dataset"]["keypoints"] == 13


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old model")
    with pytest.raises(RuntimeError), atomic.atomic_write(target) as handle:
        handle.write(b"half a new mo")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old model"
    assert os.listdir(tmp_path) == ["model.tflite"]


def test_atomic_write_replaces_when_complete(tmp_path):
    target = tmp_path / "sub" / "report.json"
    atomic.write_json(target, {"p50": 1.5})
    assert json.loads(target.read_text()) == {"p50": 1.5}
    assert os.listdir(target.parent) == ["report.json"]


def test_atomic_directory(tmp_path):
    target = tmp_path / "saved_model"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"v1")
    with pytest.raises(RuntimeError), atomic.atomic_directory(target) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"v2 partial")
        raise RuntimeError("interrupted")
    assert (target / "saved_model.pb").read_bytes() == b"v1"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"v3")
    assert (target / "saved_model.pb").read_bytes() == b"v3"
    assert sorted(os.listdir(tmp_path)) == ["saved_model"]


def test_folder_hash_sees_every_file(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "c").write_text("2")
    before = sha256_path(tmp_path)
    (tmp_path / "b" / "c").write_text("3")
    changed = sha256_path(tmp_path)
    (tmp_path / "b" / "c").rename(tmp_path / "b" / "d")
    assert len({before, changed, sha256_path(tmp_path)}) == 3


def test_files_and_folders_get_the_users_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        written = atomic.write_text(tmp_path / "report.json", "{}")
        with atomic.atomic_directory(tmp_path / "network") as folder:
            (folder / "ep_network.c").write_text("")
        run = Run.create("demo", out=tmp_path / "run")
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "network").stat().st_mode & 0o777 == 0o750
    assert (run.path / "manifest.json").stat().st_mode & 0o777 == 0o640
