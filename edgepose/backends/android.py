"""The ``android`` target: a phone reached with adb and measured with TensorFlow Lite's ``benchmark_model``.

Phones are not run through the edgepose agent: ``benchmark_model`` is what mobile teams already trust, it
drives every delegate (XNNPACK, GPU, NNAPI) and prints per-op profiles, so edgepose pushes the model (and the
tool, when the user gives a binary), waits until the phone is cool, runs the tool over ``adb shell`` and
reads what it prints into the common report (``edgepose.bench.benchmark_model``). Everything goes through
the ``adb`` program on PATH, so the user's adb server, keys and device authorizations apply.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgepose.boards import Board
from edgepose.errors import BoardError, DeviceError

DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi")
# benchmark_model's flags per delegate; "cpu" is TFLite's own kernels (XNNPACK explicitly off)
DELEGATE_FLAGS = {
    "cpu": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
ELF_MACHINES = {3: "x86", 40: "armeabi-v7a", 62: "x86_64", 183: "arm64-v8a"}  # e_machine -> Android ABI
CPU_ZONE_WORDS = ("cpu", "soc", "cluster", "tsens", "big", "little", "mid")
# one line per zone: "<type> <temperature>"
THERMAL_ZONES = (
    'for z in /sys/class/thermal/thermal_zone*; do echo "$(cat $z/type 2>/dev/null) $(cat $z/temp 2>/dev/null)"; done'
)
PROPERTIES = {
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "soc": "ro.soc.model",
    "abi": "ro.product.cpu.abi",
    "android": "ro.build.version.release",
}


@dataclass
class PhoneRun:
    """What the user asked for, from the CLI's flags or a pipeline's targets entry."""

    model: Path
    serial: str | None = None  # None: the one device attached
    benchmark_model: str | None = None  # a binary here to push, or a path on the phone; None: the board's
    delegate: str = "xnnpack"
    threads: int = 1
    warmup: int = 10
    runs: int = 100
    profile: bool = False
    min_time_s: float = 0.0  # keep timing at least this long (the tool's own default is 1 s)


class Adb:
    """The ``adb`` program, for one device once ``serial`` is known."""

    def __init__(self, program: str = "adb", serial: str | None = None, timeout_s: float = 900.0) -> None:
        found = shutil.which(program)
        if found is None:
            raise BoardError(
                f"'{program}' not found on PATH: install Android's platform-tools (e.g. `apt install adb`) or put "
                "adb on PATH"
            )
        self.program, self.serial, self.timeout_s = found, serial, timeout_s

    def run(self, *args: str) -> str:
        """adb's standard output; a failure is an error with the last line adb said."""
        done = self._call(args)
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise DeviceError(f"adb {args[0]} on {self.serial}: {said[-1] if said else f'exit {done.returncode}'}")
        return done.stdout

    def output(self, command: str) -> str:
        """Everything a shell command printed, standard error too (where benchmark_model logs), whatever
        its exit code: what it said is read, not how it ended."""
        done = self._call(("shell", command))
        return done.stdout + done.stderr

    def _call(self, args: tuple[str, ...]) -> subprocess.CompletedProcess:
        command = [self.program, *(["-s", self.serial] if self.serial else []), *args]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"adb {args[0]} on {self.serial}: no answer in {self.timeout_s:g} s") from None

    def shell(self, command: str) -> str:
        return self.run("shell", command)

    def pick_device(self, wanted: str | None) -> str:
        """The device to use: ``wanted``, or the only one attached; one line for every way that fails."""
        states = _devices(self.run("devices"))
        if wanted is not None and wanted not in states:
            listed = ", ".join(states) or "none"
            raise DeviceError(f"no Android device '{wanted}' attached (adb devices lists: {listed})")
        if wanted is None:
            if not states:
                raise DeviceError(
                    "no Android device attached (adb devices lists none): connect a phone with USB debugging on"
                )
            if len(states) > 1:
                raise DeviceError(f"several Android devices attached ({', '.join(states)}): pick one with --device")
            wanted = next(iter(states))
        state = states[wanted]
        if state == "unauthorized":
            raise DeviceError(f"Android device {wanted} is unauthorized: unlock it and accept the USB debugging prompt")
        if state != "device":
            raise DeviceError(f"Android device {wanted} is {state}: reconnect it (adb reconnect) and try again")
        self.serial = wanted
        return wanted


def _devices(listing: str) -> dict[str, str]:
    """``adb devices``: serial -> state (device, unauthorized, offline ...)."""
    states = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            states[parts[0]] = parts[1]
    return states


def properties(adb: Adb) -> dict[str, str]:
    """The phone's model, maker, SoC, ABI and Android version (empty where it does not say)."""
    return {key: adb.shell(f"getprop {name}").strip() for key, name in PROPERTIES.items()}


def thermal_zones(adb: Adb) -> dict[str, float]:
    """Each thermal zone's temperature in °C (``/sys/class/thermal``), by its type."""
    listing = adb.shell(THERMAL_ZONES)
    zones = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            value = int(parts[1])
            celsius = value / 1000.0 if abs(value) >= 1000 else float(value)  # most kernels: millidegrees
            if -40.0 < celsius < 150.0:  # a zone that reads nonsense (a disabled sensor) is left out
                zones[parts[0]] = max(celsius, zones.get(parts[0], celsius))
    return zones


def hottest(zones: dict[str, float]) -> tuple[str, float] | None:
    """The hottest CPU zone (where the throttling happens), or the hottest zone when none says CPU."""
    cpu = {name: t for name, t in zones.items() if any(word in name.lower() for word in CPU_ZONE_WORDS)}
    pool = cpu or zones
    return max(pool.items(), key=lambda item: item[1]) if pool else None


def wait_until_cool(
    adb: Adb, limit_c: float, timeout_s: float, poll_s: float, progress: Callable[[str], None] | None = None
) -> dict[str, float]:
    """Read the thermal zones until the hottest CPU zone is at most ``limit_c``; returns the last reading.
    A phone that does not cool within ``timeout_s`` is an error (its numbers would be a throttled core's)."""
    started = time.monotonic()
    while True:
        zones = thermal_zones(adb)
        hot = hottest(zones)
        if hot is None or hot[1] <= limit_c:
            return zones
        waited = time.monotonic() - started
        if waited >= timeout_s:
            raise DeviceError(
                f"Android device {adb.serial} is still at {hot[1]:.1f} °C ({hot[0]}) after {waited:.0f} s of "
                f"cooling: let it cool, or raise android.max_temp_c ({limit_c:g} °C)"
            )
        if progress:
            progress(f"{adb.serial} at {hot[1]:.1f} °C ({hot[0]}): waiting to cool to {limit_c:g} °C")
        time.sleep(poll_s)  # a phone cools in tens of seconds: read again after a pause, not in a busy loop


def benchmark(
    board: Board, run: PhoneRun, progress: Callable[[str], None] | None = None, adb: Adb | None = None
) -> dict:
    """Measure ``run.model`` on the phone: push, cool, run benchmark_model, read its output. Returns the
    report (nothing written)."""
    from edgepose.bench.benchmark_model import parse, report_from_log

    if run.delegate not in DELEGATES:
        raise BoardError(f"delegate '{run.delegate}': one of {', '.join(DELEGATES)}")
    adb = adb or Adb()
    serial = adb.pick_device(run.serial)
    phone = properties(adb)
    settings = board.android
    adb.shell(f"mkdir -p {shlex.quote(settings.workdir)}")
    tool = _benchmark_model(adb, settings.workdir, run.benchmark_model or settings.benchmark_model, phone["abi"])
    graph = f"{settings.workdir}/{run.model.name}"
    adb.run("push", str(run.model), graph)
    zones = wait_until_cool(adb, settings.max_temp_c, settings.cool_timeout_s, settings.cool_poll_s, progress)
    if progress:
        progress(f"running benchmark_model on {serial} ({run.delegate}, {run.threads} thread(s))")
    output = adb.output(shlex.join([tool, *benchmark_flags(graph, run)]))
    _check_ran(output, tool, serial, phone["abi"])
    log = parse(output, f"benchmark_model on {serial}")
    target = {
        "name": board.name, "backend": "android", "description": board.description, "link": f"adb -s {serial}",
        "board": " ".join(p for p in (phone["manufacturer"], phone["model"]) if p) or serial,
        "cpu": {"abi": phone["abi"], "soc": phone["soc"] or None, "android": phone["android"]},
    }  # fmt: skip
    report = report_from_log(log, target, run.model, {"delegate": run.delegate, "threads": run.threads})
    report["device_info"] |= {"serial": serial, "properties": phone, "thermal_c": zones}
    return report


def deploy(board: Board, model: Path, serial: str | None = None, adb: Adb | None = None) -> str:
    """Push ``model`` into the phone's work folder (where an app or a later benchmark finds it)."""
    adb = adb or Adb()
    serial = adb.pick_device(serial)
    workdir = board.android.workdir
    adb.shell(f"mkdir -p {shlex.quote(workdir)}")
    adb.run("push", str(model), f"{workdir}/{model.name}")
    return f"{board.name}: {model.name} pushed to {serial}:{workdir}"


def benchmark_flags(graph: str, run: PhoneRun) -> list[str]:
    flags = [
        f"--graph={graph}", f"--num_threads={run.threads}", f"--warmup_runs={run.warmup}", f"--num_runs={run.runs}",
        f"--min_secs={run.min_time_s:g}",
        "--report_peak_memory_footprint=true", *DELEGATE_FLAGS[run.delegate],
    ]  # fmt: skip
    return flags + (["--enable_op_profiling=true"] if run.profile else [])


def _benchmark_model(adb: Adb, workdir: str, given: str | None, abi: str) -> str:
    """benchmark_model's path on the phone: a binary given here is checked against the phone's ABI and
    pushed; a path on the phone (or the default one) must exist there."""
    if given and Path(given).is_file():
        machine = elf_abi(Path(given))
        if abi and machine != abi:
            raise BoardError(
                f"{given} is built for {machine or 'no Android ABI'}, the phone runs {abi}: use the benchmark_model "
                f"built for {abi} (TensorFlow's android_{'aarch64' if abi == 'arm64-v8a' else 'arm'} build)"
            )
        remote = f"{workdir}/benchmark_model"
        adb.run("push", given, remote)
        adb.shell(f"chmod 755 {shlex.quote(remote)}")
        return remote
    remote = given or f"{workdir}/benchmark_model"
    if adb.shell(f"[ -x {shlex.quote(remote)} ] && echo yes || echo no").strip() != "yes":
        raise BoardError(
            f"no benchmark_model at {remote} on {adb.serial}: give --benchmark-model with TensorFlow Lite's "
            f"benchmark_model for {abi or 'the phone'} (a file here is pushed)"
        )
    return remote


def elf_abi(path: Path) -> str | None:
    """The Android ABI an ELF executable is built for, from its header; None for anything else."""
    header = path.read_bytes()[:20]
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return ELF_MACHINES.get(machine)


def _check_ran(output: str, tool: str, serial: str, abi: str) -> None:
    """A binary the phone cannot execute says so in the shell's words, not benchmark_model's."""
    lowered = output.lower()
    if "exec format error" in lowered or "not executable" in lowered or "bad elf" in lowered:
        raise BoardError(f"{tool} on {serial} is not a {abi} program: push the benchmark_model built for {abi}")
    if "starting!" not in lowered and "inference timings" not in lowered:
        said = output.strip().splitlines()
        raise BoardError(f"{tool} on {serial} did not start: {said[-1] if said else 'it printed nothing'}")
