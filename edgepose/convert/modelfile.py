"""What kind of model file the user gave: recognised by content, not trusted by suffix.

Kinds: ``keras`` (a ``.keras`` zip), ``h5`` (legacy Keras HDF5), ``savedmodel`` (a folder holding
``saved_model.pb``), ``tflite`` (a flatbuffer with the ``TFL3`` identifier) and ``onnx`` (a protobuf that
``onnx`` parses). Anything else, or a file whose bytes do not match its suffix, is a ``ModelError`` that
names the file and what was expected — before any converter gets to crash on it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgepose.errors import ModelError

KINDS = ("keras", "h5", "savedmodel", "tflite", "onnx")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def model_kind(path: Path) -> str:
    """The kind of ``path``, checked against its content."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file or folder")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelError(f"{path}: a folder but not a SavedModel (no saved_model.pb inside)")
    suffix = path.suffix.lower()
    head = path.read_bytes()[:8]
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path}: not a Keras model file (a .keras file is a zip archive); save it again")
        return "keras"
    if suffix == ".h5":
        if head != _HDF5_MAGIC:
            raise ModelError(f"{path}: not an HDF5 file; save the Keras model again")
        return "h5"
    if suffix == ".tflite":
        if head[4:8] != b"TFL3":
            raise ModelError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier); the file is corrupt or not TFLite")
        return "tflite"
    if suffix == ".onnx":
        load_onnx(path)
        return "onnx"
    raise ModelError(
        f"{path}: unsupported model file '{suffix}'; give .keras, .h5, .tflite, .onnx or a SavedModel folder"
    )


def load_onnx(path: Path):
    """The ONNX model at ``path``, checked; a corrupt or invalid file is a ``ModelError``."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, OSError) as exc:
        raise ModelError(f"{path}: not a valid ONNX model ({_first_line(exc)})") from None
    if not model.graph.node:
        raise ModelError(f"{path}: not a valid ONNX model (the graph has no nodes)")
    return model


def load_keras(path: Path):
    """A Keras model from a ``.keras`` or ``.h5`` file, uncompiled."""
    import keras

    import edgepose.train.losses  # noqa: F401 - registers the loss that saved training models refer to

    try:
        return keras.models.load_model(path, compile=False)
    except (zipfile.BadZipFile, OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: not a readable Keras model ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
