"""``edgepose predict``: a model on the user's own pictures and videos.

Each frame is cropped exactly as evaluation crops a person — around the person's box when one is given,
else the whole frame letterboxed — run through any runner (``.keras``, ``.tflite``, ``.onnx``), decoded
and mapped back to frame pixels. Results are COCO keypoint results (``predictions.json``, one entry per
frame, with ``file_name`` and ``frame`` beside the COCO keys), images with the skeleton and confidences
drawn, and for a video an annotated video plus its per-frame keypoints. With a device, the same raw input
tensor goes to the board too, and a frame whose device output differs from the host's is marked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from edgepose.data import heatmaps
from edgepose.data.pipeline import PipelineSpec
from edgepose.errors import DataError, ModelError
from edgepose.evaluate.loop import source_keypoints, spec_for
from edgepose.runs import Run
from edgepose.runtime.runner import Runner

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
DIFFERS = (230, 30, 30)  # RGB: the banner on a frame whose device output differs


# ---------------------------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per input that cannot be read

    def frame_count(self) -> int:
        return len(self.images) + sum(_video_frames(v) for v in self.videos)


def gather(paths: list[Path]) -> Inputs:
    """Images and videos named directly or found in folders (not recursively), in name order."""
    found = Inputs()
    for path in map(Path, paths):
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not entries:
                found.problems.append(f"{path}: no images or videos in this folder")
            for entry in entries:
                _add(found, entry)
        elif not path.exists():
            found.problems.append(f"{path}: no such file or folder")
        else:
            _add(found, path)
    return found


def _add(found: Inputs, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        found.images.append(path)
    elif suffix in VIDEO_SUFFIXES:
        found.videos.append(path)
    else:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        found.problems.append(f"{path}: not an image or video file edgepose reads ({kinds})")


def _video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        capture.release()


def read_boxes(path: Path | None) -> dict[str, tuple[float, float, float, float]]:
    """``{"image.jpg": [x, y, w, h], ...}``: one person box per image or video, keyed by file name."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable JSON file of boxes ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f'{path}: expected an object {{"image.jpg": [x, y, w, h], ...}}')
    boxes = {}
    for name, box in data.items():
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            raise DataError(f"{path}: '{name}': a box is [x, y, width, height] in pixels, got {box!r}")
        if box[2] <= 0 or box[3] <= 0:
            raise DataError(f"{path}: '{name}': the box {box} has no area")
        boxes[name] = tuple(float(v) for v in box)
    return boxes


# ---------------------------------------------------------------------------------------------- one frame


@dataclass
class Person:
    keypoints: np.ndarray  # (K, 3): x, y in frame pixels, confidence in [0, 1]
    score: float  # mean keypoint confidence
    box: tuple[float, float, float, float]
    device: dict | None = None  # the on-device check of this frame, when a device ran it


class Predictor:
    """Crop → model input → heatmaps → keypoints in frame pixels, for one frame at a time."""

    def __init__(self, runner: Runner, spec: PipelineSpec, refine: heatmaps.Refine, padding: float) -> None:
        self.runner, self.refine, self.padding = runner, refine, padding
        self.spec = spec_for(runner, spec)
        self.skeleton = self.spec.skeleton

    def model_input(self, frame: np.ndarray, box: tuple | None) -> tuple[np.ndarray, np.ndarray, tuple]:
        """``(model input (H, W, C) float32, crop matrix, box used)``; no box: the whole frame, letterboxed."""
        import tensorflow as tf

        from edgepose.data import augment
        from edgepose.data.pipeline import to_model_input

        padding = self.padding if box is not None else 1.0
        box = box or (0.0, 0.0, float(frame.shape[1]), float(frame.shape[0]))
        matrix = augment.crop_matrix(tf.constant(box, tf.float32), self.spec.input_size, padding)
        crop = augment.warp(tf.constant(frame), matrix, self.spec.input_size, self.spec.interpolation)
        return np.asarray(to_model_input(crop, self.spec), np.float32), np.asarray(matrix), box

    def person(self, heatmap: np.ndarray, matrix: np.ndarray, box: tuple) -> Person:
        keypoints = source_keypoints(heatmap, matrix, self.spec.stride, self.refine)
        return Person(keypoints, float(keypoints[:, 2].mean()), box)

    def __call__(self, frame: np.ndarray, box: tuple | None) -> tuple[Person, np.ndarray]:
        inputs, matrix, used = self.model_input(frame, box)
        return self.person(self.runner.run(inputs[None])[0], matrix, used), inputs


# ---------------------------------------------------------------------------------------------- drawing


def annotate(frame: np.ndarray, person: Person, skeleton, threshold: float) -> np.ndarray:
    """The frame with the skeleton (confident points as dots, the others as rings) and the confidences."""
    from edgepose.draw import draw_skeleton

    points = person.keypoints.copy()
    points[:, 2] = np.where(points[:, 2] >= threshold, 2, 1)
    out = draw_skeleton(frame, points, skeleton)
    scale = max(frame.shape[:2]) / 640
    for (x, y, confidence), shown in zip(person.keypoints, points[:, 2], strict=True):
        if shown == 2:
            _text(out, f"{confidence:.2f}", (x + 4 * scale, y - 4 * scale), 0.35 * scale, (255, 255, 255))
    _text(out, f"score {person.score:.2f}", (6 * scale, 18 * scale), 0.5 * scale, (255, 255, 255))
    if person.device is not None and not person.device["identical"]:
        cv2.rectangle(out, (0, 0), (out.shape[1] - 1, out.shape[0] - 1), DIFFERS, max(2, round(4 * scale)))
        _text(out, f"DEVICE DIFFERS: {person.device['board']}", (6 * scale, 40 * scale), 0.5 * scale, DIFFERS)
    return out


def _text(image: np.ndarray, text: str, at: tuple[float, float], size: float, color) -> None:
    origin = (int(at[0]), int(at[1]))
    size = max(size, 0.3)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, color, 1, cv2.LINE_AA)


# ---------------------------------------------------------------------------------------------- files


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: OpenCV cannot decode this image (truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def video_frames(path: Path) -> tuple[float, Iterator[np.ndarray]]:
    """``(frames per second, RGB frames)``."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise DataError(f"{path}: OpenCV cannot open this video (unknown codec or not a video)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return fps, frames()


def encode_jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise DataError("OpenCV could not encode an annotated image")
    return data.tobytes()


class VideoOut:
    """An annotated video written under a temporary name and renamed when the last frame is in."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            size = (frame.shape[1], frame.shape[0])
            self.writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            if not self.writer.isOpened():
                raise DataError(f"{self.path}: OpenCV cannot write an mp4 video here")
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self, keep: bool) -> None:
        if self.writer is not None:
            self.writer.release()
        if keep and self.partial.exists():
            self.partial.replace(self.path)
        else:
            self.partial.unlink(missing_ok=True)


def coco_result(person: Person, image_id: int, file_name: str, frame: int | None) -> dict:
    """One COCO keypoint result (category 1, person), with where it came from."""
    result = {
        "image_id": image_id,
        "category_id": 1,
        "keypoints": [round(float(v), 3) for v in person.keypoints.reshape(-1)],
        "score": round(person.score, 4),
        "bbox": [round(v, 2) for v in person.box],
        "file_name": file_name,
    }
    if frame is not None:
        result["frame"] = frame
    if person.device is not None:
        result["device"] = person.device
    return result


# ---------------------------------------------------------------------------------------------- device


class DeviceCheck:
    """The same raw input tensor on a device (through the benchmark client) and in the host reference;
    a frame whose outputs are not identical (or outside the tolerance) is marked."""

    def __init__(self, client, model: Path, board: str, runtime: str | None, tolerance: float | None) -> None:
        from edgepose.runtime.tflite_io import tflite_io

        self.client, self.model, self.board, self.tolerance = client, Path(model), board, tolerance
        self.info = client.hello()
        self.runtime = runtime or self.info["runtime"]["name"]
        self.inputs, _ = tflite_io(self.model.read_bytes(), self.model)

    def __call__(self, model_input: np.ndarray) -> dict:
        from edgepose.bench import artifact

        raw = self.inputs[0].to_model(model_input[None]).tobytes()
        self.client.write_input(0, raw)
        self.client.infer(0, 1, self.client.timeout)
        device = [self.client.read_output(i) for i in range(len(self.info["outputs"]))]
        reference = artifact.reference_outputs(self.model, self.runtime, [raw])
        check = artifact.compare_outputs(device, reference, self.info["outputs"], self.tolerance)
        worst = max((o.get("max_abs_diff", float("inf")) for o in check["outputs"]), default=0.0)
        return {"board": self.board, "identical": check["passed"], "max_abs_diff": worst}


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    frames: int = 0
    images: int = 0
    videos: int = 0
    differing: list[str] = field(default_factory=list)  # frames whose device output differed
    problems: list[str] = field(default_factory=list)


def predict_all(
    predictor: Predictor,
    inputs: Inputs,
    boxes: dict,
    run: Run,
    threshold: float,
    device: DeviceCheck | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> tuple[list[dict], Outcome]:
    """Every frame of ``inputs`` into ``run``; bad files are recorded in ``Outcome.problems`` and the rest
    go on."""
    results: list[dict] = []
    outcome = Outcome(problems=list(inputs.problems))
    names = _unique_stems([*inputs.images, *inputs.videos])

    def one(frame: np.ndarray, box, file_name: str, index: int | None) -> np.ndarray:
        """The frame predicted, recorded and drawn."""
        person, model_input = predictor(frame, box)
        if device is not None:
            person.device = device(model_input)
            if not person.device["identical"]:
                outcome.differing.append(file_name if index is None else f"{file_name} frame {index}")
        results.append(coco_result(person, len(results), file_name, index))
        outcome.frames += 1
        progress(1)
        return annotate(frame, person, predictor.skeleton, threshold)

    for path in inputs.images:
        try:
            frame = read_image(path)
        except DataError as error:
            outcome.problems.append(str(error))
            progress(1)
            continue
        drawn = one(frame, _box_for(boxes, path), path.name, None)
        run.write_bytes(f"{names[path]}.jpg", encode_jpeg(drawn))
        outcome.images += 1
    for path in inputs.videos:
        try:
            fps, frames = video_frames(path)
        except DataError as error:
            outcome.problems.append(str(error))
            continue
        writer, track, ok = VideoOut(run.path / f"{names[path]}.mp4", fps), [], False
        try:
            for index, frame in enumerate(frames):
                drawn = one(frame, _box_for(boxes, path), path.name, index)
                writer.write(drawn)
                track.append({"frame": index, "keypoints": results[-1]["keypoints"], "score": results[-1]["score"]})
            ok = bool(track)
        finally:
            writer.close(keep=ok)
        if not track:
            outcome.problems.append(f"{path}: no frame could be read from this video")
            continue
        run.file(writer.path.name)
        keypoints = {"video": str(path), "fps": fps, "keypoints": list(predictor.skeleton.keypoints), "frames": track}
        run.write_json(f"{names[path]}.keypoints.json", keypoints)
        outcome.videos += 1
    return results, outcome


def predict_files(
    model: Path,
    paths: list[Path],
    config,
    run: Run,
    engine: str | None = None,
    device: DeviceCheck | None = None,
    on_total: Callable[[int], None] = lambda n: None,
    progress: Callable[[int], None] = lambda n: None,
) -> Outcome:
    """The whole of ``edgepose predict`` but the terminal: fed as the model's sidecar (or training run)
    says, cropped as ``config`` says, written into ``run``. ``on_total`` hears the frame count first."""
    from edgepose import console
    from edgepose.convert.metadata import assumption_note, resolve_normalization
    from edgepose.runtime import open_runner

    found = gather(paths)
    box_file = config.prediction.boxes
    boxes = read_boxes(box_file)
    with open_runner(model, engine, config.general.num_threads) as runner:
        if not runner.is_heatmap_model:
            raise ModelError(f"{model}: outputs {runner.output_shapes} are not heatmaps; predict needs a pose model")
        config.dataset.keypoints = runner.keypoints
        normalization, normalized_by = resolve_normalization(model, config)
        if normalized_by == "assumed":
            console.warn(assumption_note(model, normalization))
        spec = PipelineSpec.from_config(config, runner.input_shape[:2], augment_data=False)
        spec = replace(
            spec, scale=normalization.scale, offset=normalization.offset, color_mode=normalization.color_mode
        )
        predictor = Predictor(runner, spec, config.evaluation.refine, config.dataset.bbox_padding)
        total = found.frame_count()
        if not total:
            raise DataError(
                "no image or video to predict on in "
                + ", ".join(map(str, paths))
                + "".join(f"; {problem}" for problem in found.problems[:3])
            )
        on_total(total)
        run.add_input(model, "model", normalization=normalization.as_dict(), normalization_from=normalized_by)
        if box_file:
            run.add_input(box_file, "boxes")
        results, outcome = predict_all(
            predictor, found, boxes, run, config.prediction.confidence_threshold, device, progress
        )
    run.write_json("predictions.json", results)
    if outcome.problems:
        run.write_json("problems.json", outcome.problems)
    return outcome


def _box_for(boxes: dict, path: Path):
    return boxes.get(path.name) or boxes.get(str(path))


def _unique_stems(paths: list[Path]) -> dict[Path, str]:
    """An output name per input: its stem, numbered where two inputs share one."""
    names: dict[Path, str] = {}
    used: set[str] = set()
    for path in paths:
        stem, number = path.stem, 1
        while stem in used:
            number += 1
            stem = f"{path.stem}-{number}"
        used.add(stem)
        names[path] = stem
    return names
