"""MLflow tracking against a real local store (``general.mlflow_uri`` a folder: SQLite and artifacts, as
``mlflow ui`` reads them): a pipeline's train, quantize, evaluate and benchmark runs each become an MLflow run
with the resolved config as params, their metrics (per epoch for training) and their files as artifacts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgepose.config import load_config
from edgepose.errors import ConfigError

MICRO = """
operation_mode: chain_tqeb
general: {project_name: tracked, mlflow_uri: mlruns}
dataset:
  synthetic: {train_size: 16, val_size: 8, image_size: 96}
model: {name: tiny, input_size: 96}
training: {epochs: 2, batch_size: 8}
quantization: {calibration_size: 8}
evaluation: {max_samples: 8}
targets: [host]
benchmark: {warmup: 0, runs: 3}
"""


def _client(folder: Path):
    import mlflow

    return mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")


@pytest.mark.slow
def test_a_tracked_chain_lists_every_run_with_params_metrics_and_artifacts(tmp_path: Path, edgepose) -> None:
    (tmp_path / "micro.yaml").write_text(MICRO)
    result = edgepose("pipeline", "micro.yaml", "--out", "run", env={"EDGEPOSE_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    client = _client(tmp_path / "mlruns")  # relative to the config file's folder
    experiment = client.get_experiment_by_name("tracked")
    runs = {
        r.data.tags["edgepose.verb"] + ":" + r.info.run_name: r for r in client.search_runs([experiment.experiment_id])
    }
    verbs = sorted(name.split(":")[0] for name in runs)
    assert verbs == ["benchmark", "evaluate", "evaluate", "quantize", "train"], sorted(runs)
    assert all(r.info.status == "FINISHED" for r in runs.values())

    train = next(r for name, r in runs.items() if name.startswith("train:"))
    assert train.data.params["training.epochs"] == "2" and train.data.params["model.name"] == "tiny"
    history = client.get_metric_history(train.info.run_id, "val_oks")
    assert [m.step for m in history] == [0, 1]
    assert {"loss", "val_loss", "val_ap", "val_pck"} <= set(train.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(train.info.run_id)}
    assert {"model.keras", "best.keras", "metrics.csv", "config.yaml", "manifest.json"} <= artifacts

    quantize = next(r for name, r in runs.items() if name.startswith("quantize:"))
    assert "accuracy.litert.AP" in quantize.data.metrics and "bytes.int8" in quantize.data.metrics
    assert "quant_report.json" in {a.path for a in client.list_artifacts(quantize.info.run_id)}

    evaluated = [r for name, r in runs.items() if name.startswith("evaluate:")]
    assert all({"AP", "mean_oks", "pck_0.2"} <= set(r.data.metrics) for r in evaluated)

    bench = next(r for name, r in runs.items() if name.startswith("benchmark:"))
    assert bench.data.params["target"] == "host" and bench.data.metrics["output_check_passed"] == 1
    assert bench.data.metrics["latency_p50"] > 0
    assert [a.path for a in client.list_artifacts(bench.info.run_id)] == ["host.json"]


def test_a_folder_is_resolved_against_the_config_and_a_uri_is_kept(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("general: {mlflow_uri: ./runs/mlruns}\n")
    assert load_config(tmp_path / "exp.yaml").general.mlflow_uri == str(tmp_path / "runs" / "mlruns")
    uri = load_config(None, ["general.mlflow_uri=http://127.0.0.1:5000"]).general.mlflow_uri
    assert uri == "http://127.0.0.1:5000"


def test_tracking_without_mlflow_installed_is_one_line(monkeypatch) -> None:
    from edgepose import tracking

    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an environment without the extra looks like
    config = load_config(None, ["general.mlflow_uri=/tmp/nowhere"])
    with pytest.raises(ConfigError, match=r"pip install 'edgepose\[mlflow\]'"):
        tracking.start(config, "train-x", "train")
