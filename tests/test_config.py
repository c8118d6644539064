"""Config loading: defaults, overrides, path resolution, the model zoo's spellings, and every kind of bad
config turned into one line naming the key and where it was written."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from edgepose.config import Config, dump_config, load_config, parse_override
from edgepose.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path | None, overrides=(), cwd=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, cwd=cwd)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_without_a_file(tmp_path):
    config = load_config(None, cwd=tmp_path)
    assert config.dataset.format == "synthetic"
    assert config.model.input_size is None  # each model brings its own default size
    assert [t.board for t in config.targets] == ["host"]
    assert config.general.runs_dir == tmp_path / "runs"


def test_empty_file_is_all_defaults(tmp_path):
    assert load_config(write(tmp_path, ""), cwd=tmp_path) == load_config(None, cwd=tmp_path)


def test_resolved_config_loads_back_identically(tmp_path):
    (tmp_path / "data").mkdir()
    config = load_config(
        write(tmp_path, "dataset: {format: yolo, training_path: data}\ndata_augmentation: {random_blur: }\n"),
        ["training.epochs=7"],
        cwd=tmp_path,
    )
    again = load_config(write(tmp_path, dump_config(config), "resolved.yaml"), cwd=Path("/"))
    assert again == config
    assert dump_config(again) == dump_config(config)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("training.epochs=3", ("training", "epochs"), 3),
        ("general.global_seed=null", ("general", "global_seed"), None),
        ("general.global_seed=", ("general", "global_seed"), None),
        ("targets=[host, qemu-m7]", ("targets",), ["host", "qemu-m7"]),
        ("general.project_name=my run", ("general", "project_name"), "my run"),
        ("quantization.float_layers=[conv_1]", ("quantization", "float_layers"), ["conv_1"]),
    ],
)
def test_override_values_are_read_as_yaml(text, key, value):
    assert parse_override(text) == (key, value)


def test_overrides_replace_file_values(tmp_path):
    path = write(tmp_path, "training:\n  epochs: 10\n  batch_size: 4\n")
    config = load_config(path, ["training.epochs=2", "benchmark.runs=5"], cwd=tmp_path)
    assert (config.training.epochs, config.training.batch_size, config.benchmark.runs) == (2, 4, 5)


@pytest.mark.parametrize("text", ["training.epochs", "=3", "training..epochs=3", "1abc=2"])
def test_malformed_override(text):
    assert "expected KEY=VALUE" in error_of(None, [text])


def test_override_into_a_value_that_is_not_a_section():
    message = error_of(None, ["targets=[host]", "targets.board=rpi5"])
    assert message.startswith("override 'targets.board=rpi5': targets is not a section")


def test_relative_paths_in_the_file_are_relative_to_the_file(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "data").mkdir()
    (tmp_path / "data").mkdir()
    path = write(tmp_path / "configs", "dataset:\n  format: yolo\n  training_path: data\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = load_config(path, cwd=elsewhere)
    assert config.dataset.training_path == tmp_path / "configs" / "data"
    assert config.general.runs_dir == elsewhere / "runs"  # a default: relative to where the user runs


def test_relative_paths_in_overrides_are_relative_to_the_current_folder(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    path = write(tmp_path / "configs", "dataset:\n  format: yolo\n")
    config = load_config(path, ["dataset.training_path=data"], cwd=tmp_path)
    assert config.dataset.training_path == tmp_path / "data"


def test_model_zoo_spellings(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
preprocessing:
  rescaling: {scale: 1/127.5, offset: -1}
  color_mode: gray
model:
  input_size: (192, 192, 3)
data_augmentation:
  random_rotation:
    factor: (-0.1,0.1)
  random_blur:
    filter_size: (2, 4)
    change_rate: 0.5
  random_periodic_resizing: {image_sizes: [[192,192],[224,224]]}
  random_scale: {factor: 0.2}
quantization:
  granularity: per_tensor
""",
        ),
        cwd=tmp_path,
    )
    assert config.preprocessing.rescaling.scale == pytest.approx(1 / 127.5)
    assert config.preprocessing.color_mode == "grayscale"
    assert config.model.input_size == (192, 192)
    assert config.data_augmentation.random_rotation.factor == (-0.1, 0.1)
    assert config.data_augmentation.random_blur.filter_size == (2, 4)
    assert config.data_augmentation.random_periodic_resizing.image_sizes == [(192, 192), (224, 224)]
    assert config.data_augmentation.random_scale.factor == (-0.2, 0.2)
    assert config.quantization.granularity == "per-tensor"


def test_augmentations_keep_the_order_written(tmp_path):
    path = write(tmp_path, "data_augmentation:\n  random_contrast:\n  random_flip: {change_rate: 1}\n  random_blur:\n")
    pipeline = load_config(path, cwd=tmp_path).data_augmentation.pipeline()
    assert [name for name, _ in pipeline] == ["random_contrast", "random_flip", "random_blur"]
    assert pipeline[0][1].factor == 0.4  # a key with no value takes the defaults
    assert pipeline[1][1].change_rate == 1.0


def test_augmentation_order_survives_the_resolved_config(tmp_path):
    path = write(tmp_path, "data_augmentation:\n  random_contrast:\n  random_flip:\n")
    resolved = write(tmp_path, dump_config(load_config(path, cwd=tmp_path)), "resolved.yaml")
    pipeline = load_config(resolved, cwd=tmp_path).data_augmentation.pipeline()
    assert [name for name, _ in pipeline] == ["random_contrast", "random_flip"]


def test_targets_accept_names_and_entries(tmp_path):
    path = write(tmp_path, "targets:\n  - host\n  - {board: rpi5, ssh: pi@raspberrypi.local}\n")
    targets = load_config(path, cwd=tmp_path).targets
    assert [(t.board, t.ssh) for t in targets] == [("host", None), ("rpi5", "pi@raspberrypi.local")]
    assert [t.board for t in load_config(None, ["targets=qemu-m7"]).targets] == ["qemu-m7"]


# ------------------------------------------------------------------------------------------- bad configs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("traning:\n  epochs: 3\n", "exp.yaml:1: traning: unknown key; did you mean 'training'?"),
        ("training:\n  epochs: 3\n  lr: 0.1\n", "exp.yaml:3: training.lr: unknown key (known keys: batch_size,"),
        ("training:\n  epochs: ten\n", "exp.yaml:2: training.epochs: input should be a valid integer"),
        ("training:\n  epochs: 0\n", "exp.yaml:2: training.epochs: input should be greater than or equal to 1"),
        ("dataset:\n  validation_split: 1.5\n", "exp.yaml:2: dataset.validation_split: input should be less than 1"),
        ("dataset:\n  keypoints: 18\n", "exp.yaml:2: dataset.keypoints: input should be 13, 17 or 21, got 18"),
        ("dataset:\n  format: coco\n", "exp.yaml:1: dataset: format 'coco' needs training_path"),
        ("dataset:\n  test_path: nope.json\n", "exp.yaml:2: dataset.test_path: no such file or folder: "),
        ("general:\n  model_path: m.tflite\n", "exp.yaml:2: general.model_path: no such file or folder: "),
        ("training:\n  optimizer: {Adam: {}, SGD: {}}\n", "exp.yaml:2: training.optimizer: name exactly one optimizer"),
        ("preprocessing:\n  rescaling: {scale: 1/0}\n", "exp.yaml:2: preprocessing.rescaling.scale: expected a number"),
        ("targets: [host, nucleo-h7]\n", "exp.yaml:1: targets[1].board: unknown board 'nucleo-h7'"),
        ("data_augmentation:\n  random_rotation: {factor: [0.2, 0.1]}\n", "random_rotation.factor: range must be"),
        ("training:\n  data_service: localhost:5000\n", "exp.yaml:2: training.data_service: string should match"),
        ("model: [tiny]\n", "exp.yaml:1: model: input should be a valid dictionary or instance of ModelSection"),
        ("- general\n", "exp.yaml: expected a mapping of sections"),
        (
            "quantization:\n  activations: int16\n  granularity: per-tensor\n",
            "exp.yaml:1: quantization: activations int16 (16x8) needs per-channel weights in TFLite",
        ),
        ("quantization:\n  activations: int16\n  input_type: uint8\n", "input_type uint8 cannot go with int16"),
        ("training:\n  epochs: 1\n  epochs: 2\n", "exp.yaml:3: training.epochs: duplicate key"),
        ("training:\n  epochs: [1\n", "exp.yaml:3:1: YAML syntax error"),
        ("training:\n\tepochs: 1\n", "exp.yaml:2:1: YAML syntax error"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, expected):
    assert expected in error_of(write(tmp_path, text), cwd=tmp_path)


def test_several_errors_are_counted_on_the_same_line(tmp_path):
    message = error_of(write(tmp_path, "training:\n  epochs: x\n  batch_size: y\n  foo: 1\n"), cwd=tmp_path)
    assert "exp.yaml:3: training.batch_size: input should be a valid integer" in message
    assert "(and 2 more: training.epochs, training.foo)" in message


def test_missing_config_file(tmp_path):
    assert error_of(tmp_path / "nope.yaml").endswith("nope.yaml: no such file")


def test_unreadable_config_file(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    assert "binary.yaml: cannot read" in error_of(path)


def test_override_errors_name_the_override(tmp_path):
    path = write(tmp_path, "training:\n  epochs: 3\n")
    message = error_of(path, ["training.epochs=many"], cwd=tmp_path)
    assert message.startswith("override 'training.epochs=many': training.epochs: input should be a valid integer")


# ------------------------------------------------------------------------------------------- docs


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        nested = [a for a in (info.annotation, *typing.get_args(info.annotation)) if _is_model(a)]
        nested += [a for arg in typing.get_args(info.annotation) for a in typing.get_args(arg) if _is_model(a)]
        keys.append(prefix + name)
        for sub in nested:
            keys += _leaf_keys(sub, f"{prefix}{name}.")
    return keys


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def test_docs_config_reference_names_every_key():
    text = (REPO / "docs" / "config.md").read_text()
    documented = set(re.findall(r"`([a-z_][a-z0-9_.]*)`", text))
    missing = [key for key in _leaf_keys(Config) if key not in documented]
    assert not missing, f"docs/config.md does not document: {missing}"
