"""A STAND-IN for Android's ``adb``, for tests only: no phone can be attached to the machines tests run on.

Installed on PATH as ``adb`` by ``tests/test_android.py``. It records every call (one JSON list per line in
``$STANDIN_ADB_STATE/calls.jsonl``) and answers from ``$STANDIN_ADB_STATE/phone.json``, which describes the
phone: the devices ``adb devices`` lists, its properties, its thermal zones (a list of readings, one per
read, the last repeated), the files pushed to it (kept under ``$STANDIN_ADB_STATE/fs``) and the output a
real ``benchmark_model`` printed, replayed on standard error as the real tool logs. A pushed
``benchmark_model`` built for another ABI fails as Android's shell does.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ABI_MACHINES = {"arm64-v8a": 183, "armeabi-v7a": 40, "x86_64": 62, "x86": 3}


def main(argv: list[str]) -> int:
    state = Path(os.environ["STANDIN_ADB_STATE"])
    phone = json.loads((state / "phone.json").read_text())
    with (state / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps(argv) + "\n")
    serial = None
    if argv[:1] == ["-s"]:
        serial, argv = argv[1], argv[2:]
    if argv == ["devices"]:
        print("List of devices attached")
        for name, status in phone["devices"].items():
            print(f"{name}\t{status}")
        return 0
    if serial is None and len(phone["devices"]) != 1:
        print("adb: more than one device/emulator" if phone["devices"] else "adb: no devices/emulators found",
              file=sys.stderr)  # fmt: skip
        return 1
    fs = state / "fs"
    if argv[0] == "push":
        local, remote = Path(argv[1]), fs / argv[2].lstrip("/")
        remote.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, remote)
        print(f"{local}: 1 file pushed, 0 skipped.")
        return 0
    if argv[0] == "shell":
        return shell(" ".join(argv[1:]), phone, state, fs)
    print(f"adb: unknown command {argv[0]}", file=sys.stderr)
    return 1


def shell(command: str, phone: dict, state: Path, fs: Path) -> int:
    words = command.split()
    if words[0] == "getprop":
        print(phone["properties"].get(words[1], ""))
        return 0
    if command.startswith("for z in /sys/class/thermal/"):
        reads = state / "thermal_reads"
        count = int(reads.read_text()) if reads.exists() else 0
        reads.write_text(str(count + 1))
        readings = phone["thermal"]
        for zone, millidegrees in readings[min(count, len(readings) - 1)].items():
            print(f"{zone} {millidegrees}")
        return 0
    if words[:2] == ["mkdir", "-p"]:
        (fs / words[2].strip("'").lstrip("/")).mkdir(parents=True, exist_ok=True)
        return 0
    if words[0] == "chmod":
        os.chmod(fs / words[2].strip("'").lstrip("/"), 0o755)
        return 0
    if words[0] == "[" and words[1] == "-x":
        path = words[2].strip("'")
        there = path in phone.get("installed", []) or os.access(fs / path.lstrip("/"), os.X_OK)
        print("yes" if there else "no")
        return 0
    if words[0].endswith("benchmark_model"):
        return benchmark_model(words, phone, fs)
    print(f"/system/bin/sh: {words[0]}: inaccessible or not found", file=sys.stderr)
    return 127


def benchmark_model(words: list[str], phone: dict, fs: Path) -> int:
    tool = words[0]
    pushed = fs / tool.lstrip("/")
    if pushed.is_file():
        header = pushed.read_bytes()[:20]
        if int.from_bytes(header[18:20], "little") != ABI_MACHINES[phone["properties"]["ro.product.cpu.abi"]]:
            print(f"/system/bin/sh: {tool}: not executable: 64-bit ELF file", file=sys.stderr)
            return 126
    graph = next(w.split("=", 1)[1] for w in words if w.startswith("--graph="))
    if not (fs / graph.lstrip("/")).is_file():
        print(f"ERROR: Could not open '{graph}'.", file=sys.stderr)
        return 1
    sys.stderr.write(Path(phone["benchmark_output"]).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
