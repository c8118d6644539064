"""The model zoo's registry: ``@register_model`` on small builder functions, ``build_model`` by name.

A builder is ``builder(input_size=(h, w), keypoints=K, width=1.0, stride=4, dropout=0.0) -> keras.Model``.
Every model it returns has the same contract, so training, export and code generation need not know which
family they hold:

- input ``"image"``: float32 ``(H, W, 3)``, NHWC, values in ``[-1, 1]`` (the data pipeline rescales pixels);
- output ``"heatmaps"``: float32 ``(H / stride, W / stride, K)``, linear (no activation at the end);
- weights are never downloaded: every backbone is built with ``weights=None``.

The registry holds metadata only, so ``import edgepose.models`` (and listing or validating names) does not
import TensorFlow; the builders import Keras when they are called.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgepose.errors import ModelError

if TYPE_CHECKING:
    import keras

    from edgepose.config.schema import ModelSection

Size = tuple[int, int]
Builder = Callable[..., "keras.Model"]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model before building it."""

    name: str
    builder: Builder
    description: str
    default_input_size: Size
    input_sizes: tuple[Size, ...]  # the sizes the model is meant for (and listed by `edgepose models`)
    widths: tuple[float, ...]  # the widths listed by `edgepose models`; the first is the default
    strides: tuple[int, ...]  # heatmap strides the builder can produce
    size_multiple: int  # height and width must be multiples of this (the encoder's deepest stride)

    @property
    def default_width(self) -> float:
        return self.widths[0]


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    default_input_size: Size,
    input_sizes: Sequence[Size] | None = None,
    description: str,
    widths: Sequence[float] = (1.0,),
    strides: Sequence[int] = (2, 4, 8),
    size_multiple: int = 32,
) -> Callable[[Builder], Builder]:
    """Register ``builder`` under ``name``; the decorated function is returned unchanged."""

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is registered twice")  # a programming error, not the user's
        _REGISTRY[name] = ModelInfo(
            name=name,
            builder=builder,
            description=description,
            default_input_size=tuple(default_input_size),
            input_sizes=tuple(tuple(s) for s in (input_sizes or [default_input_size])),
            widths=tuple(widths),
            strides=tuple(strides),
            size_multiple=size_multiple,
        )
        return builder

    return decorate


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; an unknown name is a ``ModelError`` that lists the known ones."""
    info = _REGISTRY.get(name)
    if info is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ModelError(f"unknown model '{name}': {hint}known models are {', '.join(model_names())}")
    return info


def build_model(
    name: str,
    input_size: Size | None = None,
    keypoints: int = 17,
    width: float | None = None,
    stride: int = 4,
    dropout: float = 0.0,
) -> keras.Model:
    """Build a fresh, untrained model; ``None`` input size or width takes the model's default."""
    info = model_info(name)
    size = tuple(input_size) if input_size is not None else info.default_input_size
    width = info.default_width if width is None else width
    _check(info, size, keypoints, width, stride, dropout)
    return info.builder(input_size=size, keypoints=keypoints, width=width, stride=stride, dropout=dropout)


def build_from_config(model: ModelSection, keypoints: int) -> keras.Model:
    """Build the ``model:`` section of a config, exactly as written (``keypoints`` comes from ``dataset:``)."""
    return build_model(
        model.name,
        input_size=model.input_size,
        keypoints=keypoints,
        width=model.width,
        stride=model.heatmap_stride,
        dropout=model.dropout,
    )


def _check(info: ModelInfo, size: Size, keypoints: int, width: float, stride: int, dropout: float) -> None:
    rows, cols = size
    multiple = info.size_multiple
    if rows % multiple or cols % multiple or rows <= 0 or cols <= 0:
        raise ModelError(
            f"model '{info.name}': input size {rows}x{cols} must be a multiple of {multiple} on both sides "
            f"(its encoder goes down to stride {multiple}), e.g. {info.default_input_size[0]}"
        )
    if stride not in info.strides:
        raise ModelError(f"model '{info.name}': heatmap stride {stride} is not one of {list(info.strides)}")
    if keypoints < 1:
        raise ModelError(f"model '{info.name}': keypoints must be at least 1, not {keypoints}")
    if width <= 0:
        raise ModelError(f"model '{info.name}': width must be positive, not {width:g}")
    if not 0.0 <= dropout < 1.0:
        raise ModelError(f"model '{info.name}': dropout must be in [0, 1), not {dropout}")
