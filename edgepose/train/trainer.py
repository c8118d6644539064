"""``edgepose train``: build or resume a model, feed it the pipeline, validate, checkpoint, log.

One function, ``train``, in the order a reader expects: seeds → data → distribution strategy → model and
optimizer → callbacks → ``fit`` → final artifacts. Everything Keras already does well (the fit loop,
EarlyStopping, ReduceLROnPlateau, CSV and TensorBoard logging, the progress bar) is Keras' own.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepose import console
from edgepose.config.schema import Config
from edgepose.data.pipeline import PipelineSpec, training_dataset
from edgepose.data.sources import Splits, load_splits
from edgepose.errors import ConfigError, ModelError
from edgepose.runs import Run
from edgepose.train import callbacks as cb

# Callbacks edgepose always runs itself; config entries with these names adjust their arguments.
_OWN_CALLBACKS = ("CSVLogger", "TensorBoard", "ModelCheckpoint")


@dataclass
class TrainResult:
    epochs: int
    best: float | None
    history: dict[str, list[float]]


def train(config: Config, run: Run, resume_state: dict | None = None) -> TrainResult:
    """Train per ``config`` into ``run``; ``resume_state`` (from ``train_state.json``) continues a run."""
    _seed(config)
    splits = load_splits(config.dataset)
    for role, path in splits.sources:
        run.add_dataset(path, role)
    console.err.print(f"data: {len(splits.train)} training, {len(splits.val)} validation people from {splits.origin}")
    if splits.log.total:
        console.warn(splits.log.summary())
    strategy = _strategy(config.training.distribution)
    mixed = _mixed_precision(config.training.mixed_precision)
    with strategy.scope():
        if resume_state is not None:
            model = _load(run.path / cb.LAST, compile=True)
        else:
            model = _fresh_model(config, mixed, run)
            steps = steps_per_epoch(len(splits.train), config.training.batch_size) * config.training.epochs
            model.compile(optimizer=_optimizer(config.training.optimizer, steps), loss=_loss(config.training.loss))
    spec = _spec(config, model)
    if spec.channels != model.inputs[0].shape[-1]:
        raise ConfigError(f"preprocessing.color_mode '{spec.color_mode}' does not match the model's input channels")
    data = _training_data(splits, spec, config)
    plain = dataclasses.replace(spec, augmentation=None)
    validation = training_dataset(splits.val, plain, config.training.batch_size, shuffle=False, repeat=True)
    initial_epoch = resume_state["epoch"] if resume_state else 0
    callbacks = _callbacks(config, run, splits, spec, resume_state)
    with _fit_scope(model, strategy, config.training.distribution):
        history = model.fit(
            data,
            steps_per_epoch=steps_per_epoch(len(splits.train), config.training.batch_size),
            validation_data=validation if splits.val else None,
            validation_steps=steps_per_epoch(len(splits.val), config.training.batch_size) if splits.val else None,
            epochs=config.training.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    cb.save_model(model, run.file(cb.FINAL))
    for name in (cb.LAST, cb.BEST, cb.STATE, cb.METRICS_CSV):
        if (run.path / name).exists():
            run.file(name)
    state = cb.read_state(run.path) or {}
    return TrainResult(state.get("epoch", initial_epoch), state.get("best"), history.history)


# ---------------------------------------------------------------------------------------------- pieces


def _spec(config: Config, model) -> PipelineSpec:
    """Input size and heatmap stride come from the model (a brought one may differ from the config's)."""
    height = int(model.inputs[0].shape[1])
    spec = PipelineSpec.from_config(config, tuple(model.inputs[0].shape[1:3]))
    return dataclasses.replace(spec, stride=height // int(model.outputs[0].shape[1]))


def steps_per_epoch(samples: int, batch_size: int) -> int:
    return max(1, -(-samples // batch_size))


def _seed(config: Config) -> None:
    import keras
    import tensorflow as tf

    if config.general.global_seed is not None:
        keras.utils.set_random_seed(config.general.global_seed)
    if config.general.deterministic_ops:
        tf.config.experimental.enable_op_determinism()


def _strategy(kind: str):
    import tensorflow as tf

    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("training.distribution 'multi_worker' needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _fit_scope(model, strategy, kind: str):
    """Where ``fit`` runs. Keras 3's ``fit`` under MultiWorkerMirroredStrategy first all-reduces an input
    batch to build the model symbolically, which fails (keras-team/keras#20585). A model that does not
    remember its strategy skips that build and takes the strategy from the scope ``fit`` runs in; its
    variables were created in that scope, so they are mirrored and all-reduced all the same."""
    import contextlib

    if kind != "multi_worker":
        return contextlib.nullcontext()
    model._distribute_strategy = None
    # The same fit() then averages each step's logs across workers along axis 0, which scalars lack: give
    # them one (the average of one-element vectors is the scalar again).
    for name in ("train_step", "test_step"):
        model.__dict__[name] = _with_vector_logs(getattr(model, name))
    return strategy.scope()


def _with_vector_logs(step):
    import tensorflow as tf

    def wrapped(data):
        return {key: tf.reshape(value, [1]) for key, value in step(data).items()}

    return wrapped


def _mixed_precision(setting: str) -> bool:
    """float16 compute with float32 weights on a GPU; on CPU it would only be slower."""
    import keras
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    enabled = setting == "on" or (setting == "auto" and gpu)
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    return enabled


def _fresh_model(config: Config, mixed: bool, run: Run):
    """The zoo model the config names, or the brought ``general.model_path``; then pretrained weights by name,
    then frozen layers, then (on a GPU) the float32 output for mixed precision."""
    import keras

    from edgepose.train import transfer

    model = _brought_model(config) if config.general.model_path else _zoo_model(config)
    if config.model.pretrained_weights is not None:
        report = transfer.load_by_name(model, config.model.pretrained_weights)
        run.write_json("pretrained_weights.json", report.as_dict())
        console.err.print(report.summary(), soft_wrap=True)
    if config.training.frozen_layers:
        frozen, trainable = transfer.freeze(model, config.training.frozen_layers)
        console.err.print(
            f"frozen layers {config.training.frozen_layers}: {frozen} of {len(model.layers)} layers frozen, "
            f"{trainable:,} trainable parameters"
        )
    if mixed:  # heatmaps leave the model in float32 whatever the compute type
        outputs = keras.layers.Activation("linear", dtype="float32", name="heatmaps_float32")(model.outputs[0])
        model = keras.Model(model.inputs, outputs, name=model.name)
    return model


def _zoo_model(config: Config):
    from edgepose.models.registry import build_from_config

    return build_from_config(config.model, config.dataset.keypoints)


def _brought_model(config: Config):
    """A Keras model trained elsewhere, fine-tuned on this data: its heatmaps must have one channel per
    keypoint of the dataset."""
    from edgepose.runtime.keras_runner import KerasRunner

    path = config.general.model_path
    if path.suffix not in (".keras", ".h5"):
        raise ConfigError(f"general.model_path {path}: training fine-tunes a Keras model (.keras or .h5)")
    runner = KerasRunner.from_file(path)
    if not runner.is_heatmap_model:
        raise ModelError(f"{path}: not a heatmap model (input {runner.input_shape}, output {runner.output_shape})")
    channels, wanted = runner.output_shape[-1], config.dataset.keypoints
    if wanted is not None and channels != wanted:
        raise ConfigError(
            f"general.model_path {path}: the model makes {channels} heatmaps, the dataset has {wanted} keypoints"
        )
    console.err.print(f"fine-tuning {path.name}: input {runner.input_shape}, heatmap stride {runner.stride}")
    return runner.model


def _load(path: Path, compile: bool):
    from edgepose.runtime.keras_runner import KerasRunner

    if not compile:
        return KerasRunner.from_file(path).model
    import keras

    from edgepose.train.losses import HeatmapLoss

    try:
        return keras.models.load_model(path, custom_objects={"HeatmapLoss": HeatmapLoss})
    except (ValueError, OSError) as exc:
        raise ModelError(f"{path}: cannot resume from this checkpoint: {exc}") from None


def _loss(kind: str):
    from edgepose.train.losses import HeatmapLoss

    return HeatmapLoss(kind)


def _optimizer(spec: dict[str, dict[str, Any]], total_steps: int):
    """``{Adam: {learning_rate: ...}}``; a learning rate may itself be a schedule, ``{CosineDecay: {...}}``,
    whose ``decay_steps`` defaults to the whole run (epochs × steps per epoch)."""
    import keras

    ((name, arguments),) = spec.items()
    arguments = dict(arguments or {})
    rate = arguments.get("learning_rate")
    if isinstance(rate, dict):
        ((schedule, options),) = rate.items()
        options = dict(options or {})
        if "decay_steps" in _signature(keras.optimizers.schedules, schedule):
            options.setdefault("decay_steps", total_steps)
        arguments["learning_rate"] = _construct(keras.optimizers.schedules, schedule, options, "learning rate schedule")
    return _construct(keras.optimizers, name, arguments, "optimizer")


def _signature(module, name: str) -> tuple[str, ...]:
    import inspect

    cls = getattr(module, name, None)
    return tuple(inspect.signature(cls).parameters) if inspect.isclass(cls) else ()


def _construct(module, name: str, arguments: dict, what: str):
    import inspect

    cls = getattr(module, name, None)
    if not inspect.isclass(cls):
        known = [n for n in dir(module) if inspect.isclass(getattr(module, n)) and not n.startswith("_")]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"training: unknown Keras {what} '{name}'{hint}")
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"training: {what} '{name}': {exc}") from None


def _training_data(splits: Splits, spec: PipelineSpec, config: Config):
    import tensorflow as tf

    seed = config.general.global_seed
    data = training_dataset(splits.train, spec, config.training.batch_size, seed=seed, repeat=True)
    service = config.training.data_service
    if service:
        # The dataset graph is pure TF (no Python callbacks), so the dispatcher can ship it to its workers.
        data = data.apply(tf.data.experimental.service.distribute(processing_mode="parallel_epochs", service=service))
        console.err.print(f"input pipeline: tf.data service at {service}")
    return data


def _callbacks(config: Config, run: Run, splits: Splits, spec: PipelineSpec, resume_state: dict | None) -> list:
    import keras

    settings = {name: dict(args or {}) for name, args in config.training.callbacks.items()}
    validation = cb.Validation(splits.val, spec, config.training.batch_size, config.evaluation.refine)
    tracked = [
        _construct(keras.callbacks, name, args, "callback")
        for name, args in settings.items()
        if name not in _OWN_CALLBACKS
    ]
    csv_path = run.file(cb.METRICS_CSV)
    if resume_state is not None:
        cb.trim_csv(csv_path, resume_state["epoch"])
    logs = [
        keras.callbacks.CSVLogger(str(csv_path), append=resume_state is not None, **settings.get("CSVLogger", {})),
        keras.callbacks.TensorBoard(
            str(run.path / "tensorboard"), **{"profile_batch": 0, **settings.get("TensorBoard", {})}
        ),
    ]
    checkpoint = cb.Checkpoint(run.path, tracked)
    restore = [cb.RestoreProgress(resume_state, tracked, checkpoint)] if resume_state else []
    mlflow = [cb.TrackMetrics(run)] if run.tracker is not None else []
    return [validation, *tracked, *logs, *mlflow, checkpoint, *restore]


def resume_config(run_dir: Path, overrides: list[str] | None = None) -> tuple[Config, dict]:
    """The resolved config (plus ``overrides``, e.g. more epochs) and progress of an interrupted run."""
    from edgepose.config import load_config
    from edgepose.errors import RunError

    run_dir = Path(run_dir)
    state = cb.read_state(run_dir)
    if state is None or not (run_dir / cb.LAST).is_file():
        raise RunError(f"{run_dir}: nothing to resume (no {cb.STATE} and {cb.LAST}: no epoch finished there)")
    config = load_config(run_dir / "config.yaml", overrides or [])
    return config, state


def summary(result: TrainResult) -> str:
    return json.dumps({"epochs": result.epochs, "best_val_oks": result.best})
