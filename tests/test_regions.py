"""Activations across RAM regions: where a board has a RAM faster than the rest (an H7's DTCM, an M55's
DTCM) and the arena does not fit there whole, the most-used buffers go to a second arena there. The split
plan is bit-exact with tflite-micro (``EP_POISON_DEAD`` builds, both arenas poisoned), and on an emulated
Cortex-M55 whose DTCM is made small the firmware links the fast arena into DTCM, the rest into ISRAM, and
the benchmark's outputs match byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from opmodels import int8_tflite, inverted_residuals
from test_codegen import assert_bit_exact

from edgepose.boards import find_board
from edgepose.codegen.graph import read_graph
from edgepose.codegen.lower import lower
from edgepose.codegen.planner import FAST_ARENA, plan_memory

SMALL_DTCM = "qemu-m55-small-dtcm"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return int8_tflite(tmp_path_factory.mktemp("regions") / "blocks.tflite", inverted_residuals, (48, 40, 3), seed=7)


@pytest.fixture(scope="module")
def boards(tmp_path_factory) -> Path:
    """qemu-m55 with 48 KB of its DTCM declared: the same emulated machine, a board whose fast RAM is small."""
    folder = tmp_path_factory.mktemp("boards")
    source = find_board("qemu-m55").source.read_text()
    assert "size: 512K, speed: tcm" in source
    (folder / f"{SMALL_DTCM}.yaml").write_text(source.replace("size: 512K, speed: tcm", "size: 48K, speed: tcm"))
    return folder


def test_the_most_used_buffers_go_to_the_fast_arena_within_its_room(model):
    graph = read_graph(model)
    steps, _ = lower(graph, None, "portable")
    whole = plan_memory(graph, steps)
    assert whole.fast_arena_bytes == 0
    room = whole.arena_bytes // 2
    split = plan_memory(graph, steps, fast_bytes=room)
    fast = [b for b in split.buffers if b.base == FAST_ARENA]
    assert fast and 0 < split.fast_arena_bytes <= room
    assert split.arena_bytes < whole.arena_bytes
    io = set(graph.inputs) | set(graph.outputs)
    assert not any(io & set(b.tensors) for b in fast)  # the caller's no-copy path finds I/O in the main arena
    for t in io:
        assert split.location[t].startswith("(arena + ")
    # the buffer used most per byte is in the fast arena (the scratch of the first layer, or its output)
    assert any(split.location[t].startswith(f"({FAST_ARENA} + ") for t in split.location)
    assert plan_memory(graph, steps, fast_bytes=whole.arena_bytes).fast_arena_bytes == 0  # it fits: one arena


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
def test_a_split_arena_is_bit_exact_with_tflite_micro(model, kernels, tmp_path):
    whole = assert_bit_exact(model, tmp_path / "whole", count=3, kernels=kernels)
    split = assert_bit_exact(
        model, tmp_path / "split", count=3, in_place=True, kernels=kernels, fast_ram=(0, whole.arena_bytes // 2)
    )
    assert 0 < split.fast_arena_bytes <= whole.arena_bytes // 2
    source = (tmp_path / "split/c/ep_network.c").read_text()
    assert f"{FAST_ARENA}[EP_FAST_ARENA_BYTES]" in source and "memset(ep_fast_arena + " in source


@pytest.mark.slow
def test_the_fast_arena_is_linked_into_dtcm_and_bit_exact_on_an_emulated_m55(edgepose, model, boards, tmp_path):
    env = {"EDGEPOSE_BOARDS_PATH": str(boards)}
    done = edgepose("compile", str(model), "--target", SMALL_DTCM, "--out", "split", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "split/compile_report.json").read_text())
    assert report["fast_ram"] == "DTCM" and report["fast_arena_bytes"] > 0
    assert report["placement"]["fast_arena"] == "DTCM" and report["placement"]["arena"] == "ISRAM"
    regions = {r["name"]: r for r in report["regions"]}
    assert ".fast_arena" in regions["DTCM"]["sections"] and ".arena" in regions["ISRAM"]["sections"]
    assert regions["DTCM"]["used"] <= 48 * 1024
    assert re.search(rf"of which in DTCM\W+{report['fast_arena_bytes']:,}", done.stdout), done.stdout

    done = edgepose(
        "benchmark", str(model), "--target", SMALL_DTCM, "--runs", "1", "--warmup", "0", "--out", "r.json", env=env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["output_check"]["passed"] and result["output_check"]["outputs"][0]["identical"] == 1.0
    memory = result["memory"]
    assert memory["fast_arena_bytes"] == report["fast_arena_bytes"] and memory["placement"]["fast_arena"] == "DTCM"
    shown = edgepose("report", "show", "r.json")
    assert shown.returncode == 0, shown.stderr
    assert "fast arena in DTCM" in shown.stdout and "arena in ISRAM" in shown.stdout

    done = edgepose("compile", str(model), "--target", SMALL_DTCM, "--no-split-arena", "--out", "one", env=env)
    assert done.returncode == 0, done.stderr
    one = json.loads((tmp_path / "one/compile_report.json").read_text())
    assert one["fast_arena_bytes"] == 0 and "fast_arena" not in one["placement"]
    assert one["placement"]["arena"] == "ISRAM" and one["placement"]["stack"] == "DTCM"
    assert one["arena_bytes"] > 48 * 1024  # why it was split: the whole arena does not fit the DTCM


def test_an_arena_that_fits_the_fast_ram_stays_whole(edgepose, model, tmp_path):
    done = edgepose("compile", str(model), "--target", "qemu-m55", "--no-firmware", "--out", "c")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "c/compile_report.json").read_text())
    assert report["fast_ram"] == "DTCM" and report["fast_arena_bytes"] == 0
    assert "ep_fast_arena" not in (tmp_path / "c/network/ep_network.c").read_text()
