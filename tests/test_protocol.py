"""The wire protocol's codec and the agent's request handling, without a link: frames round-trip, the
parser resynchronizes after garbage and damage, and fuzzed input raises nothing but the protocol's errors."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import need_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgepose
from edgepose import wire
from edgepose.agent import Agent
from edgepose.wire import Frame, FrameParser


def test_crcs_match_the_published_check_values():
    # The standard check value of each CRC over b"123456789": what an MCU's CRC unit must reproduce.
    assert wire.crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE
    assert wire.crc32(b"123456789") == 0xCBF43926  # CRC-32 (ISO-HDLC)


def test_frame_layout_is_little_endian_with_both_checks():
    encoded = Frame(wire.READ, 0x1234, b"\x01\x02\x03").encode()
    sync, version, kind, seq, length, header_crc = wire.HEADER.unpack_from(encoded)
    assert (sync, version, kind, seq, length) == (b"\xa5\x5e", wire.PROTOCOL_VERSION, wire.READ, 0x1234, 3)
    assert encoded[4:6] == b"\x34\x12"  # seq, little-endian
    assert header_crc == wire.crc16(encoded[2:8])
    assert struct.unpack_from("<I", encoded, len(encoded) - 4)[0] == zlib.crc32(encoded[2:-4])
    assert len(encoded) == wire.FRAME_OVERHEAD + 3


def test_a_payload_over_the_maximum_is_refused_when_encoding():
    with pytest.raises(wire.ProtocolError, match="1025 bytes > 1024"):
        Frame(wire.WRITE, 1, bytes(wire.MAX_PAYLOAD + 1)).encode()


def test_frames_survive_garbage_and_arbitrary_splits():
    frames = [Frame(wire.DATA, seq, bytes(range(seq % 200))) for seq in range(40)]
    rng = random.Random(0)
    stream = bytearray()
    for frame in frames:
        stream += bytes(rng.randrange(256) for _ in range(rng.randrange(20))) + frame.encode()
    parser, got, at = FrameParser(), [], 0
    while at < len(stream):
        step = rng.randrange(1, 64)
        got += parser.feed(bytes(stream[at : at + step]))
        at += step
    assert got == frames
    assert parser.skipped_bytes > 0


def test_a_damaged_frame_is_skipped_counted_and_remembered_for_a_nak():
    good = Frame(wire.WRITE, 7, b"payload").encode()
    damaged = bytearray(good)
    damaged[12] ^= 0x10  # in the payload: the header is intact
    parser = FrameParser()
    assert parser.feed(bytes(damaged) + Frame(wire.READ, 8, b"x").encode()) == [Frame(wire.READ, 8, b"x")]
    assert parser.bad_frames == 1
    assert parser.damaged == [(wire.WRITE, 7)]


def test_a_frame_of_another_version_is_returned_for_the_caller_to_name():
    frame = Frame(wire.HELLO_OK, 1, b"", version=9)
    assert FrameParser().feed(frame.encode()) == [frame]
    assert "v9" in str(wire.VersionMismatch(9)) and f"v{wire.PROTOCOL_VERSION}" in str(wire.VersionMismatch(9))


def test_unpack_names_the_message_when_the_payload_is_the_wrong_size():
    with pytest.raises(wire.ProtocolError, match="malformed READ: 3 payload bytes, expected 8"):
        wire.unpack(wire.READ_LAYOUT, Frame(wire.READ, 1, b"abc"))


# ------------------------------------------------------------------------------------------------ fuzzing

VALID = [
    Frame(wire.HELLO, 1),
    Frame(wire.READ, 2, wire.READ_LAYOUT.pack(wire.BLOB_INFO, 0, 0, 512)),
    Frame(wire.WRITE, 3, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 0, 12) + bytes(12)),
    Frame(wire.INFER, 4, wire.INFER_LAYOUT.pack(1, 2, 0)),
    Frame(wire.DATA, 5, wire.DATA_LAYOUT.pack(0, 3) + b"abc"),
    Frame(wire.ERROR, 6, wire.ERROR_LAYOUT.pack(wire.E_RANGE) + "ünïcode".encode()),
]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 8)):
        action, at = rng.randrange(4), rng.randrange(len(out) + 1)
        if action == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1:
            del out[at : at + rng.randrange(1, 6)]
        elif action == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
        else:
            out[at:at] = wire.SYNC  # a false start of a frame
    return bytes(out)


def _fuzz_stream(rng: random.Random, frames: int = 50) -> bytes:
    """``frames`` valid frames, four in five of them mutated."""
    chosen = [VALID[rng.randrange(len(VALID))].encode() for _ in range(frames)]
    return b"".join(_mutate(frame, rng) if rng.random() < 0.8 else frame for frame in chosen)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), noise=st.binary(max_size=300), chunk=st.integers(1, 600))
def test_fuzzed_streams_raise_nothing_and_never_invent_frames(seed, noise, chunk):
    """2000 examples × 50 mutated frames each (100k frames), fed in arbitrary pieces: the parser never
    raises, keeps at most one frame's worth of bytes, and whatever it returns passed both CRCs — so at this
    size it is, in practice, a frame that was sent."""
    sent = {frame.encode() for frame in VALID}
    stream = noise + _fuzz_stream(random.Random(seed))
    parser = FrameParser()
    for at in range(0, len(stream), chunk):
        for frame in parser.feed(stream[at : at + chunk]):
            assert frame.encode() in sent or frame.version != wire.PROTOCOL_VERSION
        assert len(parser._buffer) <= wire.MAX_PAYLOAD + wire.FRAME_OVERHEAD


class _EchoModel:
    """A stand-in for a runtime (the agent's request logic is under test here, not LiteRT): copies its
    12-byte int8 input to its output."""

    runtime, version, threads, path = "echo", "0", 1, __file__
    inputs = [{"name": "x", "dtype": "int8", "shape": [1, 12], "bytes": 12, "quantization": None}]
    outputs = [{"name": "y", "dtype": "int8", "shape": [1, 12], "bytes": 12, "quantization": None}]

    def set_input(self, index, data):
        self._data = data

    def invoke(self):
        pass

    def output(self, index):
        return self._data


@pytest.fixture
def agent():
    return Agent(_EchoModel(), 0.0, board="test")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.integers(0, 255), seq=st.integers(0, 0xFFFF), payload=st.binary(max_size=64), version=st.integers(0, 3))
def test_the_agent_answers_any_frame_with_exactly_one_valid_frame(agent, kind, seq, payload, version):
    reply = agent.handle(Frame(kind, seq, payload, version))
    frames = FrameParser().feed(reply)
    assert len(frames) == 1 and frames[0].seq == seq
    if version != wire.PROTOCOL_VERSION:
        assert frames[0].type == wire.ERROR and wire.describe_error(frames[0]).startswith("protocol version")


def _ask(agent, frame: Frame) -> Frame:
    (reply,) = FrameParser().feed(agent.handle(frame))
    return reply


def test_writes_past_a_gap_are_not_kept_and_the_count_says_where_to_resume(agent):
    data = bytes(range(12))
    gap = _ask(agent, Frame(wire.WRITE, 1, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 4, 12) + data[4:8]))
    assert wire.unpack(wire.WRITTEN_LAYOUT, gap) == (0,)
    first = _ask(agent, Frame(wire.WRITE, 2, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 0, 12) + data[:6]))
    rest = _ask(agent, Frame(wire.WRITE, 3, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 6, 12) + data[6:]))
    assert wire.unpack(wire.WRITTEN_LAYOUT, first) == (6,) and wire.unpack(wire.WRITTEN_LAYOUT, rest) == (12,)
    back = _ask(agent, Frame(wire.READ, 4, wire.READ_LAYOUT.pack(wire.BLOB_INPUT, 0, 0, 100)))
    assert wire.unpack(wire.DATA_LAYOUT, back, tail=True) == (0, 12, data)
    again = _ask(agent, Frame(wire.WRITE, 5, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 0, 12) + data[:6]))
    assert wire.unpack(wire.WRITTEN_LAYOUT, again) == (6,)  # offset 0 starts a new upload


def test_infer_needs_the_whole_input_and_a_repeat_is_answered_without_running_again(agent):
    early = _ask(agent, Frame(wire.INFER, 1, wire.INFER_LAYOUT.pack(0, 1, 0)))
    assert wire.describe_error(early).startswith("input not complete")
    _ask(agent, Frame(wire.WRITE, 2, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 0, 12) + bytes(12)))
    request = Frame(wire.INFER, 3, wire.INFER_LAYOUT.pack(2, 5, 0))
    first = agent.handle(request)
    timings = agent.timings
    assert agent.handle(request) == first and agent.timings is timings  # the cached reply, not a new run
    runs, hz, low, high, total = wire.unpack(wire.INFERRED_LAYOUT, FrameParser().feed(first)[0])
    assert (runs, hz) == (5, 1_000_000_000) and low <= high <= total
    ticks = np.frombuffer(timings, "<u8")
    assert len(ticks) == 5 and ticks.sum() == total


def test_the_client_waits_longer_for_a_link_whose_replies_come_unevenly():
    from edgepose.bench.client import FIRST_WAIT, MIN_WAIT, Client
    from edgepose.bench.links import Link

    def wait_after(latencies: list[float]) -> float:
        client = Client(Link(), timeout=2.0)
        for latency in latencies:
            client._measured(latency)
        return client._first_wait()

    assert Client(Link(), timeout=2.0)._first_wait() == FIRST_WAIT  # nothing measured yet
    assert Client(Link(), timeout=0.3)._first_wait() == 0.3  # never longer than the timeout
    assert wait_after([0.001] * 50) == MIN_WAIT  # a quick link still gets the floor a busy host needs
    steady, uneven = wait_after([0.06] * 50), wait_after([0.02, 0.10] * 25)  # the same mean round trip
    assert steady == pytest.approx(4 * 0.06, rel=0.05) and uneven > steady + 0.1
    assert wait_after([5.0] * 10) == 2.0  # never longer than the configured timeout


# ------------------------------------------------------------------------------------------------ the C side


@pytest.fixture(scope="module")
def wire_host(tmp_path_factory) -> Path:
    """The firmware's ``wire.c`` built for this machine with AddressSanitizer and UBSan."""
    need_tool("gcc")
    firmware = Path(edgepose.__file__).parent.parent / "targets" / "firmware"
    exe = tmp_path_factory.mktemp("wire") / "wire_host"
    subprocess.run(
        ["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", "-I", str(firmware), str(Path(__file__).parent / "c" / "wire_host.c"),
         str(firmware / "wire.c"), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    return exe


def test_the_c_protocol_constants_equal_the_python_ones(wire_host):
    constants = json.loads(subprocess.run([str(wire_host), "constants"], capture_output=True, check=True).stdout)
    python = {name: getattr(wire, name) for name in constants if hasattr(wire, name)}
    assert python == {name: constants[name] for name in python}
    assert set(constants) - set(python) == set()  # every C constant has its Python twin


def test_the_c_parser_reads_fuzzed_streams_exactly_as_the_python_codec(wire_host):
    """The same fuzz streams as above, 2000 x 50 frames (100k, four in five mutated) plus noise, through the
    firmware's parser byte by byte under the sanitizers: the same frames and the same damaged frames."""
    rng = random.Random(7)
    stream = b"".join(
        bytes(rng.randrange(256) for _ in range(rng.randrange(40))) + _fuzz_stream(rng) for _ in range(2000)
    )
    done = subprocess.run([str(wire_host), "parse"], input=stream, capture_output=True, check=True)
    parser = FrameParser()
    expected = []
    for at in range(0, len(stream), 4096):
        for frame in parser.feed(stream[at : at + 4096]):
            expected.append(
                f"F {frame.version} {frame.type} {frame.seq} {len(frame.payload)} {zlib.crc32(frame.payload):08x}"
            )
    c_lines = done.stdout.decode().splitlines()
    assert [line for line in c_lines if line.startswith("F")] == expected
    assert len(expected) > 15_000  # a fifth of the frames arrive intact, and some mutations leave a frame valid
    damaged = [f"D {kind} {seq}" for kind, seq in parser.damaged]
    assert [line for line in c_lines if line.startswith("D")] == damaged and damaged


def test_frames_the_firmware_encodes_are_read_by_the_python_codec(wire_host):
    records = [(wire.DATA, 1, b""), (wire.ERROR, 0xFFFF, b"x" * 1024), (wire.STARTED, 7, bytes(range(200)))]
    stream = b"".join(struct.pack("<BHH", kind, seq, len(payload)) + payload for kind, seq, payload in records)
    done = subprocess.run([str(wire_host), "encode"], input=stream, capture_output=True, check=True)
    assert FrameParser().feed(done.stdout) == [Frame(kind, seq, payload) for kind, seq, payload in records]


def test_the_agent_bounds_warmup_and_timed_runs_as_the_firmware_does(agent):
    _ask(agent, Frame(wire.WRITE, 1, wire.WRITE_LAYOUT.pack(wire.BLOB_INPUT, 0, 0, 12) + bytes(12)))
    warmup = _ask(agent, Frame(wire.INFER, 2, wire.INFER_LAYOUT.pack(wire.MAX_WARMUP_RUNS + 1, 1, 0)))
    assert wire.describe_error(warmup).startswith("bad request: INFER takes at most 1000 warmup runs")
    runs = _ask(agent, Frame(wire.INFER, 3, wire.INFER_LAYOUT.pack(0, wire.MAX_TIMED_RUNS + 1, 0)))
    assert wire.describe_error(runs).startswith("bad request: INFER needs 1 to 1000000 timed runs")
    fine = _ask(agent, Frame(wire.INFER, 4, wire.INFER_LAYOUT.pack(wire.MAX_WARMUP_RUNS, 1, 0)))
    assert fine.type == wire.INFERRED
