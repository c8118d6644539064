"""doctor: version parsing of real tools' output, and required versus optional pieces."""

from __future__ import annotations

import os
import stat

import pytest

from edgepose.doctor import Tool, package_checks, parse_version, python_check, tool_checks


@pytest.mark.parametrize(
    ("output", "pattern", "version"),
    [
        ("arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205\nCopyright", None, "12.2.1"),
        ("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", None, "7.2.22"),
        ("GNU gdb (Debian 13.1-3) 13.1\nCopyright (C) 2023", None, "13.1"),
        ("Open On-Chip Debugger 0.12.0\nLicensed under GNU GPL v2", None, "0.12.0"),
        ("Android Debug Bridge version 1.0.41\nVersion 34.0.5-debian", None, "1.0.41"),
        ("      STM32CubeProgrammer version: 2.17.0", None, "2.17.0"),
        ("0.36.0", None, "0.36.0"),
        ("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026", r"OpenSSH_([\w.]+)", "9.2p1"),
        ("no digits here", None, None),
    ],
)
def test_parse_version(output, pattern, version):
    assert parse_version(output, pattern) == version


def test_python_is_required_and_satisfied():
    check = python_check()
    assert check.required and check.status == "ok"


def test_missing_and_too_old_packages_fail():
    missing, too_old, fine = package_checks(["no-such-package-edgepose>=1", "numpy>=999", "numpy>=1"])
    assert (missing.status, missing.failed) == ("missing", True)
    assert (too_old.status, too_old.failed) == ("too old", True)
    assert (fine.status, fine.failed) == ("ok", False)


def test_prerelease_versions_count():
    (check,) = package_checks(["tflite-micro>=0.dev20200101000000"])
    assert check.status == "ok"


def test_tools_are_found_on_path_and_never_required(tmp_path, monkeypatch):
    script = tmp_path / "fake-programmer"
    script.write_text("#!/bin/sh\necho 'Fake Programmer version 4.5.6' >&2\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    found, absent = tool_checks(
        (Tool("fake-programmer", ("--version",), "x", "y"), Tool("no-such-tool-edgepose", ("-V",), "x", "y"))
    )
    assert (found.version, found.status, found.failed) == ("4.5.6", "ok", False)
    assert (absent.version, absent.status, absent.failed) == (None, "missing", False)
