"""``training.distribution: multi_worker`` for real: two ``edgepose train`` processes on 127.0.0.1 joined by
TF_CONFIG train one model synchronously, and it is the model a single worker trains on the same data.

The model compared has no BatchNormalization: with it, each worker normalizes its own half of every batch
(as in any data-parallel training without synchronized BatchNormalization), which is a different
computation rather than a different rounding. Stated tolerance: the two workers end bit-identical, and
their weights differ from the single worker's by less than 1e-4 of the weights' change in training
(float sums in another order; measured 3e-6).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CLI

pytestmark = pytest.mark.slow

CONFIG = """
dataset:
  synthetic: {train_size: 16, val_size: 8, image_size: 96}
data_augmentation: {}
training:
  epochs: 1
  batch_size: 8
  optimizer: {SGD: {learning_rate: 0.01}}
"""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _model_without_batchnorm(path: Path) -> None:
    import keras

    keras.utils.set_random_seed(5)
    image = keras.Input((96, 96, 3), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(image)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    keras.Model(image, keras.layers.Conv2D(17, 1, name="heatmaps")(x)).save(path)


def _train(folder: Path, out: str, env: dict, distribution: str) -> subprocess.Popen:
    args = [str(CLI), "train", "-c", "small.yaml", "--out", out, "general.model_path=start.keras"]
    args.append(f"training.distribution={distribution}")
    return subprocess.Popen(
        args, cwd=folder, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _weights(path: Path) -> list[np.ndarray]:
    from edgepose.convert.modelfile import load_keras

    return [np.asarray(w) for w in load_keras(path).weights]


def test_two_workers_train_the_model_one_worker_trains(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(CONFIG)
    _model_without_batchnorm(tmp_path / "start.keras")
    cache = {"EDGEPOSE_CACHE": str(tmp_path / "cache")}
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = [
        _train(
            tmp_path,
            f"worker{index}",
            {**cache, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
            "multi_worker",
        )
        for index in range(2)
    ]
    single = _train(tmp_path, "single", cache, "none")
    for process in (*workers, single):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]

    start = _weights(tmp_path / "start.keras")
    single_w = _weights(tmp_path / "single" / "model.keras")
    first, second = (_weights(tmp_path / f"worker{i}" / "model.keras") for i in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True)), "the workers drifted apart"
    change = np.concatenate([(w - s).ravel() for w, s in zip(single_w, start, strict=True)])
    apart = np.concatenate([(w - m).ravel() for w, m in zip(single_w, first, strict=True)])
    assert np.linalg.norm(change) > 0, "training changed nothing: the comparison would prove nothing"
    assert np.linalg.norm(apart) < 1e-4 * np.linalg.norm(change)
    for index in range(2):
        manifest = json.loads((tmp_path / f"worker{index}" / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert manifest["config"]["training"]["distribution"] == "multi_worker"
