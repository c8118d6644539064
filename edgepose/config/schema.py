"""The experiment config: one YAML file, sections in the spirit of the STM32 model zoo's.

Every section forbids unknown keys, so a typo is an error that names the key instead of a setting that
silently does nothing. docs/config.md documents every key; a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_serializer, model_validator

from edgepose.config.types import (
    FolderOrUriStr,
    Fraction,
    ImageSize,
    InputPath,
    IntRange,
    Range,
    Section,
)

# ---------------------------------------------------------------------------------------------- general


class General(Section):
    project_name: str = "edgepose"
    runs_dir: Path = Field(Path("runs"), description="where run directories are created")
    global_seed: int | None = Field(123, description="seeds Python, NumPy and TensorFlow; null: unseeded")
    deterministic_ops: bool = False
    num_threads: int | None = Field(None, ge=1, description="CPU threads for LiteRT / ONNX Runtime on host")
    gpu_memory_limit: float | None = Field(None, gt=0, description="GiB TensorFlow may take on the GPU")
    model_path: InputPath | None = Field(
        None, description="a brought model: training fine-tunes it; pipeline steps without training start from it"
    )
    mlflow_uri: FolderOrUriStr | None = Field(
        None, description="track runs in MLflow (the mlflow extra): a folder for a local file store, or a tracking URI"
    )


# ---------------------------------------------------------------------------------------------- dataset


class SyntheticData(Section):
    train_size: int = Field(2000, ge=1)
    val_size: int = Field(200, ge=1)
    image_size: int = Field(192, ge=32, description="side of the square images rendered")
    seed: int = 0


class Dataset(Section):
    format: Literal["synthetic", "coco", "yolo"] = "synthetic"
    name: str = "synthetic"
    keypoints: Literal[13, 17, 21] | None = Field(
        None, description="13 or 17 body keypoints, or 21 hand keypoints; null: as many as the data has (17 synthetic)"
    )
    training_path: InputPath | None = None
    validation_path: InputPath | None = None
    test_path: InputPath | None = None
    quantization_path: InputPath | None = None
    images_path: InputPath | None = Field(None, description="COCO image folder when not beside the JSON")
    validation_split: float = Field(0.2, ge=0.0, lt=1.0)
    quantization_split: float | None = Field(None, gt=0.0, le=1.0)
    seed: int = 123
    min_visible_keypoints: int = Field(1, ge=0)
    min_area: float = Field(0.0, ge=0.0, description="smallest person box area in pixels")
    bbox_padding: float = Field(1.25, ge=1.0, description="crop = box side x padding, aspect preserved")
    synthetic: SyntheticData = SyntheticData()

    @model_validator(mode="after")
    def _needs_a_path(self) -> Dataset:
        paths = (self.training_path, self.validation_path, self.test_path)
        if self.format != "synthetic" and not any(paths):
            raise ValueError(f"format '{self.format}' needs training_path, validation_path or test_path")
        return self


# ---------------------------------------------------------------------------------------------- preprocessing


class Rescaling(Section):
    """Out = scale * In + offset, on pixel values in [0, 255]."""

    scale: Fraction = 1 / 127.5
    offset: float = -1.0


class Resizing(Section):
    interpolation: Literal["bilinear", "nearest", "bicubic", "area"] = "bilinear"
    aspect_ratio: Literal["fit", "padding"] = "padding"


class Preprocessing(Section):
    rescaling: Rescaling = Rescaling()
    resizing: Resizing = Resizing()
    color_mode: Literal["rgb", "bgr", "grayscale"] = "rgb"

    @field_validator("color_mode", mode="before")
    @classmethod
    def _gray_alias(cls, value: Any) -> Any:
        return "grayscale" if value == "gray" else value


# ---------------------------------------------------------------------------------------------- augmentation


class RandomFlip(Section):
    mode: Literal["horizontal"] = "horizontal"
    change_rate: float = Field(0.5, ge=0.0, le=1.0)


class RandomRotation(Section):
    factor: Range = Field((-0.1, 0.1), description="fraction of a full turn: 0.1 is 36 degrees")


class RandomScale(Section):
    factor: Range = Field((0.75, 1.25), description="zoom range; 1.0 keeps the size")


class RandomTranslation(Section):
    width_factor: Range = (-0.1, 0.1)
    height_factor: Range = (-0.1, 0.1)


class RandomBrightness(Section):
    factor: float = Field(0.3, ge=0.0, le=1.0)


class RandomContrast(Section):
    factor: float = Field(0.4, ge=0.0, le=1.0)


class RandomBlur(Section):
    filter_size: IntRange = (2, 4)
    change_rate: float = Field(0.5, ge=0.0, le=1.0)


class RandomPeriodicResizing(Section):
    image_sizes: list[ImageSize] = Field(min_length=1)
    period: int = Field(10, ge=1, description="batches between size changes")


class DataAugmentation(Section):
    """Augmentations, applied in the order they are written; a key with no value uses the defaults."""

    random_flip: RandomFlip | None = None
    random_rotation: RandomRotation | None = None
    random_scale: RandomScale | None = None
    random_translation: RandomTranslation | None = None
    random_brightness: RandomBrightness | None = None
    random_contrast: RandomContrast | None = None
    random_blur: RandomBlur | None = None
    random_periodic_resizing: RandomPeriodicResizing | None = None
    _order: list[str] | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_written_order(cls, data: Any, handler: Any) -> DataAugmentation:
        order = list(data) if isinstance(data, dict) else None
        if isinstance(data, dict):
            data = {key: ({} if value is None else value) for key, value in data.items()}
        section = handler(data)
        if order is not None:
            section._order = order
        return section

    def pipeline(self) -> list[tuple[str, Section]]:
        """The enabled augmentations as ``(name, params)``, in the order the config wrote them."""
        order = getattr(self, "_order", None) or list(type(self).model_fields)
        return [(name, getattr(self, name)) for name in order if getattr(self, name) is not None]

    @model_serializer(mode="wrap")
    def _dump_in_order(self, handler: Any) -> dict[str, Any]:
        dumped = handler(self)
        return {name: dumped[name] for name, _ in self.pipeline()}


# ---------------------------------------------------------------------------------------------- model


class ModelSection(Section):
    name: str = Field("tiny", description="a model from `edgepose models`")
    input_size: ImageSize | None = Field(
        None, description="(height, width); one number for a square; null: the model's"
    )
    width: float | None = Field(
        None, gt=0.0, description="width multiplier (alpha in MobileNet terms); null: the model's"
    )
    heatmap_stride: Literal[2, 4, 8] = 4
    pretrained_weights: InputPath | None = Field(
        None,
        description="a .keras, .weights.h5 or .h5 file whose layers load into this model by name and shape, "
        "e.g. a backbone; the run reports what loaded",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0)

    @field_validator("pretrained_weights", mode="before")
    @classmethod
    def _a_file(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("none", "null", ""):
            return None
        if isinstance(value, str) and value.strip().lower() == "imagenet":
            raise ValueError(
                "the model zoo's imagenet weights do not ship with edgepose; give a .keras, .weights.h5 or .h5 file"
            )
        return value

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        _zoo_entry(name)
        return name

    @field_validator("input_size")
    @classmethod
    def _a_size_the_model_takes(cls, size: tuple[int, int] | None, info) -> tuple[int, int] | None:
        entry = _zoo_entry(info.data["name"]) if size is not None and "name" in info.data else None
        if entry is None:
            return size
        multiple = entry.size_multiple
        if min(size) < multiple or size[0] % multiple or size[1] % multiple:
            listed = ", ".join(f"{h}" if h == w else f"{h}x{w}" for h, w in entry.input_sizes)
            raise ValueError(
                f"{size[0]}x{size[1]} is not a size {entry.name} takes: height and width must be multiples of "
                f"{multiple} (its encoder's deepest stride), e.g. {listed}"
            )
        return size

    @field_validator("heatmap_stride")
    @classmethod
    def _a_stride_the_model_has(cls, stride: int, info) -> int:
        entry = _zoo_entry(info.data["name"]) if "name" in info.data else None
        if entry is not None and stride not in entry.strides:
            raise ValueError(f"{entry.name} makes heatmaps at stride {' or '.join(map(str, entry.strides))}")
        return stride


def _zoo_entry(name: str):
    """The model zoo's entry for ``name`` (metadata only, TensorFlow is not imported)."""
    from edgepose.errors import ModelError
    from edgepose.models import model_info

    try:
        return model_info(name)
    except ModelError as error:
        raise ValueError(str(error)) from None


# ---------------------------------------------------------------------------------------------- training


def _single_entry(value: dict[str, dict[str, Any]], what: str) -> dict[str, dict[str, Any]]:
    if len(value) != 1:
        raise ValueError(f"name exactly one {what}, e.g. {{Adam: {{learning_rate: 0.001}}}}")
    return value


class Training(Section):
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(25, ge=1)
    optimizer: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "Adam": {"learning_rate": {"CosineDecay": {"initial_learning_rate": 1e-2, "alpha": 0.02}}}
        },
        description="one Keras optimizer by class name, with its arguments; learning_rate may be a schedule",
    )
    callbacks: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"EarlyStopping": {"monitor": "val_oks", "mode": "max", "patience": 15}},
        description="Keras callbacks by class name, with their arguments",
    )
    heatmap_sigma: float = Field(1.5, gt=0.0, description="Gaussian sigma of the targets, in heatmap pixels")
    loss: Literal["softmax_ce", "mse"] = Field(
        "softmax_ce", description="softmax_ce: per-keypoint spatial softmax, log-probabilities; mse: Gaussian heatmaps"
    )
    mixed_precision: Literal["auto", "on", "off"] = Field("auto", description="auto: on when a GPU is present")
    distribution: Literal["none", "mirrored", "multi_worker"] = "none"
    data_service: str | None = Field(None, pattern=r"^grpc://[^:/]+:\d+$", description="grpc://host:port")
    resume_from: InputPath | None = Field(None, description="a run directory to continue")
    frozen_layers: str | None = Field(
        None,
        description="layers kept as they are, by index into the model's layers: (0:154), (0:-1) all but the last, "
        "(0:-7, -5)",
    )

    @field_validator("frozen_layers", mode="before")
    @classmethod
    def _check_frozen(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        from edgepose.errors import ConfigError
        from edgepose.train.transfer import parse_frozen

        try:
            parse_frozen(str(value))  # the syntax now; the range once the model is built
        except ConfigError as error:
            raise ValueError(str(error).removeprefix("training.frozen_layers: ")) from None
        return str(value)

    @field_validator("optimizer")
    @classmethod
    def _one_optimizer(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return _single_entry(value, "optimizer")


# ---------------------------------------------------------------------------------------------- quantization

_IoType = Literal["int8", "uint8", "int16", "float32"]


class AwareTraining(Section):
    epochs: int = Field(0, ge=0, description="quantization-aware fine-tuning epochs after PTQ; 0: PTQ only")
    learning_rate: float = Field(1e-4, gt=0.0, description="Adam, cosine-decayed to 0 over the fine-tuning")
    only_above_drop: float | None = Field(
        None, ge=0.0, description="AP points: fine-tune only when PTQ loses more (needs validation data); null: always"
    )


class Quantization(Section):
    backend: Literal["tflite", "onnx"] = "tflite"
    granularity: Literal["per-channel", "per-tensor"] = "per-channel"
    input_type: _IoType | None = Field(None, description="null: as the activations (int8, or int16 for 16x8)")
    output_type: _IoType | None = Field(None, description="null: as the activations (int8, or int16 for 16x8)")
    calibration: str | None = Field(None, description="a set under calibration/ by name, or a folder")
    calibration_size: int = Field(200, ge=1)
    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    onnx_format: Literal["qdq", "qoperator"] = "qdq"
    float_layers: list[str] = Field(default_factory=list, description="layers kept in float")
    activations: Literal["int8", "int16"] = Field(
        "int8", description="int16: 16-bit activations with 8-bit weights (16x8) for the whole TFLite model"
    )
    per_layer_report: bool = Field(True, description="per-layer error: float and quantized tensors matched by name")
    advice: bool = Field(
        True, description="for an output with poor SNR: the layers to blame, and what 16x8 or float would buy"
    )
    exclude_nodes: list[str] = Field(default_factory=list, description="ONNX nodes left unquantized")
    reduce_range: bool = Field(
        False, description="ONNX Runtime: 7-bit weights, for int8 run on x86 CPUs without VNNI (their kernels saturate)"
    )
    aware_training: AwareTraining = Field(
        AwareTraining(), description="fine-tuning through int8 rounding for a model PTQ leaves too far from float"
    )

    @field_validator("granularity", mode="before")
    @classmethod
    def _underscore_alias(cls, value: Any) -> Any:  # the model zoo writes per_channel
        return value.replace("_", "-") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _io_fits_the_activations(self) -> Quantization:
        fitting = ("int16", "float32") if self.activations == "int16" else ("int8", "uint8", "float32")
        for key in ("input_type", "output_type"):
            value = getattr(self, key)
            if value is not None and value not in fitting:
                raise ValueError(
                    f"{key} {value} cannot go with {self.activations} activations; use {' or '.join(fitting)} "
                    "(or leave it out)"
                )
        if self.activations == "int16" and self.granularity == "per-tensor" and self.backend == "tflite":
            # TFLite's converter fails on it deep inside ("Quantized dimension ... do not match")
            raise ValueError(
                "activations int16 (16x8) needs per-channel weights in TFLite; drop granularity per-tensor"
            )
        if self.aware_training.epochs and (self.activations == "int16" or self.float_layers):
            # the fake quantization rounds every activation to int8, as a full-integer int8 model does
            raise ValueError("aware_training fine-tunes for a full int8 model: drop activations int16 / float_layers")
        return self

    def io_type(self, which: str) -> str:
        """``input_type`` or ``output_type`` as given, else the activations' own type."""
        given = self.input_type if which == "input" else self.output_type
        return given or ("int16" if self.activations == "int16" else "int8")


# ---------------------------------------------------------------------------------------------- evaluation


class Evaluation(Section):
    pck_threshold: float = Field(0.2, gt=0.0, description="fraction of the person's box size")
    refine: Literal["none", "quarter", "dark", "integral"] = "integral"
    flip_test: bool = False
    max_samples: int | None = Field(None, ge=1)


# ---------------------------------------------------------------------------------------------- prediction


class Prediction(Section):
    test_files_path: InputPath | None = Field(None, description="images, videos or a folder of them to predict on")
    boxes: InputPath | None = Field(
        None, description='JSON {"file name": [x, y, w, h]}: the person in each; null: the whole frame, letterboxed'
    )
    confidence_threshold: float = Field(
        0.2, ge=0.0, le=1.0, description="keypoints drawn as confident (dots) at or above it, as rings below"
    )


# ---------------------------------------------------------------------------------------------- targets


class TargetMemory(Section):
    max_recompute: float = Field(
        0.10,
        ge=0.0,
        description="MCU boards: patch-based execution where RAM peaks may cost this much extra work (instructions, "
        "estimated per kernel), as a fraction of the model's (0: layer by layer)",
    )
    split_arena: bool = Field(
        True,
        description="MCU boards with a RAM faster than the rest (an H7's DTCM): when the arena does not fit there "
        "whole, its most-used activations go there and the rest to the next RAM (false: one arena)",
    )


class TargetEntry(Section):
    """A board to deploy to and benchmark on; a plain string is the board name."""

    board: str
    ssh: str | None = Field(None, description="user@host for Linux boards")
    port: str | None = Field(None, description="serial device or pyserial URL")
    runtime: Literal["litert", "onnxruntime"] | None = None
    threads: int | None = Field(None, ge=1)
    flash: Literal["gdb", "openocd", "pyocd", "stm32cubeprogrammer", "stm32loader"] | None = Field(
        None, description="deploy: flash the firmware this way (as `edgepose flash --method`); null: build it only"
    )
    gdb: str = Field("127.0.0.1:3333", description="host:port of the GDB server for flash: gdb")
    device: str | None = Field(None, description="Android: the adb serial (null: the one attached)")
    benchmark_model: str | None = Field(
        None, description="Android: TensorFlow Lite's benchmark_model, a file here (pushed) or a path on the phone"
    )
    delegate: Literal["cpu", "xnnpack", "gpu", "nnapi"] = Field("xnnpack", description="Android: what runs the model")
    memory: TargetMemory = Field(TargetMemory(), description="MCU boards: the memory planner's options")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"board": value} if isinstance(value, str) else value

    @field_validator("board")
    @classmethod
    def _known_board(cls, value: str) -> str:
        from edgepose.boards import find_board
        from edgepose.errors import BoardError

        try:
            find_board(value)
        except BoardError as exc:  # pydantic attaches the key's location only to ValueError
            raise ValueError(str(exc)) from None
        return value


# ---------------------------------------------------------------------------------------------- benchmark


class Benchmark(Section):
    warmup: int = Field(10, ge=0)
    runs: int = Field(100, ge=1)
    min_time_s: float = Field(0.0, ge=0.0, description="keep running until this much time has passed")
    runtime: Literal["litert", "onnxruntime"] = "litert"
    threads: int = Field(1, ge=1)
    baud: int = Field(921600, ge=1200)
    timeout_s: float = Field(10.0, gt=0.0)
    output_tolerance: float | None = Field(
        None,
        ge=0.0,
        description="max abs difference allowed in the output check; null: exact for integer outputs, 1e-4 for float",
    )
    fail_over: float | None = Field(None, gt=0.0, description="report compare: % slower that fails")


# ---------------------------------------------------------------------------------------------- the whole file


OperationMode = Literal[
    "training",
    "evaluation",
    "quantization",
    "prediction",
    "benchmarking",
    "deployment",
    "chain_tqe",
    "chain_tqeb",
    "chain_eqe",
    "chain_qb",
    "chain_eqeb",
    "chain_qd",
]


class Config(Section):
    operation_mode: OperationMode | None = Field(
        None, description="what `edgepose pipeline` runs, as in the STM32 model zoo; null: train to compare"
    )
    general: General = General()
    dataset: Dataset = Dataset()
    preprocessing: Preprocessing = Preprocessing()
    data_augmentation: DataAugmentation = Field(
        default_factory=lambda: DataAugmentation.model_validate(
            {"random_flip": {}, "random_rotation": {}, "random_scale": {}, "random_brightness": {}}
        )
    )
    model: ModelSection = ModelSection()
    training: Training = Training()
    quantization: Quantization = Quantization()
    evaluation: Evaluation = Evaluation()
    prediction: Prediction = Prediction()
    targets: list[TargetEntry] = Field(default_factory=lambda: [TargetEntry(board="host")])
    benchmark: Benchmark = Benchmark()

    @field_validator("targets", mode="before")
    @classmethod
    def _one_target(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | dict) else value
