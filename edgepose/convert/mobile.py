"""Mobile packages (``edgepose export --target android|ios``): what an app needs to run a pose model on a
phone, in one folder.

- ``<model>_float16.tflite``: float16 weights, float compute, for the GPU delegate (Android's GPU delegate,
  iOS's Metal delegate), which runs float models fastest;
- ``<model>_int8.tflite``: full-integer, for the CPU through XNNPACK and for NNAPI / Core ML accelerators;
- both with the model's metadata embedded (``tflite_metadata``: TensorFlow Lite's standard metadata plus
  the keypoints, skeleton and heatmap stride) and the same document in each file's sidecar JSON;
- ``README.md``: a short Kotlin and a short Swift example that run the model and decode its heatmaps.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from edgepose import __version__, atomic
from edgepose.convert.metadata import Normalization, write_sidecar
from edgepose.convert.tflite_metadata import embed
from edgepose.errors import DataError, ModelError

TARGETS = ("android", "ios")
SCHEMA = "edgepose.pose/1"


def package(
    source: Path, target: str, folder: Path, normalization: Normalization, int8: Path | None,
    quantize: Callable[[], Path] | None,
) -> list[Path]:  # fmt: skip
    """Write the package for ``target`` into ``folder``: the float16 and int8 models (``int8`` given, or
    made by ``quantize()`` outside the package), metadata embedded, sidecars, README. Returns the files
    written."""
    from edgepose.convert.export import export_model

    if target not in TARGETS:
        raise ModelError(f"--target '{target}': one of {', '.join(TARGETS)}")
    if int8 is None and quantize is None:
        raise ModelError("an int8 model needs calibration images: pass --calib NAME|DIR or --int8 FILE")
    folder.mkdir(parents=True, exist_ok=True)
    float16 = export_model(source, "tflite-fp16", folder).path
    float16 = float16.replace(folder / f"{Path(source).stem}_float16.tflite")
    made = int8 if int8 is not None else quantize()
    int8 = folder / f"{Path(source).stem}_int8.tflite"
    shutil.copyfile(made, int8)
    written = []
    documents = {}
    for path, role in ((float16, "gpu"), (int8, "cpu")):
        document = pose_document(path, normalization, Path(source).stem, role)
        embed(path, document)
        write_sidecar(path, "tflite", normalization, Path(source), pose=document)
        documents[role] = document
        written += [path, path.with_name(path.name + ".json")]
    written.append(atomic.write_text(folder / "README.md", readme(target, float16.name, int8.name, documents)))
    return written


def pose_document(model: Path, normalization: Normalization, name: str, role: str) -> dict:
    """What an app needs to know about ``model``: its input (size, colour, normalization as TFLite's
    ``(pixel - mean) / std``, quantization), its outputs (which one holds heatmaps, at what stride), the
    keypoints and skeleton, and how to decode."""
    from edgepose.convert.inspect import describe
    from edgepose.skeletons import skeleton_for

    info = describe(model)
    (spec,) = info["inputs"][:1] or [None]
    if spec is None or len(spec["shape"]) != 4:
        raise ModelError(f"{model}: a pose model takes one NHWC image; this one's inputs are {info['inputs']}")
    height, width, channels = spec["shape"][1:]
    heatmaps = next((o for o in info["outputs"] if len(o["shape"]) == 4), None)
    if heatmaps is None:
        raise ModelError(f"{model}: no 4-D output to read heatmaps from (outputs: {info['outputs']})")
    count, stride = heatmaps["shape"][3], height // heatmaps["shape"][1]
    try:
        skeleton = skeleton_for(count)
        keypoints, limbs = list(skeleton.keypoints), [list(pair) for pair in skeleton.limbs]
    except DataError:  # a brought model with a keypoint count of its own: numbered, no limbs
        keypoints, limbs = [f"keypoint_{k}" for k in range(count)], []
    mean, std = -normalization.offset / normalization.scale, 1.0 / normalization.scale
    uses = "the GPU delegate (float16 weights)" if role == "gpu" else "XNNPACK on the CPU, NNAPI or Core ML (int8)"
    return {
        "schema": SCHEMA,
        "name": name,
        "description": (
            f"Single-person pose: {count} keypoint heatmaps at 1/{stride} of the {width}x{height} input; "
            f"for {uses}. Keypoints: {', '.join(keypoints)}."
        ),
        "version": __version__,
        "author": "edgepose",
        "license": "",
        "role": role,
        "input": {
            "name": spec["name"],
            "shape": spec["shape"],
            "dtype": spec["dtype"],
            "quantization": _quantization(spec),
            "image_size": [height, width],
            "color": normalization.color,
            "layout": "NHWC",
            "normalization": {"scale": normalization.scale, "offset": normalization.offset},
            "mean": [round(mean, 6)] * channels,
            "std": [round(std, 6)] * channels,
            "description": (
                f"{normalization.color.upper()} image, {width}x{height}, pixels 0-255 normalized as "
                f"(pixel - {mean:g}) / {std:g}" + (", then quantized" if spec["dtype"] in ("int8", "uint8") else "")
            ),
        },  # fmt: skip
        "outputs": [_output(o, o is heatmaps, stride, keypoints) for o in info["outputs"]],
        "keypoints": keypoints,
        "skeleton": limbs,
        "heatmap_stride": stride,
        "decode": {
            "peak": "per keypoint channel, the row and column of the largest value",
            "x": "(column + 0.5) * heatmap_stride - 0.5, in input pixels",
            "y": "(row + 0.5) * heatmap_stride - 0.5, in input pixels",
            "confidence": "the peak's value (dequantized: (q - zero_point) * scale)",
        },
    }


def _output(spec: dict, is_heatmaps: bool, stride: int, keypoints: list[str]) -> dict:
    output = {"name": spec["name"], "shape": spec["shape"], "dtype": spec["dtype"], "quantization": _quantization(spec)}
    if not is_heatmaps:
        return output | {"semantics": "other", "description": "an output of the model that is not the heatmaps"}
    return output | {
        "semantics": "heatmaps",
        "heatmap_stride": stride,
        "dimension_names": ["batch", "y", "x", "keypoint"],
        "range": [1, 2],  # TFLite metadata: dimensions 1-2 are the content (the heatmap image)
        "description": f"{len(keypoints)} keypoint heatmaps, one channel per keypoint, at stride {stride}",
    }


def _quantization(spec: dict) -> dict | None:
    scale = spec.get("scale")
    return {"scale": scale, "zero_point": spec.get("zero_point")} if scale else None


def readme(target: str, float16: str, int8: str, documents: dict) -> str:
    """The package's README: files, input, output, and a Kotlin and a Swift example."""
    doc = documents["cpu"]
    height, width = doc["input"]["image_size"]
    mean, std, stride = doc["input"]["mean"][0], doc["input"]["std"][0], doc["heatmap_stride"]
    count = len(doc["keypoints"])
    first = "Kotlin (Android)" if target == "android" else "Swift (iOS)"
    return f"""# {doc["name"]} for {target}

Made by edgepose {__version__}. Both models carry their metadata (TensorFlow Lite metadata, plus an
`edgepose.pose` entry with keypoints, skeleton and heatmap stride); each `.json` beside them holds the same.

| file | runs on |
| --- | --- |
| `{float16}` | the GPU delegate (Android `GpuDelegate`, iOS `MetalDelegate`): float16 weights, float input |
| `{int8}` | the CPU with XNNPACK, NNAPI or Core ML: int8 weights and activations |

**Input**: one {doc["input"]["color"].upper()} image, {width}x{height}, NHWC, pixels 0-255 normalized as
`(pixel - {mean:g}) / {std:g}`; the int8 model then quantizes it with its input's scale and zero point
(`q = round(x / scale) + zero_point`), which the sidecar lists.

**Output**: {count} heatmaps of {height // stride}x{width // stride}, one channel per keypoint
({", ".join(doc["keypoints"])}). A keypoint is at its channel's peak: `x = (column + 0.5) * {stride} - 0.5`,
`y = (row + 0.5) * {stride} - 0.5` in input pixels; its confidence is the peak's value.

The examples below ({first} first in this package) run the float16 model on the GPU and decode.

## Kotlin (Android, `org.tensorflow:tensorflow-lite` and `tensorflow-lite-gpu`)

```kotlin
val options = Interpreter.Options().addDelegate(GpuDelegate())
val interpreter = Interpreter(FileUtil.loadMappedFile(context, "{float16}"), options)
val input = ByteBuffer.allocateDirect(4 * {height} * {width} * 3).order(ByteOrder.nativeOrder())
for (y in 0 until {height}) for (x in 0 until {width}) {{
    val p = bitmap.getPixel(x, y)  // a {width}x{height} crop around the person
    for (c in intArrayOf((p shr 16) and 255, (p shr 8) and 255, p and 255)) input.putFloat((c - {mean:g}f) / {std:g}f)
}}
val heatmaps = Array(1) {{ Array({height // stride}) {{ Array({width // stride}) {{ FloatArray({count}) }} }} }}
interpreter.run(input, heatmaps)
val keypoints = (0 until {count}).map {{ k ->
    var best = -Float.MAX_VALUE; var row = 0; var col = 0
    for (r in 0 until {height // stride}) for (c in 0 until {width // stride})
        if (heatmaps[0][r][c][k] > best) {{ best = heatmaps[0][r][c][k]; row = r; col = c }}
    Triple((col + 0.5f) * {stride} - 0.5f, (row + 0.5f) * {stride} - 0.5f, best)
}}
```

## Swift (iOS, `TensorFlowLiteSwift` with its `Metal` subspec)

```swift
let interpreter = try Interpreter(modelPath: Bundle.main.path(forResource: "{Path(float16).stem}", ofType: "tflite")!,
                                  delegates: [MetalDelegate()])
try interpreter.allocateTensors()
var input = [Float](); input.reserveCapacity({height} * {width} * 3)
for (r, g, b) in rgbPixels {{  // {width}x{height} pixels of a crop around the person, row by row
    input += [(Float(r) - {mean:g}) / {std:g}, (Float(g) - {mean:g}) / {std:g}, (Float(b) - {mean:g}) / {std:g}]
}}
try interpreter.copy(input.withUnsafeBufferPointer {{ Data(buffer: $0) }}, toInputAt: 0)
try interpreter.invoke()
let heatmaps = try interpreter.output(at: 0).data.withUnsafeBytes {{ Array($0.bindMemory(to: Float.self)) }}
let (rows, cols) = ({height // stride}, {width // stride})
let keypoints = (0..<{count}).map {{ k -> (x: Float, y: Float, confidence: Float) in
    var best = -Float.greatestFiniteMagnitude, at = 0
    for i in 0..<(rows * cols) where heatmaps[i * {count} + k] > best {{ best = heatmaps[i * {count} + k]; at = i }}
    let (row, col) = (Float(at / cols), Float(at % cols))
    return ((col + 0.5) * {stride} - 0.5, (row + 0.5) * {stride} - 0.5, best)
}}
```
"""
