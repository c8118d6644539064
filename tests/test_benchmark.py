"""``edgepose benchmark`` and ``edgepose report`` through real links: the agent as a subprocess over stdio,
the agent on a pseudo-terminal (a serial wire, clean, paced or lossy), and the installed CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from modelfiles import small_tflite
from processes import cpu_seconds, wait_until_computing

from edgepose import wire
from edgepose.agent import Agent, load_model
from edgepose.backends.host import AGENT
from edgepose.bench.client import Client
from edgepose.bench.harness import Settings, Target, benchmark
from edgepose.bench.links import SerialLink
from edgepose.bench.linksim import SerialWire
from edgepose.bench.report import SCHEMA
from edgepose.errors import DeviceError


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "int8": small_tflite(folder / "small_int8.tflite", True),
        "float": small_tflite(folder / "small.tflite", False),
    }


@pytest.fixture(scope="module")
def host_reports(models, tmp_path_factory) -> dict[str, Path]:
    """One CLI benchmark of each model on the host target (the agent as a subprocess over stdio)."""
    folder = tmp_path_factory.mktemp("reports")
    reports = {}
    for kind, model in models.items():
        out = folder / f"{kind}.json"
        done = _cli("benchmark", str(model), "--target", "host", "--warmup", "3", "--runs", "40", "--out", str(out))
        assert done.returncode == 0, done.stderr
        reports[kind] = out
    return reports


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "edgepose"
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=300, **kwargs)


def test_host_benchmark_report_is_complete_and_consistent(host_reports, models):
    for kind, path in host_reports.items():
        report = json.loads(path.read_text())
        assert report["schema"] == SCHEMA
        assert report["model"]["kind"] == ("int8" if kind == "int8" else "float32")
        assert report["target"]["name"] == "host" and report["runtime"]["name"] == "litert"
        assert report["settings"]["runs"] == 40 and len(report["samples"]) == 40
        samples, latency = np.array(report["samples"]), report["latency"]
        assert latency["min"] == pytest.approx(samples.min(), abs=1e-3)
        assert latency["max"] == pytest.approx(samples.max(), abs=1e-3)
        assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        assert latency["p50"] == pytest.approx(np.percentile(samples, 50), rel=1e-3)
        ticks = np.array(report["samples_ticks"], dtype=np.float64)
        assert np.allclose(ticks * 1e6 / report["timer"]["hz"], samples, atol=1e-3)
        assert report["first_inference"] > 0 and report["load_ms"] > 0
        assert report["memory"]["peak_rss_bytes"] > 10 * 2**20  # a Python process with a runtime loaded
        check = report["output_check"]
        (output,) = check["outputs"]
        assert check["passed"] and output["passed"] and output["cosine"] == pytest.approx(1.0)
        if kind == "int8":
            assert output["identical"] == 1.0 and output["max_abs_diff"] == 0.0 and output["tolerance"] == 0.0


def test_report_show_prints_the_statistics(host_reports):
    done = _cli("report", "show", str(host_reports["int8"]))
    assert done.returncode == 0, done.stderr
    report = json.loads(host_reports["int8"].read_text())
    assert "small_int8.tflite" in done.stdout and "p99" in done.stdout and "pass" in done.stdout
    assert f"{report['latency']['p50']:,.1f}" in done.stdout


def test_report_compare_writes_a_table_a_png_and_a_self_contained_page(host_reports, tmp_path):
    png, html = tmp_path / "cmp.png", tmp_path / "cmp.html"
    args = [str(host_reports["float"]), str(host_reports["int8"]), "--png", str(png), "--html", str(html)]
    done = _cli("report", "compare", *args)
    assert done.returncode == 0, done.stderr
    assert "1.000x" in done.stdout  # the baseline against itself
    assert "small.tflite (float32)" in done.stdout and "small_int8.tflite (int8)" in done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text()
    assert "data:image/png;base64," in page and "small_int8.tflite" in page and 'src="http' not in page


def test_report_compare_exits_1_on_a_regression_over_the_threshold(host_reports, tmp_path):
    # A report doctored to be 50% slower than a real one: the regression the CI gate must catch.
    slow = json.loads(host_reports["int8"].read_text())
    latency = slow["latency"]
    slow["latency"] = {
        k: v / 1.5 if k == "throughput_ips" else v * 1.5 if isinstance(v, float) else v for k, v in latency.items()
    }
    slow["samples"] = [s * 1.5 for s in slow["samples"]]
    slow["target"]["name"] = "slower"
    slow_path = tmp_path / "slow.json"
    slow_path.write_text(json.dumps(slow))

    regression = _cli("report", "compare", str(host_reports["int8"]), str(slow_path), "--fail-over", "10")
    assert regression.returncode == 1
    assert "REGRESSION" in regression.stdout and "+50.0%" in regression.stdout
    improvement = _cli(
        "report", "compare", str(host_reports["int8"]), "--baseline", str(slow_path), "--fail-over", "10"
    )
    assert improvement.returncode == 0, improvement.stdout
    assert "0.667x" in improvement.stdout


def test_report_compare_refuses_a_file_that_is_not_a_report(host_reports, tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    done = _cli("report", "compare", str(host_reports["int8"]), str(other))
    assert done.returncode == 2
    assert f"{other}: not an edgepose benchmark report" in done.stderr


def test_a_version_1_report_is_read_in_version_2_terms(tmp_path):
    """What the previous release wrote for an emulated board: emulated µs with instruction counts beside."""
    from edgepose.bench.report import load_report

    old = {
        "schema": "edgepose.benchmark_report/1", "model": {"name": "m.tflite"}, "target": {"name": "qemu-m7"},
        "runtime": {"name": "edgepose-c"}, "settings": {"runs": 2}, "output_check": {"passed": True},
        "timer": {"hz": 25_000_000, "instructions_per_us": 1000.0},
        "latency_us": {"runs": 2, "min": 400.0, "p50": 401.0, "max": 402.0, "mean": 401.0, "throughput_ips": 2493.8},
        "samples_us": [400.0, 402.0], "first_inference_us": 405.0,
        "instructions": {"min": 400000, "p50": 401000, "max": 402000, "mean": 401000},
    }  # fmt: skip
    (tmp_path / "old.json").write_text(json.dumps(old))
    report = load_report(tmp_path / "old.json")
    assert report["schema"] == SCHEMA and report["latency"]["unit"] == "instructions"
    assert report["latency"]["p50"] == 401_000 and "throughput_ips" not in report["latency"]
    assert report["samples"] == [400_000, 402_000] and report["first_inference"] == 405_000


# ------------------------------------------------------------------------------------------------ serial


def _agent_on(port: str, model: Path) -> subprocess.Popen:
    """The board agent serving a pseudo-terminal, as it would serve a Linux board's UART."""
    process = subprocess.Popen(
        [sys.executable, str(AGENT), str(model), "--port", port], stderr=subprocess.PIPE, text=True
    )
    said = []
    while not said or "agent: serving" not in said[-1]:  # printed once the model is loaded
        said.append(process.stderr.readline())
        assert said[-1], "".join(said)
    return process


def test_benchmark_through_a_paced_serial_wire_with_the_cli(models, tmp_path):
    out = tmp_path / "r.json"
    with SerialWire(baud=921600) as cable:
        agent = _agent_on(cable.device_port, models["int8"])
        try:
            done = _cli("benchmark", str(models["int8"]), "--port", cable.host_port, "--baud", "921600",
                        "--runs", "20", "--warmup", "1", "--out", str(out))  # fmt: skip
        finally:
            agent.terminate()
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["output_check"]["passed"] and report["link"]["bad_frames"] == 0  # a clean wire damages nothing
    # A reply later than the client's adaptive wait is asked for again; on a clean wire only a stalled
    # process (a loaded machine) makes one that late, and rarely.
    assert report["link"]["retries"] <= 2
    # A paced pty carries at most baud/10 bytes a second: the upload rate shows the wire's limit held.
    assert report["link"]["upload_bytes_per_s"] <= 921600 / 10 * 1.05


def _outputs_through(cable: SerialWire, model: Path) -> tuple[list[bytes], dict]:
    agent = _agent_on(cable.device_port, model)
    try:
        client = Client(SerialLink(cable.host_port, 921600))
        with client.link:
            report = benchmark(client, model, Target("wire", "host"), Settings(warmup=1, runs=5))
            outputs = [client.read_output(i) for i in range(len(report["device_info"]["outputs"]))]
        return outputs, report
    finally:
        agent.terminate()


def test_a_link_that_corrupts_and_drops_bytes_gives_the_outputs_of_a_clean_one(models):
    with SerialWire() as clean:
        expected, _ = _outputs_through(clean, models["int8"])
    with SerialWire(baud=921600, corrupt=0.01, drop=0.002, seed=5) as lossy:
        outputs, report = _outputs_through(lossy, models["int8"])
        corrupted, dropped, carried = lossy.corrupted, lossy.dropped, lossy.carried
    assert outputs == expected
    assert report["output_check"]["passed"] and report["output_check"]["outputs"][0]["identical"] == 1.0
    assert corrupted / carried >= 0.009 and dropped > 0  # the link really was that bad
    assert report["link"]["retries"] > 0 and report["link"]["bad_frames"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_cli_defaults_complete_a_benchmark_over_a_link_damaging_one_and_a_half_percent(models, tmp_path, seed):
    out = tmp_path / "r.json"
    with SerialWire(baud=921600, corrupt=0.0125, drop=0.0025, seed=seed) as lossy:
        agent = _agent_on(lossy.device_port, models["int8"])
        try:
            done = _cli("benchmark", str(models["int8"]), "--port", lossy.host_port, "--out", str(out))
        finally:
            agent.terminate()
        damaged = (lossy.corrupted + lossy.dropped) / lossy.carried
    assert done.returncode == 0, done.stderr
    assert damaged >= 0.013  # the link really was that bad
    report = json.loads(out.read_text())
    assert report["settings"]["runs"] == 100 and len(report["samples_ticks"]) == 100
    check = report["output_check"]
    assert check["passed"] and all(o["identical"] == 1.0 for o in check["outputs"])
    assert report["link"]["retries"] > 0 and report["link"]["bad_frames"] > 0


def _agent_of(model: Path) -> int:
    """The pid of the agent process serving ``model`` (a child of the CLI under test)."""
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and str(AGENT).encode() in command and str(model).encode() in command:
            return int(entry.name)
    raise AssertionError(f"no agent process for {model}")


def test_an_agent_that_dies_mid_run_gives_a_clear_error_and_no_report(models, tmp_path):
    model = tmp_path / "dying.tflite"  # its own path, to find its own agent process
    model.write_bytes(models["float"].read_bytes())
    out = tmp_path / "r.json"
    cli = Path(sys.executable).parent / "edgepose"
    run = subprocess.Popen(
        [str(cli), "benchmark", str(model), "--runs", "1000000", "--warmup", "0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            pid = _agent_of(model)
            break
        except AssertionError:
            assert time.monotonic() < deadline and run.poll() is None, run.communicate()
            time.sleep(0.2)
    wait_until_computing(pid, 4.0)  # loading takes about 2 s of CPU: then well into the timed runs
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: the host agent (dying.tflite) closed the link")
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def _ctrl_c_as_in_a_terminal() -> None:
    """A test run started in the background (``make test &``, some CI shells) has SIGINT ignored, and a
    child inherits that; a user at a terminal never has, so the CLI under test starts with the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_leaves_the_device_reset_and_idle(models, tmp_path):
    cli = Path(sys.executable).parent / "edgepose"
    with SerialWire() as cable:
        agent = _agent_on(cable.device_port, models["float"])
        try:
            run = subprocess.Popen(
                [str(cli), "benchmark", str(models["float"]), "--port", cable.host_port, "--runs", "1000000",
                 "--out", str(tmp_path / "r.json")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_in_a_terminal,
            )  # fmt: skip
            wait_until_computing(agent.pid, 2 + cpu_seconds(agent.pid))  # in the middle of the timed runs
            run.send_signal(signal.SIGINT)
            _, err = run.communicate(timeout=60)
            assert run.returncode != 0 and not (tmp_path / "r.json").exists(), err
            client = Client(SerialLink(cable.host_port, 921600), timeout=2.0, retries=3)
            with client.link:
                started = time.monotonic()
                client.hello()  # answered at once: no INFER is still running
                assert time.monotonic() - started < 2.0
                with pytest.raises(DeviceError, match="input not complete"):
                    client.infer(0, 1, 5.0)  # the input was dropped by the RESET
        finally:
            agent.terminate()


class _FaultyDevice(threading.Thread):
    """A stand-in for a device with a faulty or slow firmware (there is none to summon on demand): the real
    agent serving the model over TCP, with one kind of reply rewritten by ``fault(request, reply)`` and
    HELLO answered ``hello_after`` seconds late."""

    def __init__(self, model: Path, fault, hello_after: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.agent = Agent(load_model(str(model), None, 1), 0.0, board="faulty")
        self.fault, self.hello_after = fault, hello_after
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]

    def run(self) -> None:
        connection, _ = self.server.accept()
        parser = wire.FrameParser()
        with connection:
            while data := connection.recv(4096):
                for request in parser.feed(data):
                    if request.type == wire.INFER:
                        connection.sendall(wire.Frame(wire.STARTED, request.seq).encode())
                    if request.type == wire.HELLO:
                        time.sleep(self.hello_after)  # a device still busy booting when first spoken to
                    (reply,) = wire.FrameParser().feed(self.agent.handle(request))
                    connection.sendall((self.fault(request, reply) or reply).encode())


def _from_a_later_release(request, reply):
    """Every reply a HELLO_OK of protocol version 2 (a device running a release that does not exist yet)."""
    return wire.Frame(wire.HELLO_OK, request.seq, wire.HELLO_OK_LAYOUT.pack(wire.MAX_PAYLOAD, 0, 4), version=2)


def test_a_device_speaking_another_protocol_version_is_named_as_such(models, tmp_path):
    device = _FaultyDevice(models["int8"], _from_a_later_release)
    device.start()
    done = _cli("benchmark", str(models["int8"]), "--port", f"socket://127.0.0.1:{device.port}", "--out",
                str(tmp_path / "r.json"))  # fmt: skip
    assert done.returncode == 2
    assert "speaks edgepose protocol v2, this side v1" in done.stderr
    assert not (tmp_path / "r.json").exists()


def _tiny_frames(request, reply):
    if reply.type == wire.HELLO_OK:
        _, info, window = wire.unpack(wire.HELLO_OK_LAYOUT, reply)
        return wire.Frame(reply.type, reply.seq, wire.HELLO_OK_LAYOUT.pack(6, info, window))


def _ragged_timings(request, reply):
    if request.type == wire.READ and wire.unpack(wire.READ_LAYOUT, request)[0] == wire.BLOB_TIMINGS:
        return wire.Frame(reply.type, reply.seq, wire.DATA_LAYOUT.pack(0, 12) + bytes(12))


def _stopped_timer(request, reply):
    if reply.type == wire.INFERRED:
        runs, _, low, high, total = wire.unpack(wire.INFERRED_LAYOUT, reply)
        return wire.Frame(reply.type, reply.seq, wire.INFERRED_LAYOUT.pack(runs, 0, low, high, total))


@pytest.mark.parametrize(
    "fault,message",
    [
        (_tiny_frames, "HELLO says frames carry at most 6 payload bytes"),
        (_ragged_timings, "a TIMINGS blob of 12 bytes is not a whole number of 8-byte timings"),
        (_stopped_timer, "INFERRED gives a timer of 0 Hz"),
    ],
)
def test_a_malformed_reply_is_one_line_naming_the_device(models, tmp_path, fault, message):
    device = _FaultyDevice(models["int8"], fault)
    device.start()
    port = f"socket://127.0.0.1:{device.port}"
    done = _cli("benchmark", str(models["int8"]), "--port", port, "--runs", "2", "--out", str(tmp_path / "r.json"))
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {port}") and message in line, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r.json").exists()


def test_benchmark_timeout_s_is_how_long_a_silent_device_is_waited_for(models, tmp_path):
    """A device that answers each HELLO 3 s late: within the default 10 s, beyond ``timeout_s=2``."""
    patient, hasty = (_FaultyDevice(models["int8"], lambda *_: None, hello_after=3.0) for _ in range(2))
    for device in (patient, hasty):
        device.start()
    args = ("--runs", "2", "--warmup", "0")
    done = _cli("benchmark", str(models["int8"]), "--port", f"socket://127.0.0.1:{patient.port}", *args,
                "--out", str(tmp_path / "ok.json"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "ok.json").read_text())["output_check"]["passed"]
    port = f"socket://127.0.0.1:{hasty.port}"
    done = _cli("benchmark", str(models["int8"]), "benchmark.timeout_s=2", "--port", port, *args,
                "--out", str(tmp_path / "late.json"))  # fmt: skip
    assert done.returncode == 2
    assert f"no reply from {port} to HELLO: nothing came back in 2 s" in done.stderr.strip().splitlines()[-1]


def test_without_port_an_st_link_is_looked_for_by_its_usb_vendor_id(monkeypatch):
    # A stand-in for the USB enumeration (no ST-LINK can be plugged in here): what pyserial's list_ports
    # would report for a Nucleo board and for an unrelated adapter.
    from serial.tools import list_ports
    from serial.tools.list_ports_common import ListPortInfo

    from edgepose.bench.links import find_st_link

    def port(device: str, vid: int) -> ListPortInfo:
        info = ListPortInfo(device, skip_link_detection=True)
        info.vid = vid
        return info

    monkeypatch.setattr(list_ports, "comports", lambda: [port("/dev/ttyUSB0", 0x0403), port("/dev/ttyACM0", 0x0483)])
    assert find_st_link() == "/dev/ttyACM0"
    monkeypatch.setattr(list_ports, "comports", lambda: [port("/dev/ttyUSB0", 0x0403)])
    with pytest.raises(DeviceError, match="no ST-LINK virtual COM port"):
        find_st_link()


def test_report_compare_puts_a_phone_measured_by_benchmark_model_beside_the_host(host_reports, tmp_path):
    log = Path(__file__).parent / "data" / "benchmark_model" / "gpu.log"
    phone = tmp_path / "phone.json"
    imported = _cli("report", "import", str(log), "--device", "pixel7", "--out", str(phone))
    assert imported.returncode == 0, imported.stderr
    png, html = tmp_path / "cmp.png", tmp_path / "cmp.html"
    done = _cli("report", "compare", str(host_reports["int8"]), str(phone), "--png", str(png), "--html", str(html))
    assert done.returncode == 0, done.stderr
    host_p50 = json.loads(host_reports["int8"].read_text())["latency"]["p50"]
    (row,) = [line for line in done.stdout.splitlines() if "pixel7" in line]
    # both measured in µs: the phone is compared with the host, its output not checked (benchmark_model's inputs)
    assert f"{1536.2 / host_p50:.3f}x" in row and "not checked" in row
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "pixel7" in html.read_text()
