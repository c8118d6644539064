"""Model metadata inside a ``.tflite``: what a mobile app needs to feed the model and read its heatmaps,
carried by the model file itself.

Two entries go into the flatbuffer's ``metadata`` list, each pointing at a buffer of its own:

- ``TFLITE_METADATA``: TensorFlow Lite's standard metadata (``metadata_schema.fbs`` of tflite-support,
  file identifier ``M001``), which Android Studio's model viewer, the TFLite Support library and MediaPipe
  read: model name, description, version, author, license; the input as an RGB/grayscale image of its size
  with its normalization as ``(pixel - mean) / std``; each output with its description and dimension
  names. Written here with the flatbuffers builder, field by field: the library that writes it
  (tflite-support) pins protobuf below 4, which TensorFlow 2.21 cannot load beside it.
- ``edgepose.pose``: a JSON document with what the standard schema has no field for — keypoint names,
  skeleton limbs, heatmap stride and how to decode — the same document as the package's sidecar.

``read_metadata`` reads both back (the standard part field by field), so tests and ``edgepose inspect``
check what an app would find.
"""

from __future__ import annotations

import json
from pathlib import Path

import flatbuffers
import numpy as np
from flatbuffers.table import Table

from edgepose import atomic
from edgepose.errors import ModelError

STANDARD = "TFLITE_METADATA"
POSE = "edgepose.pose"
IDENTIFIER = b"M001"
PARSER_VERSION = "1.0.0"  # only fields of metadata schema 1.0 are written
COLOR_SPACES = {"rgb": 1, "bgr": 1, "gray": 2}  # ColorSpaceType: the schema has no BGR; the pose JSON says
CONTENT_FEATURE, CONTENT_IMAGE = 1, 2  # ContentProperties union
OPTIONS_NORMALIZATION = 1  # ProcessUnitOptions union


# ---------------------------------------------------------------------------------------------- writing


def embed(model: Path, pose: dict, out: Path | None = None) -> Path:
    """Write ``model`` with both metadata entries (replacing earlier ones) to ``out`` (default: in place),
    atomically."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = Path(model).read_bytes()
    try:
        tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as error:  # a flatbuffer that does not parse raises whatever its bytes lead to
        raise ModelError(f"{model}: not a TFLite flatbuffer ({error})") from None
    entries = [m for m in (tree.metadata or []) if _name(m.name) not in (STANDARD, POSE)]
    for name, payload in ((STANDARD, standard_metadata(pose)), (POSE, json.dumps(pose, indent=1).encode())):
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(payload, np.uint8)
        tree.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name, len(tree.buffers) - 1
        entries.append(entry)
    tree.metadata = entries
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return atomic.write_bytes(Path(out or model), bytes(builder.Output()))


def standard_metadata(pose: dict) -> bytes:
    """TensorFlow Lite's ``ModelMetadata`` flatbuffer for ``pose`` (see ``pose_document``)."""
    b = flatbuffers.Builder(1024)
    inputs = [_input_tensor(b, pose["input"])]
    outputs = [_output_tensor(b, output) for output in pose["outputs"]]
    subgraph_fields = {
        0: _string(b, pose["name"]),
        2: _offsets(b, inputs),
        3: _offsets(b, outputs),
    }
    subgraph = _table(b, 7, subgraph_fields)
    fields = {
        0: _string(b, pose["name"]),
        1: _string(b, pose["description"]),
        2: _string(b, pose["version"]),
        3: _offsets(b, [subgraph]),
        4: _string(b, pose.get("author") or "edgepose"),
        5: _string(b, pose.get("license") or ""),
        7: _string(b, PARSER_VERSION),
    }
    b.Finish(_table(b, 8, fields), file_identifier=IDENTIFIER)
    return bytes(b.Output())


def _input_tensor(b: flatbuffers.Builder, spec: dict) -> int:
    height, width = spec["image_size"]
    size = _table(b, 2, {}, uints={0: width, 1: height})
    image = _table(b, 2, {1: size}, bytes_={0: COLOR_SPACES[spec["color"]]})
    content = _table(b, 3, {1: image}, bytes_={0: CONTENT_IMAGE})
    normalization = _table(b, 2, {0: _floats(b, spec["mean"]), 1: _floats(b, spec["std"])})
    unit = _table(b, 2, {1: normalization}, bytes_={0: OPTIONS_NORMALIZATION})
    fields = {
        0: _string(b, spec["name"]),
        1: _string(b, spec["description"]),
        2: _offsets(b, [_string(b, d) for d in ("batch", "height", "width", "channel")]),
        3: content,
        4: _offsets(b, [unit]),
    }
    return _table(b, 7, fields)


def _output_tensor(b: flatbuffers.Builder, spec: dict) -> int:
    names = spec.get("dimension_names") or []
    value_range = _table(b, 2, {}, ints={0: spec["range"][0], 1: spec["range"][1]}) if spec.get("range") else None
    content = _table(b, 3, {1: _table(b, 0, {}), **({2: value_range} if value_range else {})},
                     bytes_={0: CONTENT_FEATURE})  # fmt: skip
    fields = {
        0: _string(b, spec["name"]),
        1: _string(b, spec["description"]),
        **({2: _offsets(b, [_string(b, n) for n in names])} if names else {}),
        3: content,
    }
    return _table(b, 7, fields)


def _table(
    b: flatbuffers.Builder, slots: int, offsets: dict[int, int], bytes_: dict | None = None,
    uints: dict | None = None, ints: dict | None = None,
) -> int:  # fmt: skip
    """A table of ``slots`` fields: offsets (strings, vectors, tables), and scalars by slot. Everything it
    points to must be built before it (flatbuffers build bottom-up)."""
    b.StartObject(slots)
    for slot, value in offsets.items():
        b.PrependUOffsetTRelativeSlot(slot, value, 0)
    for slot, value in (uints or {}).items():
        b.PrependUint32Slot(slot, value, 0)
    for slot, value in (ints or {}).items():
        b.PrependInt32Slot(slot, value, 0)
    for slot, value in (bytes_ or {}).items():
        b.PrependUint8Slot(slot, value, 0)
    return b.EndObject()


def _string(b: flatbuffers.Builder, text: str) -> int:
    return b.CreateString(text)


def _offsets(b: flatbuffers.Builder, items: list[int]) -> int:
    b.StartVector(4, len(items), 4)
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return b.EndVector()


def _floats(b: flatbuffers.Builder, values: list[float]) -> int:
    b.StartVector(4, len(values), 4)
    for value in reversed(values):
        b.PrependFloat32(float(value))
    return b.EndVector()


# ---------------------------------------------------------------------------------------------- reading


def read_metadata(model: Path) -> dict:
    """``{"standard": {...}, "pose": {...}}`` as found in ``model`` (either None when absent)."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = Path(model).read_bytes()
    root = schema.Model.GetRootAsModel(data, 0)
    found: dict = {"standard": None, "pose": None}
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        name = _name(entry.Name())
        payload = root.Buffers(entry.Buffer()).DataAsNumpy()
        if name == STANDARD and not isinstance(payload, int):
            found["standard"] = _read_standard(payload.tobytes())
        elif name == POSE and not isinstance(payload, int):
            found["pose"] = json.loads(payload.tobytes())
    return found


def _read_standard(data: bytes) -> dict:
    if data[4:8] != IDENTIFIER:
        raise ModelError(f"TFLITE_METADATA buffer without the {IDENTIFIER.decode()} identifier")
    model = _root(data)
    subgraph = _tables(model, 3)[0]
    return {
        "name": _text(model, 0), "description": _text(model, 1), "version": _text(model, 2),
        "author": _text(model, 4), "license": _text(model, 5), "min_parser_version": _text(model, 7),
        "inputs": [_read_tensor(t) for t in _tables(subgraph, 2)],
        "outputs": [_read_tensor(t) for t in _tables(subgraph, 3)],
    }  # fmt: skip


def _read_tensor(tensor: Table) -> dict:
    found = {"name": _text(tensor, 0), "description": _text(tensor, 1), "dimension_names": _texts(tensor, 2)}
    content = _table_at(tensor, 3)
    if content is not None:
        kind = _scalar(content, 0, flatbuffers.number_types.Uint8Flags)
        found["content"] = {1: "feature", 2: "image", 3: "bounding_box"}.get(kind)
        properties = _table_at(content, 1)
        if kind == CONTENT_IMAGE and properties is not None:
            found["color_space"] = {1: "rgb", 2: "gray"}.get(
                _scalar(properties, 0, flatbuffers.number_types.Uint8Flags)
            )
            size = _table_at(properties, 1)
            found["image_size"] = [_scalar(size, 1, flatbuffers.number_types.Uint32Flags),
                                   _scalar(size, 0, flatbuffers.number_types.Uint32Flags)]  # fmt: skip
        value_range = _table_at(content, 2)
        if value_range is not None:
            found["range"] = [_scalar(value_range, k, flatbuffers.number_types.Int32Flags) for k in (0, 1)]
    for unit in _tables(tensor, 4):
        if _scalar(unit, 0, flatbuffers.number_types.Uint8Flags) == OPTIONS_NORMALIZATION:
            options = _table_at(unit, 1)
            found["mean"], found["std"] = _float_vector(options, 0), _float_vector(options, 1)
    return found


def _root(data: bytes) -> Table:
    return Table(bytearray(data), flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0))


def _field(table: Table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _text(table: Table, slot: int) -> str | None:
    offset = _field(table, slot)
    return table.String(offset + table.Pos).decode() if offset else None


def _texts(table: Table, slot: int) -> list[str]:
    offset = _field(table, slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [table.String(start + 4 * k).decode() for k in range(table.VectorLen(offset))]


def _table_at(table: Table, slot: int) -> Table | None:
    offset = _field(table, slot)
    return Table(table.Bytes, table.Indirect(offset + table.Pos)) if offset else None


def _tables(table: Table, slot: int) -> list[Table]:
    offset = _field(table, slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [Table(table.Bytes, table.Indirect(start + 4 * k)) for k in range(table.VectorLen(offset))]


def _scalar(table: Table, slot: int, flags) -> int:
    offset = _field(table, slot)
    return table.Get(flags, offset + table.Pos) if offset else 0


def _float_vector(table: Table, slot: int) -> list[float]:
    offset = _field(table, slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [table.Get(flatbuffers.number_types.Float32Flags, start + 4 * k) for k in range(table.VectorLen(offset))]


def _name(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
