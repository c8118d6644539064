"""The STM32 model zoo's ways of working: ``operation_mode`` as pipeline steps, ``config import`` of a zoo
pose config (every renamed key commented, every dropped key listed with its reason, the docs' table in step
with the code), and a zoo config run end to end after import: chain_tqe on a YOLO pose folder, then the
prediction and evaluation modes on the model it trained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from edgepose.config import load_config
from edgepose.config.zoo import DROPPED, RENAMES, import_zoo, render
from edgepose.errors import ConfigError
from edgepose.pipeline import OPERATION_MODES, STEP_NAMES, given_artifacts, steps_for_mode

REPO = Path(__file__).resolve().parents[1]

ZOO = """
general:
  project_name: COCO_2017_pose_Demo
  logs_dir: logs
  saved_models_dir: saved_models
  model_type: heatmaps_spe
  num_threads_tflite: 8
  global_seed: 123
operation_mode: chain_tqeb
dataset:
  name: COCO2017_pose
  keypoints: 13
  training_path: ./datasets/single/13kpts/train
  test_path: ./datasets/single/13kpts/val
  quantization_split: 0.3
preprocessing:
  rescaling: {scale: 1/127.5, offset: -1}
  resizing: {interpolation: lanczos3, aspect_ratio: fit}
  color_mode: rgb
data_augmentation:
  random_contrast: {factor: 0.4}
  random_flip: {mode: horizontal}
  random_sharpness: {factor: 0.2}
training:
  model:
    name: st_movenet_lightning_heatmaps
    alpha: 1.0
    input_shape: (192, 192, 3)
    pretrained_weights: imagenet
  batch_size: 64
  epochs: 1000
  dropout: 0.1
  frozen_layers: (0:154)
  optimizer: {Adam: {learning_rate: 0.01}}
  callbacks:
    ReduceLROnPlateau: {monitor: val_oks, mode: max, patience: 10}
    LRCosineDecay: {initial_learning_rate: 0.01}
    ModelCheckpoint: {monitor: val_oks, mode: max}
quantization:
  quantizer: TFlite_converter
  quantization_type: PTQ
  quantization_input_type: uint8
  quantization_output_type: float
  granularity: per_tensor
  optimize: true
  export_dir: quantized_models
postprocessing:
  kpts_conf_thresh: 0.15
tools:
  stedgeai: {version: 10.0.0, on_cloud: true}
benchmarking:
  board: STM32H747I-DISCO
deployment:
  IDE: GCC
  hardware_setup: {serie: STM32N6, board: STM32N6570-DK}
mlflow:
  uri: ./experiments_outputs/mlruns
hydra:
  run:
    dir: ./experiments_outputs/${now:%Y_%m_%d_%H_%M_%S}
"""


# ---------------------------------------------------------------------------------------------- modes


def test_every_zoo_operation_mode_is_a_sequence_of_pipeline_steps() -> None:
    from typing import get_args

    from edgepose.config.schema import OperationMode

    assert set(OPERATION_MODES) == set(get_args(OperationMode))
    for mode, steps in OPERATION_MODES.items():
        assert steps and set(steps) <= set(STEP_NAMES), mode
        assert list(steps) == [s for s in STEP_NAMES if s in steps], f"{mode} runs its steps in chain order"
    assert steps_for_mode("chain_tqeb", {}) == ["train", "quantize", "evaluate", "benchmark", "compare"]
    assert steps_for_mode("benchmarking", {"model": Path("m.keras")}) == ["export", "benchmark", "compare"]
    assert steps_for_mode("benchmarking", {"int8": Path("m.tflite")}) == ["benchmark", "compare"]


def test_the_docs_list_every_mode_with_its_steps() -> None:
    text = (REPO / "docs" / "config.md").read_text()
    for mode, steps in OPERATION_MODES.items():
        row = re.search(rf"^\| `{mode}` \| (.*) \|$", text, re.M)
        assert row, mode
        assert [s for s in STEP_NAMES if re.search(rf"\b{s}\b", row.group(1))] == list(steps), mode


def test_a_brought_model_is_the_artifact_its_kind_makes(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    model.save(tmp_path / "m.keras")
    assert given_artifacts(tmp_path / "m.keras") == {"model": tmp_path / "m.keras"}
    (tmp_path / "bad.tflite").write_bytes(b"nope")
    with pytest.raises(Exception, match="not a TFLite flatbuffer"):
        given_artifacts(tmp_path / "bad.tflite")


def test_an_unknown_operation_mode_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="operation_mode.*chain_tqeb"):
        load_config(None, ["operation_mode=chain_xyz"])


# ---------------------------------------------------------------------------------------------- import


def _imported(tmp_path: Path):
    zoo = yaml.safe_load(ZOO)
    return import_zoo(zoo, tmp_path, tmp_path)


def test_a_zoo_config_imports_with_renames_noted_and_drops_explained(tmp_path: Path) -> None:
    imported = _imported(tmp_path)
    config = imported.config
    assert config["operation_mode"] == "chain_tqeb"
    assert config["model"] == {"name": "movenet_like", "width": 1.0, "input_size": "(192, 192, 3)", "dropout": 0.1}
    assert config["general"]["num_threads"] == 8 and config["general"]["mlflow_uri"] == "./experiments_outputs/mlruns"
    assert config["general"]["runs_dir"] == "./experiments_outputs"
    assert config["quantization"] == {
        "granularity": "per_tensor", "backend": "tflite", "input_type": "uint8", "output_type": "float32",
    }  # fmt: skip
    assert config["prediction"] == {"confidence_threshold": 0.15}
    assert config["targets"] == ["stm32h747i-disco", "stm32n6570-dk"]
    assert config["training"]["callbacks"] == {
        "ReduceLROnPlateau": {"monitor": "val_oks", "mode": "max", "patience": 10}
    }
    assert config["preprocessing"]["resizing"]["interpolation"] == "bilinear"
    assert set(config["data_augmentation"]) == {"random_contrast", "random_flip"}

    dropped = dict(imported.dropped)
    for key in (
        "general.logs_dir", "general.saved_models_dir", "general.model_type", "quantization.quantization_type",
        "quantization.optimize", "quantization.export_dir", "tools.stedgeai.version", "tools.stedgeai.on_cloud",
        "deployment.IDE", "deployment.hardware_setup.serie", "training.model.pretrained_weights",
        "training.callbacks.LRCosineDecay", "training.callbacks.ModelCheckpoint", "data_augmentation.random_sharpness",
    ):  # fmt: skip
        assert dropped.get(key), key
    assert len(dropped) == 14, sorted(dropped)  # nothing else was lost

    text = render(imported, Path("user_config.yaml"))
    assert "  num_threads: 8  # general.num_threads_tflite" in text
    assert "  name: movenet_like  # training.model.name st_movenet_lightning_heatmaps" in text
    assert "  interpolation: bilinear  # was lanczos3" in text
    for key, why in imported.dropped:
        assert f"#   {key}: {why}" in text
    # what was written is a valid edgepose config once its data exists
    for folder in ("datasets/single/13kpts/train", "datasets/single/13kpts/val"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "imported.yaml").write_text(text)
    loaded = load_config(tmp_path / "imported.yaml")
    assert loaded.operation_mode == "chain_tqeb" and loaded.model.name == "movenet_like"
    assert loaded.quantization.granularity == "per-tensor" and loaded.dataset.keypoints == 13


def test_relative_paths_follow_the_written_file(tmp_path: Path) -> None:
    zoo = {"dataset": {"training_path": "data/train"}, "mlflow": {"uri": "file:///srv/mlruns"}}
    imported = import_zoo(zoo, tmp_path / "zoo" / "src", tmp_path / "mine")
    assert imported.config["dataset"]["training_path"] == "../zoo/src/data/train"
    assert imported.config["general"]["mlflow_uri"] == "file:///srv/mlruns"


def test_the_docs_table_is_the_import_table() -> None:
    text = (REPO / "docs" / "config.md").read_text()
    for zoo_key, key in RENAMES.items():
        assert f"| `{zoo_key}` | `{key}` |" in text, zoo_key
    for zoo_key, why in DROPPED.items():
        assert f"| `{zoo_key}` | {why} |" in text, zoo_key


def test_import_refuses_to_overwrite_and_a_non_config_is_one_line(tmp_path: Path, edgepose) -> None:
    (tmp_path / "zoo.yaml").write_text(ZOO)
    (tmp_path / "zoo.edgepose.yaml").write_text("keep me")
    result = edgepose("config", "import", "zoo.yaml")
    assert result.returncode == 2 and "zoo.edgepose.yaml: exists" in result.stderr
    assert (tmp_path / "zoo.edgepose.yaml").read_text() == "keep me"
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    result = edgepose("config", "import", "list.yaml")
    assert result.returncode == 2 and "expected a model zoo config" in result.stderr


# ---------------------------------------------------------------------------------------------- end to end

ZOO_RUN = """
general:
  project_name: zoo_run
  logs_dir: logs
  model_type: heatmaps_spe
  global_seed: 7
operation_mode: chain_tqe
dataset:
  keypoints: 13
  training_path: ./yolo
  validation_split: 0.25
  quantization_split: 0.5
preprocessing:
  rescaling: {scale: 1/127.5, offset: -1}
  resizing: {interpolation: bilinear, aspect_ratio: fit}
  color_mode: rgb
data_augmentation:
  random_flip: {mode: horizontal}
training:
  model:
    name: tiny
    alpha: 1.0
    input_shape: (96, 96, 3)
    pretrained_weights: None
  batch_size: 8
  epochs: 1
  optimizer: {Adam: {learning_rate: 0.001}}
  callbacks:
    ModelCheckpoint: {monitor: val_oks, mode: max}
quantization:
  quantizer: TFlite_converter
  quantization_type: PTQ
  quantization_input_type: int8
  quantization_output_type: int8
  granularity: per_channel
prediction:
  test_files_path: ./pictures
mlflow:
  uri: ./experiments_outputs/mlruns
hydra:
  run:
    dir: ./experiments_outputs/${now:%Y_%m_%d_%H_%M_%S}
"""


@pytest.mark.slow
def test_a_zoo_config_runs_after_import(tmp_path: Path, edgepose) -> None:
    assert (
        edgepose("data", "synth", "--out", "coco", "--n", "24", "--image-size", "96", "--keypoints", "13").returncode
        == 0
    )
    assert edgepose("data", "convert", "coco", "--to", "yolo", "--out", "yolo").returncode == 0
    (tmp_path / "pictures").mkdir()
    for name in ("000001.png", "000002.png"):
        (tmp_path / "pictures" / name).write_bytes((tmp_path / "yolo" / name).read_bytes())
    (tmp_path / "user_config.yaml").write_text(ZOO_RUN)
    imported = edgepose("config", "import", "user_config.yaml")
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert "does not load" not in imported.stderr

    trained = edgepose("pipeline", "user_config.edgepose.yaml", "--out", "chain", "general.mlflow_uri=null")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "operation_mode chain_tqe: train, quantize, evaluate" in trained.stderr
    summary = json.loads((tmp_path / "chain" / "summary.json").read_text())
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [
        ("train", "done"), ("quantize", "done"), ("evaluate", "done"),
    ]  # fmt: skip
    accuracy = json.loads((tmp_path / "chain" / "evaluate" / "accuracy.json").read_text())
    assert set(accuracy) == {"float", "int8"}
    resolved = yaml.safe_load((tmp_path / "chain" / "config.yaml").read_text())
    assert resolved["dataset"]["format"] == "yolo" and resolved["quantization"]["input_type"] == "int8"

    best = tmp_path / "chain" / "train" / "best.keras"
    predicted = edgepose(
        "pipeline", "user_config.edgepose.yaml", "--out", "predict", "operation_mode=prediction",
        f"general.model_path={best}", "general.mlflow_uri=null",
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    results = json.loads((tmp_path / "predict" / "predict" / "predictions.json").read_text())
    assert sorted(r["file_name"] for r in results) == ["000001.png", "000002.png"]
    assert all(len(r["keypoints"]) == 13 * 3 for r in results)

    int8 = next((tmp_path / "chain" / "quantize").glob("*int8*.tflite"))
    scored = edgepose(
        "pipeline", "user_config.edgepose.yaml", "--out", "evaluate", "operation_mode=evaluation",
        f"general.model_path={int8}", "general.mlflow_uri=null",
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert set(json.loads((tmp_path / "evaluate" / "evaluate" / "accuracy.json").read_text())) == {"int8"}

    deployed = edgepose(
        "pipeline", "user_config.edgepose.yaml", "--out", "deploy", "operation_mode=deployment",
        f"general.model_path={int8}", "general.mlflow_uri=null", "targets=[qemu-m7,host]",
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    summary = json.loads((tmp_path / "deploy" / "summary.json").read_text())["steps"]
    assert [(s["name"], s["status"]) for s in summary] == [("deploy", "done")]
    assert "qemu-m7: firmware firmware.elf built" in summary[0]["summary"]
    assert "host: runs models in place" in summary[0]["summary"]
    from edgepose.codegen.elf import board_name

    assert board_name(tmp_path / "deploy" / "deploy" / "qemu-m7" / "firmware" / "firmware.elf") == "qemu-m7"
