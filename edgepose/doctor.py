"""``edgepose doctor``: which Python packages and system toolchains are here, and what each one enables.

Python packages come from edgepose's own installed requirements (pyproject.toml is the single source of
truth) and are required. System toolchains are optional: each enables one part of the chain, and the
report says which and how to install it. Only a missing or too-old required piece makes doctor fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PACKAGE_USES = {
    "tensorflow": "training, Keras models, TFLite conversion and PTQ",
    "onnx": "reading and writing ONNX graphs",
    "onnxruntime": "ONNX inference, static quantization and graph optimization",
    "tf2onnx": "Keras/SavedModel/TFLite to ONNX export",
    "numpy": "arrays everywhere",
    "pyserial": "serial, socket:// and rfc2217:// links to boards",
    "typer": "the command line",
    "rich": "tables and progress bars in the terminal",
    "opencv-python-headless": "image decoding, augmentation and drawing",
    "ai-edge-litert": "the TFLite interpreter (LiteRT) for float and int8 models",
    "tflite-micro": "the reference MCU interpreter: bit-exactness and arena sizes",
    "pycocotools": "COCO keypoint AP/AR",
    "pyyaml": "configs and board definitions",
    "pydantic": "config and board validation",
    "matplotlib": "plots in reports",
    "pillow": "image sizes from file headers when loading datasets",
    "packaging": "version checks",
}


@dataclass(frozen=True)
class Tool:
    command: str
    version_args: tuple[str, ...]
    enables: str
    install: str
    pattern: str | None = None  # regex whose first group is the version, where the generic rule fails


TOOLS = (
    Tool(
        "arm-none-eabi-gcc",
        ("--version",),
        "compiling C for Cortex-M boards (compile)",
        "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
    ),
    Tool(
        "qemu-system-arm",
        ("--version",),
        "emulated boards qemu-m4/m7/m55 (benchmark)",
        "apt-get install qemu-system-arm",
    ),
    Tool("gdb-multiarch", ("--version",), "flashing through any GDB server (flash)", "apt-get install gdb-multiarch"),
    Tool("openocd", ("--version",), "flashing ST-LINK boards with OpenOCD (flash)", "apt-get install openocd"),
    Tool("pyocd", ("--version",), "flashing with pyOCD (flash)", "pip install pyocd"),
    Tool(
        "STM32_Programmer_CLI",
        ("--version",),
        "flashing with STM32CubeProgrammer (flash)",
        "install STM32CubeProgrammer from st.com",
    ),
    Tool("stm32loader", ("--version",), "flashing over the UART bootloader (flash)", "pip install stm32loader"),
    Tool("adb", ("version",), "Android phones (deploy, benchmark)", "apt-get install adb"),
    Tool(
        "ssh",
        ("-V",),
        "Raspberry Pi and Linux boards (deploy, benchmark)",
        "apt-get install openssh-client",
        pattern=r"OpenSSH_([\w.]+)",
    ),
)


@dataclass
class Check:
    name: str
    kind: str  # "python", "package" or "toolchain"
    required: bool
    version: str | None
    wanted: str
    enables: str
    install: str

    @property
    def status(self) -> str:
        """ok, missing, or too old (the installed version does not satisfy ``wanted``)."""
        if self.version is None:
            return "missing"
        if self.wanted and not _satisfies(self.version, self.wanted):
            return "too old"
        return "ok"

    @property
    def failed(self) -> bool:
        return self.required and self.status != "ok"

    def as_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


def _satisfies(version: str, wanted: str) -> bool:
    from packaging.specifiers import SpecifierSet

    try:
        return SpecifierSet(wanted).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # a version we cannot parse is still an installed one


def python_check() -> Check:
    wanted = metadata.metadata("edgepose").get("Requires-Python", "") if _installed("edgepose") else ">=3.11"
    here = ".".join(map(str, sys.version_info[:3]))
    return Check("python", "python", True, here, wanted, "everything", "a Python >= 3.11 interpreter")


def package_checks(requirements: list[str] | None = None) -> list[Check]:
    """One check per requirement (default: edgepose's own, without extras)."""
    if requirements is None:
        requirements = [r for r in (metadata.requires("edgepose") or []) if "extra ==" not in r]
    checks = []
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        version = metadata.version(req.name) if _installed(req.name) else None
        uses = PACKAGE_USES.get(name, "")
        checks.append(Check(name, "package", True, version, str(req.specifier), uses, f"pip install '{text}'"))
    return checks


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def tool_version(tool: Tool) -> str | None:
    """The version a tool prints, ``None`` if it is not on PATH; ``"?"`` if it prints nothing we can read."""
    path = shutil.which(tool.command)
    if path is None:
        return None
    try:
        done = subprocess.run([path, *tool.version_args], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout + done.stderr).strip()
    return parse_version(text, tool.pattern) or "?"


def parse_version(text: str, pattern: str | None = None) -> str | None:
    """The version in a tool's ``--version`` output: after the word 'version' if present, else the last
    dotted number on the first line (gcc prints ``arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205``)."""
    if pattern:
        match = re.search(pattern, text)
        return match.group(1) if match else None
    first = text.splitlines()[0] if text else ""
    after = re.split(r"(?i)\bversion\b:?", first, maxsplit=1)
    numbers = re.findall(r"\d+\.\d+(?:\.\d+)*", after[1] if len(after) > 1 else first)
    if not numbers:
        return None
    return numbers[0] if len(after) > 1 else numbers[-1]


def tool_checks(tools: tuple[Tool, ...] = TOOLS) -> list[Check]:
    return [Check(t.command, "toolchain", False, tool_version(t), "", t.enables, t.install) for t in tools]


def run_checks() -> list[Check]:
    return [python_check(), *package_checks(), *tool_checks()]
