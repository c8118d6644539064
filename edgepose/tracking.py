"""Experiment tracking in MLflow, the optional ``mlflow`` extra, switched on by ``general.mlflow_uri``.

Every run directory (train, quantize, evaluate, predict, export) becomes an MLflow run in the experiment named
``general.project_name``: the resolved config as params, metrics (per epoch for training, the final ones of
each verb) and the run's output files as artifacts; a benchmark report becomes a run of its own. So
``mlflow ui`` lists a project's runs side by side, and the run directory stays the source of truth.

``general.mlflow_uri`` is a folder or a tracking URI. A folder holds a local SQLite store (``mlflow.db``)
and the artifacts (``artifacts/``): MLflow 3 keeps its plain-file store in maintenance mode and refuses it
by default, and SQLite is what it now uses for local tracking. ``mlflow ui --backend-store-uri
sqlite:///FOLDER/mlflow.db`` shows the runs.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgepose import __version__
from edgepose.config.types import is_uri
from edgepose.errors import ConfigError

_BATCH = 100  # MLflow takes at most 100 params in one call
_PARAM_CHARS = 6000


def store_uri(setting: str) -> tuple[str, str | None]:
    """``(tracking URI, artifact location for new experiments)`` for ``general.mlflow_uri``."""
    if is_uri(setting):
        return setting, None
    folder = Path(setting).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "general.mlflow_uri is set but MLflow is not installed: pip install 'edgepose[mlflow]' "
            "(or set general.mlflow_uri to null)"
        ) from None
    return mlflow


class Tracker:
    """One MLflow run, written through the client API so that several can be open in one process."""

    def __init__(self, config, name: str, verb: str, tags: dict[str, str] | None = None) -> None:
        mlflow = _mlflow()
        uri, artifacts = store_uri(config.general.mlflow_uri)
        self.client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(config.general.project_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(config.general.project_name, artifact_location=artifacts)
        )
        all_tags = {
            "edgepose.verb": verb,
            "edgepose.version": __version__,
            "mlflow.source.name": " ".join(["edgepose", *sys.argv[1:]])[:5000],
            **(tags or {}),
        }
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id
        self.log_params(flatten(config.model_dump(mode="json")))

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(key, _text(value)) for key, value in params.items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[start : start + _BATCH])

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(metric_name(key), float(value), now, step or 0)
            for key, value in metrics.items()
            if _is_number(value)
        ]
        for start in range(0, len(items), _BATCH * 10):
            self.client.log_batch(self.run_id, metrics=items[start : start + _BATCH * 10])

    def log_files(self, files: Iterable[Path], root: Path) -> None:
        for path in files:
            if path.is_file():
                parent = path.parent.relative_to(root).as_posix() if path.is_relative_to(root) else ""
                self.client.log_artifact(self.run_id, str(path), parent if parent not in ("", ".") else None)

    def finish(self, ok: bool) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")


def start(config, name: str, verb: str, tags: dict[str, str] | None = None) -> Tracker | None:
    """A tracker when ``general.mlflow_uri`` is set, else None."""
    if config is None or not config.general.mlflow_uri:
        return None
    return Tracker(config, name, verb, tags)


def track_report(config, report: dict, path: Path) -> None:
    """A benchmark report as a run of its own: where and what ran as params, latency and memory as metrics,
    the report as an artifact."""
    tracker = start(
        config,
        f"benchmark-{report['model']['name']}-{report['target']['name']}",
        "benchmark",
        {"edgepose.report": str(path)},
    )
    if tracker is None:
        return
    tracker.log_params(
        {
            "model": report["model"]["name"],
            "model.sha256": report["model"]["sha256"],
            "model.kind": report["model"].get("kind"),
            "target": report["target"]["name"],
            "runtime": (report.get("runtime") or {}).get("name"),
            "unit": report["latency"]["unit"],
        }
    )
    latency = {f"latency_{k}": v for k, v in report["latency"].items() if _number(v)}
    memory = {f"memory_{k}": v for k, v in (report.get("memory") or {}).items() if _number(v)}
    passed = report["output_check"].get("passed")  # None: the tool returned no outputs to check
    checked = {} if passed is None else {"output_check_passed": int(bool(passed))}
    tracker.log_metrics({**latency, **memory, **checked})
    tracker.log_files([Path(path)], Path(path).parent)
    tracker.finish(True)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------- names


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys; lists stay whole."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def numbers(data: dict, prefix: str = "") -> dict[str, float]:
    """Every number in a nested report as a dotted metric name: ``accuracy.litert.AP``."""
    return {key: value for key, value in flatten(data, prefix).items() if _is_number(value)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric_name(key: str) -> str:
    """MLflow names take letters, digits, ``_ - . / :`` and spaces: ``pck@0.2`` becomes ``pck_0.2``."""
    return re.sub(r"[^\w\-. /:]", "_", key)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_PARAM_CHARS]
