"""``edgepose train`` end to end on a few synthetic images: outputs, ``--resume`` after a kill -9, and the
tf.data service path with a real dispatcher and worker on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from conftest import CLI

pytestmark = pytest.mark.slow

SMALL = [
    "--input-size",
    "96",
    "--batch-size",
    "8",
    "dataset.synthetic.train_size=24",
    "dataset.synthetic.val_size=8",
    "dataset.synthetic.image_size=96",
]


@pytest.fixture
def cache(tmp_path: Path) -> dict:
    return {"EDGEPOSE_CACHE": str(tmp_path / "cache")}


def _epochs(run: Path) -> list[int]:
    with open(run / "metrics.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def _optimizer_steps(model: Path) -> int:
    """Optimizer iterations saved in a .keras file: proof that training went on rather than restarted."""
    import keras

    import edgepose.train.losses  # noqa: F401 - registers the loss the checkpoint was compiled with

    return int(keras.models.load_model(model, compile=True).optimizer.iterations.numpy())


def _loss_kind(model: Path) -> str:
    import keras

    import edgepose.train.losses  # noqa: F401

    return keras.models.load_model(model, compile=True).loss.kind


def test_two_epochs_then_resume_for_a_third(tmp_path: Path, edgepose, cache: dict) -> None:
    result = edgepose("train", "--data", "synthetic", "--epochs", "2", *SMALL, "--out", "run", env=cache)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    for name in ("model.keras", "best.keras", "last.keras", "metrics.csv", "config.yaml", "manifest.json"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert _epochs(run) == [0, 1]
    with open(run / "metrics.csv", newline="") as handle:
        assert {"loss", "val_loss", "val_oks", "val_ap"} <= set(next(csv.DictReader(handle)))
    assert json.loads((run / "train_state.json").read_text())["epoch"] == 2
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    assert _optimizer_steps(run / "last.keras") == 2 * 3  # 24 people / batch 8
    assert _loss_kind(run / "last.keras") == "softmax_ce"  # the default

    result = edgepose("train", "--resume", "run", "training.epochs=3", env=cache)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "after epoch 2" in result.stderr
    assert _epochs(run) == [0, 1, 2]
    assert _optimizer_steps(run / "last.keras") == 3 * 3


def test_resume_after_kill_loses_at_most_the_epoch_in_flight(tmp_path: Path, edgepose, cache: dict) -> None:
    """With the MSE loss (not the default), which the resumed run must keep."""
    args = [str(CLI), "train", "--data", "synthetic", "--epochs", "4", *SMALL, "--out", "run"]
    args.append("training.loss=mse")
    process = subprocess.Popen(
        args, cwd=tmp_path, env={**os.environ, **cache}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    state = tmp_path / "run" / "train_state.json"
    deadline = time.monotonic() + 400
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(state.read_text())["epoch"]
    assert done < 4
    with zipfile.ZipFile(tmp_path / "run" / "last.keras") as archive:  # never a half-written checkpoint
        assert archive.testzip() is None

    result = edgepose("train", "--resume", "run", env=cache)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"after epoch {done}" in result.stderr
    assert _epochs(tmp_path / "run") == [0, 1, 2, 3]  # no duplicate rows from the killed epoch
    assert _loss_kind(tmp_path / "run" / "last.keras") == "mse"
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "complete"


def test_resume_of_a_folder_without_checkpoints_is_a_clear_error(tmp_path: Path, edgepose) -> None:
    (tmp_path / "empty").mkdir()
    result = edgepose("train", "--resume", "empty")
    assert result.returncode == 2
    assert "empty" in result.stderr and "nothing to resume" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_training_through_tf_data_service(tmp_path: Path, edgepose, cache: dict) -> None:
    port = _free_port()
    env = {**os.environ, **cache}
    dispatcher = subprocess.Popen(
        [str(CLI), "data", "serve", "--dispatcher", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(CLI), "data", "serve", "--worker", "--dispatcher-address", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        service = f"training.data_service=grpc://127.0.0.1:{port}"
        result = edgepose("train", "--data", "synthetic", "--epochs", "1", *SMALL, service, "--out", "run", env=cache)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"tf.data service at grpc://127.0.0.1:{port}" in result.stderr
        assert _epochs(tmp_path / "run") == [0]
    finally:
        worker.send_signal(signal.SIGINT)
        dispatcher.send_signal(signal.SIGINT)
        worker_log, _ = worker.communicate(timeout=60)
        dispatcher.communicate(timeout=60)
    # The worker registered with the dispatcher; distributed datasets get elements only from workers, so
    # the finished epoch above is proof that the pipeline ran there.
    assert f"registered with 127.0.0.1:{port}" in worker_log, worker_log[-2000:]


def _zoo_style_folders(edgepose, root: Path) -> Path:
    """The STM32 model zoo's layout: ``single/13kpts/{train,val}`` and ``single/17kpts/train``, YOLO pose."""
    for kpts, split, seed in ((13, "train", 0), (13, "val", 1), (17, "train", 2)):
        synth = root / f"synth-{kpts}-{split}"
        made = edgepose("data", "synth", "--out", str(synth), "--n", "8", "--keypoints", str(kpts),
                        "--image-size", "64", "--seed", str(seed))  # fmt: skip
        assert made.returncode == 0, made.stderr
        done = edgepose(
            "data", "convert", str(synth), "--to", "yolo", "--out", str(root / f"single/{kpts}kpts/{split}")
        )
        assert done.returncode == 0, done.stderr
    return root / "single"


def test_keypoints_and_format_come_from_the_data_and_are_recorded(tmp_path: Path, edgepose) -> None:
    single = _zoo_style_folders(edgepose, tmp_path)
    args = ("--epochs", "1", "--input-size", "64", "--batch-size", "4", "dataset.validation_split=0.25")
    done = edgepose("train", "--data", str(single / "13kpts/train"), *args, "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    import yaml

    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["dataset"]
    assert (resolved["keypoints"], resolved["format"]) == (13, "yolo")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (data,) = [entry for entry in manifest["inputs"] if entry["role"] == "training data"]
    assert data["format"] == "yolo" and len(data["sha256"]) == 64 and data["path"].endswith("13kpts/train")
    assert _heatmap_channels(tmp_path / "run" / "model.keras") == 13

    mixed = edgepose("train", "--data", str(single), *args, "--out", str(tmp_path / "mixed"))
    assert mixed.returncode == 2
    assert f"{single}: holds several datasets" in mixed.stderr.strip().splitlines()[-1]
    wrong = edgepose("train", "--data", str(single / "13kpts/train"), "dataset.keypoints=17", *args)
    assert wrong.returncode == 2
    assert "has 13 keypoints but dataset.keypoints is 17; set dataset.keypoints: 13" in wrong.stderr

    # evaluate on the folder `data synth` wrote (one COCO file inside), 13 points, taken from the model
    synth = tmp_path / "synth-13-val"
    scored = edgepose("evaluate", str(tmp_path / "run" / "model.keras"), "--data", str(synth), "--out", "ev")
    assert scored.returncode == 0, scored.stderr
    assert len(json.loads((tmp_path / "ev" / "metrics.json").read_text())["per_keypoint"]) == 13
    model = str(tmp_path / "run" / "model.keras")
    calib = edgepose("data", "calib", "--from", str(single / "13kpts/val"), "--model", model,
                     "--n", "50", "--name", "few", "--root", str(tmp_path / "calib"))  # fmt: skip
    assert calib.returncode == 0, calib.stderr
    assert "8 usable images, fewer than the 50 asked for" in calib.stderr.replace("\n", " ")


def _heatmap_channels(model: Path) -> int:
    import keras

    import edgepose.train.losses  # noqa: F401

    return int(keras.models.load_model(model, compile=False).outputs[0].shape[-1])
