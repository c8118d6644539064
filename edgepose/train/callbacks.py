"""Training callbacks: validation in COCO terms, checkpoints that survive a kill -9, and resuming.

Keras hands every callback the same ``logs`` dict at the end of an epoch, in list order, so
``Validation`` (first in the list) adds ``val_oks``/``val_ap``/``val_pck`` before EarlyStopping,
ReduceLROnPlateau, the CSV logger and TensorBoard look at them.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import keras

from edgepose import atomic
from edgepose.data.pipeline import PipelineSpec
from edgepose.data.samples import PersonSample
from edgepose.evaluate import loop
from edgepose.runtime.keras_runner import KerasRunner

LAST, BEST, FINAL, STATE, METRICS_CSV = "last.keras", "best.keras", "model.keras", "train_state.json", "metrics.csv"
# Callback attributes that make up their progress; saved each epoch and put back on resume.
_STATEFUL = ("wait", "best", "cooldown_counter", "stopped_epoch", "best_epoch")


class Validation(keras.callbacks.Callback):
    """Scores the model on the validation people each epoch, exactly as ``edgepose evaluate`` would."""

    def __init__(self, samples: list[PersonSample], spec: PipelineSpec, batch_size: int, refine: str) -> None:
        super().__init__()
        self.samples, self.spec, self.batch_size, self.refine = samples, spec, batch_size, refine
        self.runner: KerasRunner | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or not self.samples:
            return
        if self.runner is None or self.runner.model is not self.model:  # one runner: traced once, not per epoch
            self.runner = KerasRunner(self.model)
        predictions = loop.predict(self.runner, self.samples, self.spec, self.batch_size, self.refine)
        scores = loop.score(self.samples, predictions, self.spec.skeleton)
        logs["val_oks"] = scores["mean_oks"] or 0.0
        logs["val_ap"] = scores["AP"]
        logs["val_pck"] = scores["pck@0.2"] or 0.0


class TrackMetrics(keras.callbacks.Callback):
    """Each epoch's logs (losses, validation OKS/AP/PCK, learning rate) into the run's MLflow run."""

    def __init__(self, run) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.run.log_metrics(dict(logs or {}), step=epoch)


class Checkpoint(keras.callbacks.Callback):
    """Each epoch: ``last.keras`` (with optimizer state), ``best.keras`` on a new best ``monitor``, then
    ``train_state.json``. Files are replaced atomically and the state file goes last: it is the commit
    point, so a kill at any moment resumes from the last epoch that was completely saved."""

    def __init__(self, folder: Path, tracked: list[keras.callbacks.Callback], monitor: str = "val_oks") -> None:
        super().__init__()
        self.folder, self.tracked, self.monitor = Path(folder), tracked, monitor
        self.best: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        save_model(self.model, self.folder / LAST)
        value = logs.get(self.monitor)
        if value is not None and (self.best is None or value > self.best):
            self.best = float(value)
            save_model(self.model, self.folder / BEST)
        state = {
            "epoch": epoch + 1,
            "best": self.best,
            "monitor": self.monitor,
            "callbacks": {type(c).__name__: _progress(c) for c in self.tracked},
        }
        atomic.write_json(self.folder / STATE, state)


class RestoreProgress(keras.callbacks.Callback):
    """Puts callback progress back after a resume. Keras resets callbacks in ``on_train_begin``, so this
    one must come after them in the list."""

    def __init__(self, state: dict, tracked: list[keras.callbacks.Callback], checkpoint: Checkpoint) -> None:
        super().__init__()
        self.state, self.tracked, self.checkpoint = state, tracked, checkpoint

    def on_train_begin(self, logs: dict | None = None) -> None:
        saved = self.state.get("callbacks", {})
        for callback in self.tracked:
            for key, value in saved.get(type(callback).__name__, {}).items():
                setattr(callback, key, value)
        self.checkpoint.best = self.state.get("best")


def _progress(callback: keras.callbacks.Callback) -> dict:
    values = {key: getattr(callback, key) for key in _STATEFUL if hasattr(callback, key)}
    return {key: float(v) if hasattr(v, "__float__") and not isinstance(v, int) else v for key, v in values.items()}


def save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` into a temporary ``.keras`` beside ``path``, then an atomic rename."""
    temporary = path.with_name(f".{path.stem}.partial.keras")
    model.save(temporary)
    os.replace(temporary, path)


def read_state(folder: Path) -> dict | None:
    path = Path(folder) / STATE
    return json.loads(path.read_text()) if path.is_file() else None


def trim_csv(path: Path, epochs: int) -> None:
    """Drop rows of epochs that did not complete (written before a kill, after the last checkpoint)."""
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) < epochs]
    atomic.write_text(path, "".join(",".join(row) + "\r\n" for row in kept))
