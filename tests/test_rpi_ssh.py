"""The Raspberry Pi path against a real OpenSSH server on 127.0.0.1: host and user keys, the server's
config and the client's ssh config are generated in a temporary folder; the "board" is this machine, its
work folder a temporary one, its Python this one (which has numpy and LiteRT, as a set-up Pi would)."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import need_tool
from modelfiles import small_tflite


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ssh_board(tmp_path_factory):
    """An sshd listening on 127.0.0.1, an ssh config whose Host ``testpi`` reaches it with a generated key,
    and a user board definition ``testpi5`` whose work folder is a temporary one."""
    sshd, keygen = need_tool("sshd"), need_tool("ssh-keygen")
    need_tool("ssh"), need_tool("scp")
    home = tmp_path_factory.mktemp("ssh")
    for name in ("host_key", "user_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "user_key.pub").read_text())
    for path in home.iterdir():
        path.chmod(0o600)
    port = _free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "PrintMotd no\nAcceptEnv LANG LC_*\nSubsystem sftp internal-sftp\n"
    )
    host_key = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (home / "ssh_config").write_text(
        f"Host testpi\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
        f"  IdentityFile {home / 'user_key'}\n  IdentitiesOnly yes\n  UserKnownHostsFile {home / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation folder sshd run as root insists on
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(home / "sshd_config")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
        time.sleep(0.1)
    boards = home / "boards"
    boards.mkdir()
    workdir = home / "board-workdir"
    (boards / "testpi5.yaml").write_text(
        "backend: rpi\ndescription: this machine reached over ssh, standing in for a Raspberry Pi 5\n"
        "cpu: {core: cortex-a76, arch: aarch64, clock_hz: 2400000000, cores: 4}\n"
        f"linux: {{arch: aarch64, python: {sys.executable}, workdir: {workdir}}}\n"
    )
    yield {"config": home / "ssh_config", "boards": boards, "workdir": workdir, "port": port}
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return small_tflite(tmp_path_factory.mktemp("model") / "pose_int8.tflite", True)


def _cli(board, *args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "edgepose"
    env = {**os.environ, "EDGEPOSE_BOARDS_PATH": str(board["boards"])}
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=300, env=env)


def test_deploy_then_benchmark_over_ssh(ssh_board, model, tmp_path):
    config = str(ssh_board["config"])
    deployed = _cli(ssh_board, "deploy", str(model), "--target", "testpi5", "--ssh", "testpi", "--ssh-config", config)
    assert deployed.returncode == 0, deployed.stderr
    workdir = ssh_board["workdir"]
    assert (workdir / "agent.py").read_bytes() == (Path(__file__).parents[1] / "edgepose" / "agent.py").read_bytes()
    assert (workdir / model.name).read_bytes() == model.read_bytes()

    out = tmp_path / "pi.json"
    done = _cli(ssh_board, "benchmark", str(model), "--target", "testpi5", "--ssh", "testpi", "--ssh-config", config,
                "--runs", "30", "--warmup", "2", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["target"]["name"] == "testpi5" and report["target"]["link"] == "ssh testpi"
    assert report["target"]["board"] == "testpi5" and len(report["samples"]) == 30
    assert report["output_check"]["passed"] and report["memory"]["peak_rss_bytes"] > 0


def test_benchmark_names_the_model_to_deploy_when_the_board_has_another(ssh_board, model, tmp_path):
    other = tmp_path / model.name  # same name, other content: what the board runs is not this model
    other.write_bytes(small_tflite(tmp_path / "float.tflite", False).read_bytes())
    config = str(ssh_board["config"])
    deployed = _cli(ssh_board, "deploy", str(model), "--target", "testpi5", "--ssh", "testpi", "--ssh-config", config)
    assert deployed.returncode == 0, deployed.stderr
    done = _cli(ssh_board, "benchmark", str(other), "--target", "testpi5", "--ssh", "testpi", "--ssh-config", config,
                "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert done.returncode == 2
    assert "deploy or flash this model first" in done.stderr and not (tmp_path / "r.json").exists()


def test_an_unreachable_board_is_one_clear_error(ssh_board, model, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(ssh_board["config"].read_text().replace(f"Port {ssh_board['port']}", "Port 1"))  # nothing there
    done = _cli(ssh_board, "deploy", str(model), "--target", "testpi5", "--ssh", "testpi", "--ssh-config", str(config))
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot create the work folder on testpi:")


def test_nothing_the_user_names_runs_in_the_boards_shell(ssh_board, model, tmp_path):
    """A board, a model file and a runtime whose names are shell commands reach the board as plain words."""
    marks = [Path.home() / f"edgepose-{what}-ran" for what in ("board", "model")]
    board = ssh_board["boards"] / "pi5;cd;touch edgepose-board-ran.yaml"
    board.write_text((ssh_board["boards"] / "testpi5.yaml").read_text())
    named = tmp_path / "pose;cd;touch edgepose-model-ran.tflite"
    named.write_bytes(model.read_bytes())
    target, config = board.stem, str(ssh_board["config"])
    try:
        deployed = _cli(ssh_board, "deploy", str(named), "--target", target, "--ssh", "testpi", "--ssh-config", config)
        assert deployed.returncode == 0, deployed.stderr
        done = _cli(ssh_board, "benchmark", str(named), "--target", target, "--ssh", "testpi", "--ssh-config", config,
                    "--runs", "2", "--out", str(tmp_path / "r.json"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads((tmp_path / "r.json").read_text())["target"]["board"] == target
        assert not any(mark.exists() for mark in marks)
        injected = _cli(ssh_board, "benchmark", str(named), "--target", target, "--ssh", "testpi", "--ssh-config",
                        config, "--runtime", "litert;cd;touch edgepose-board-ran")  # fmt: skip
        assert injected.returncode == 2 and "--runtime" in injected.stderr.strip().splitlines()[-1]
        assert not any(mark.exists() for mark in marks)
    finally:
        for mark in marks:
            mark.unlink(missing_ok=True)
        board.unlink()


def test_an_ssh_value_that_looks_like_an_option_is_refused(ssh_board, model):
    done = _cli(ssh_board, "deploy", str(model), "--target", "testpi5", "--ssh", "-oProxyCommand=touch x")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --ssh '-oProxyCommand=touch x': give user@host")
