"""The installed console script, run as a user runs it: help, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
import typer
import yaml

from edgepose import __version__
from edgepose.cli import app


def _command_paths(command, prefix=()):
    """Every verb and sub-verb of the CLI, e.g. ('targets', 'list')."""
    for name, sub in getattr(command, "commands", {}).items():
        yield (*prefix, name)
        yield from _command_paths(sub, (*prefix, name))


VERBS = sorted(_command_paths(typer.main.get_command(app)))


def test_help_lists_the_verb_groups(edgepose):
    done = edgepose("--help")
    assert done.returncode == 0
    for verb in ("doctor", "demo", "targets", "config"):
        assert verb in done.stdout


def test_no_arguments_shows_help(edgepose):
    done = edgepose()
    assert "Usage" in done.stdout + done.stderr


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help(edgepose, verb):
    done = edgepose(*verb, "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    assert " ".join(verb) in done.stdout


def test_version(edgepose):
    done = edgepose("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"edgepose {__version__}"


def test_unknown_option_is_a_usage_error(edgepose):
    done = edgepose("targets", "list", "--no-such-flag")
    assert done.returncode == 2
    assert "--no-such-flag" in done.stderr


def test_doctor_reports_every_requirement_and_tool(edgepose):
    done = edgepose("doctor", "--json")
    assert done.returncode == 0, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    for package in ("tensorflow", "onnxruntime", "ai-edge-litert", "tflite-micro", "pycocotools", "pydantic"):
        assert checks[package]["status"] == "ok"
        assert checks[package]["required"] is True
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "gdb-multiarch", "openocd", "pyocd", "adb", "ssh"):
        assert checks[tool]["required"] is False
        assert checks[tool]["enables"]


def test_doctor_table(edgepose):
    done = edgepose("doctor")
    assert done.returncode == 0
    assert "tensorflow" in done.stdout and "STM32_Programmer_CLI" in done.stdout


def test_doctor_fails_when_a_required_piece_is_missing(monkeypatch, capsys):
    from edgepose.cli import doctor_cmd, main
    from edgepose.doctor import package_checks

    monkeypatch.setattr(doctor_cmd, "run_checks", lambda: package_checks(["no-such-package-edgepose>=1"]))
    assert main(["doctor"]) == 1
    assert "no-such-package-edgepose" in capsys.readouterr().err


def test_targets_list(edgepose):
    done = edgepose("targets", "list", "--json")
    assert done.returncode == 0
    names = {b["name"] for b in json.loads(done.stdout)}
    assert {"host", "rpi5", "qemu-m7", "qemu-m55", "qemu-m4", "nucleo-h743zi2", "stm32n6570-dk"} <= names
    table = edgepose("targets", "list")
    assert "qemu-m7" in table.stdout and "cortex-m55" in table.stdout


def test_targets_list_filters_by_backend(edgepose):
    done = edgepose("targets", "list", "--backend", "qemu", "--json")
    assert {b["backend"] for b in json.loads(done.stdout)} == {"qemu"}


def test_targets_show(edgepose):
    done = edgepose("targets", "show", "qemu-m7")
    assert done.returncode == 0
    assert "mps2-an500" in done.stdout and "0x40004000" in done.stdout


def test_targets_show_unknown_board_is_one_line_exit_2(edgepose):
    done = edgepose("targets", "show", "qemu-m5")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "unknown board 'qemu-m5'" in done.stderr and "did you mean 'qemu-m55'" in done.stderr


def test_config_show_defaults_round_trip(edgepose, tmp_path):
    done = edgepose("config", "show")
    assert done.returncode == 0, done.stderr
    (tmp_path / "resolved.yaml").write_text(done.stdout)
    again = edgepose("config", "show", "-c", "resolved.yaml")
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(again.stdout) == yaml.safe_load(done.stdout)


def test_config_show_applies_overrides(edgepose):
    done = edgepose("config", "show", "training.epochs=3", "targets=[host, qemu-m7]")
    resolved = yaml.safe_load(done.stdout)
    assert resolved["training"]["epochs"] == 3
    assert [t["board"] for t in resolved["targets"]] == ["host", "qemu-m7"]


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("training:\n  epochz: 3\n", [], "cfg.yaml:2: training.epochz: unknown key; did you mean 'epochs'?"),
        ("training:\n  epochs: many\n", [], "cfg.yaml:2: training.epochs: input should be a valid integer"),
        ("dataset:\n  test_path: missing.json\n", [], "cfg.yaml:2: dataset.test_path: no such file or folder"),
        ("", ["training.epochs=-1"], "override 'training.epochs=-1': training.epochs: input should be greater"),
        ("training: [1\n", [], "cfg.yaml:2:1: YAML syntax error"),
        (
            "model:\n  name: tiny\n  input_size: [1, 2]\n",
            [],
            "cfg.yaml:3: model.input_size: 1x2 is not a size tiny takes: height and width must be multiples of 32",
        ),
        ("", ["model.input_size=100"], "override 'model.input_size=100': model.input_size: 100x100 is not a size"),
        ("model:\n  name: tinny\n", [], "cfg.yaml:2: model.name: unknown model 'tinny': did you mean 'tiny'?"),
    ],
)
def test_bad_config_is_one_line_exit_2(edgepose, tmp_path, text, overrides, expected):
    (tmp_path / "cfg.yaml").write_text(text)
    done = edgepose("config", "show", "-c", "cfg.yaml", *overrides)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {expected}")


def test_config_schema_is_json_schema(edgepose):
    schema = json.loads(edgepose("config", "schema").stdout)
    assert set(schema["properties"]) >= {"general", "dataset", "training", "quantization", "targets", "benchmark"}


def test_demo_refuses_to_overwrite_a_run(edgepose, tmp_path):
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "manifest.json").write_text("{}")
    done = edgepose("demo", "--out", "run1")
    assert done.returncode == 2
    assert "run1: folder is not empty (it holds a run" in done.stderr
    assert (tmp_path / "run1" / "manifest.json").read_text() == "{}"
