"""Run directories: where every verb writes, with a manifest that says what went in and what came out.

A run directory is ``<runs_dir>/<verb>-<YYYYmmdd-HHMMSS>`` or the ``--out`` folder the user names. It holds
the resolved ``config.yaml`` and ``manifest.json``: the edgepose version, the command line, the machine,
each input with its sha256, the resolved config, and each output with its size and sha256. The manifest
says ``"status": "running"`` until the run ends and ``"complete"`` or ``"failed"`` after, so a run that was
killed is recognisable as such; every file in it is written atomically (see ``edgepose.atomic``).
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from edgepose import __version__, atomic, native_log
from edgepose.errors import RunError
from edgepose.hashing import sha256_path
from edgepose.machine import machine_info

if TYPE_CHECKING:
    from edgepose.config import Config

MANIFEST = "manifest.json"
CONFIG = "config.yaml"
MANIFEST_SCHEMA = "edgepose.manifest/1"


def _now() -> datetime:
    return datetime.now(UTC).astimezone()


class Run:
    """One run directory. Use as a context manager: leaving it normally marks the run complete, leaving
    it through an exception marks it failed with the error, and both rewrite the manifest."""

    def __init__(self, path: Path, verb: str, config: Config | None = None) -> None:
        self.path = Path(path)
        self.verb = verb
        self.config = config
        self.started = _now()
        self.inputs: list[dict[str, Any]] = []
        self.outputs: list[Path] = []
        self.status = "running"
        self.error: str | None = None
        self.tracker = None  # an MLflow run while the run is open, when general.mlflow_uri is set

    # ----------------------------------------------------------------------------------------- creation

    @classmethod
    def create(
        cls, verb: str, out: Path | None = None, runs_dir: Path = Path("runs"), config: Config | None = None
    ) -> Run:
        """Make the folder (refusing one that already holds files) and write the first manifest."""
        path = Path(out) if out is not None else _fresh_dir(Path(runs_dir), verb)
        if out is not None:
            _check_empty(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"{path}: cannot create the run directory: {exc.strerror}") from None
        run = cls(path, verb, config)
        if config is not None:
            from edgepose.config import dump_config

            run.write_text(CONFIG, dump_config(config))
        native_log.attach(path)  # the libraries' log lines, if diverted, continue in <run>/edgepose.log
        run.write_manifest()
        return run

    @classmethod
    def reopen(cls, path: Path, verb: str, config: Config | None = None) -> Run:
        """Continue an existing run directory (``--resume``): its listed outputs stay listed."""
        path = Path(path)
        run = cls(path, verb, config)
        try:
            previous = json.loads((path / MANIFEST).read_text())
            run.outputs = [path / entry["path"] for entry in previous.get("outputs", [])]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a manifest lost to the interruption: outputs are listed again as they are written
        if config is not None:  # the settings it continues with (e.g. more epochs)
            from edgepose.config import dump_config

            run.write_text(CONFIG, dump_config(config))
        native_log.attach(path)
        run.write_manifest()
        return run

    # ----------------------------------------------------------------------------------------- recording

    def add_input(self, path: Path, role: str, **details: Any) -> None:
        """Record an input file or folder with its sha256 (e.g. role ``model``, ``dataset``), and what was
        decided about it (``normalization``, and where that came from)."""
        path = Path(path).resolve()
        self.inputs.append({"role": role, "path": str(path), "sha256": sha256_path(path), **details})

    def add_dataset(self, path: Path, role: str) -> None:
        """Record a dataset with its format and the sha256 of its labels: a COCO file's, or a YOLO folder's
        ``.txt`` files (their names and contents: the images themselves may be gigabytes)."""
        import hashlib

        from edgepose.data.paths import detect

        kind, found = detect(path)
        if kind == "coco":
            digest = sha256_path(found)
        else:
            hasher = hashlib.sha256()
            for label in sorted(found.rglob("*.txt")):
                hasher.update(f"{label.relative_to(found).as_posix()}\0{sha256_path(label)}\n".encode())
            digest = hasher.hexdigest()
        entry = {"role": role, "path": str(Path(found).resolve()), "format": kind, "sha256": digest}
        if all(e != entry for e in self.inputs):
            self.inputs.append({**entry, "sha256_of": "the COCO file" if kind == "coco" else "the label files"})

    def file(self, name: str) -> Path:
        """The path of an output inside the run directory; it is listed in the manifest once it exists."""
        target = self.path / name
        if target not in self.outputs:
            self.outputs.append(target)
        return target

    def write_text(self, name: str, text: str) -> Path:
        return atomic.write_text(self.file(name), text)

    def write_json(self, name: str, data: Any) -> Path:
        return atomic.write_json(self.file(name), data)

    def write_bytes(self, name: str, data: bytes) -> Path:
        return atomic.write_bytes(self.file(name), data)

    # ----------------------------------------------------------------------------------------- manifest

    def manifest(self) -> dict[str, Any]:
        finished = None if self.status == "running" else _now()
        outputs = [
            {"path": p.relative_to(self.path).as_posix(), "bytes": _size(p), "sha256": sha256_path(p)}
            for p in self.outputs
            if p.exists() and p.name != MANIFEST
        ]
        return {
            "schema": MANIFEST_SCHEMA,
            "verb": self.verb,
            "status": self.status,
            "error": self.error,
            "edgepose_version": __version__,
            "command": sys.argv,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds") if finished else None,
            "duration_s": round((finished - self.started).total_seconds(), 3) if finished else None,
            "machine": machine_info(),
            "inputs": self.inputs,
            "config": self.config.model_dump(mode="json") if self.config is not None else None,
            "outputs": outputs,
        }

    def write_manifest(self) -> None:
        atomic.write_json(self.path / MANIFEST, self.manifest())

    def finish(self, status: str = "complete", error: str | None = None) -> None:
        """Record how the run ended; ``config.yaml`` is written again, with what the run settled from the
        data (the keypoint count, the dataset's format), so that it says what actually ran."""
        self.status, self.error = status, error
        if self.config is not None:
            from edgepose.config import dump_config

            atomic.write_text(self.path / CONFIG, dump_config(self.config))
        self.write_manifest()

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Numbers worth comparing across runs: into MLflow when tracking is on, else nowhere."""
        if self.tracker is not None:
            self.tracker.log_metrics(metrics, step)

    def __enter__(self) -> Run:
        from edgepose import tracking

        self.tracker = tracking.start(
            self.config, f"{self.verb}-{self.path.name}", self.verb, {"edgepose.run_dir": str(self.path)}
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.finish("complete")
        else:
            self.finish("failed", f"{kind.__name__}: {exc}" if kind else str(exc))
        if self.tracker is not None:
            files = [self.path / CONFIG, self.path / MANIFEST, *self.outputs]
            self.tracker.log_files(dict.fromkeys(files), self.path)
            self.tracker.finish(exc is None)
            self.tracker = None


def _fresh_dir(runs_dir: Path, verb: str) -> Path:
    stamp = _now().strftime("%Y%m%d-%H%M%S")
    candidate = runs_dir / f"{verb}-{stamp}"
    suffix = 2
    while candidate.exists():
        candidate = runs_dir / f"{verb}-{stamp}-{suffix}"
        suffix += 1
    return candidate


def _check_empty(path: Path) -> None:
    """An ``--out`` folder must be new or empty; one that holds a failed run is cleared for the retry."""
    if path.exists() and not path.is_dir():
        raise RunError(f"--out {path}: exists and is not a folder")
    if not path.is_dir() or not any(path.iterdir()):
        return
    if _status(path) == "failed":
        from edgepose import console

        console.err.print(f"replacing the failed run in {path}", soft_wrap=True)
        shutil.rmtree(path)
        return
    held = " (it holds a run: manifest.json)" if (path / MANIFEST).exists() else ""
    raise RunError(f"--out {path}: folder is not empty{held}; choose a new folder so nothing is overwritten")


def _status(path: Path) -> str | None:
    try:
        return json.loads((path / MANIFEST).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
