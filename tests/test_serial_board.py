"""The whole ULX3S top under Verilator, driven by the real ``serial`` back-end.

The simulated board is :class:`hw.flow.ecp5.BridgedCore` -- the UART, the frame
engine and ``eavs_core``, exactly what ``hw.flow.build --board ulx3s-85f`` puts
behind the PLL and the pins -- built by Verilator. The cocotb module
:mod:`sim.cocotb_serial_board` puts its UART pins on a TCP socket, and
``host.open_backend("serial", port="socket://127.0.0.1:PORT")`` talks to it
through pyserial, byte for byte as to the FT231X. The core has the board's
default capacity; only the link's timing parameters differ from the board's
(4 clocks per bit, a fast simulated baud, and timeouts in simulated cycles),
so the simulation stays short.

Checked: a model load; a batch equal to sw.golden bit for bit (prediction,
readout membranes, counters) with cycles equal to the cycle model
(hw.spec.capacity.sample_cycles, via the golden back-end); error bits decoded;
a corrupted and a truncated frame answered with error frames and changing
nothing (and a corrupted frame retried by the host); a host that stops
mid-sample, after which the next host runs clean; a board that never
answers (a timeout, not a hang); a core that never finishes (a timeout that
reports the registers); ``eavs eval --backend serial``'s bit-exact verdict;
the link bytes of samples of the demo's input shape.
"""

from __future__ import annotations

import fcntl
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import host
from host.driver import CoreError
from hw.spec import link, protocol, regmap
from hw.spec.boards import get_board
from sw.random_net import random_qnet, random_spikes

# one simulated board per session: every test here in one xdist worker (make test uses --dist loadgroup)
pytestmark = [pytest.mark.verilator, pytest.mark.slow, pytest.mark.xdist_group("serial_board")]

ROOT = Path(__file__).resolve().parent.parent
#: The board's default capacity: the core is the one `hw.flow.build --board ulx3s-85f` synthesises.
CAP = get_board("ulx3s-85f").capacity
DIVISOR = 4
TIMEOUT_CYCLES = 4000
STALL_CYCLES = 200_000


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """The simulated board, built once for the module; yields its socket:// URL."""
    from sim.build import build_verilog, generate_core_verilog, run_cocotb, tool_problem

    problem = tool_problem("verilator")
    if problem:
        pytest.skip(problem)
    from hw.flow.ecp5 import sim_top_verilog

    build_dir = ROOT / "build" / "serial-board"
    build_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time in this shared folder: pytest-xdist has been seen
    # to run this module's tests on both workers despite the xdist_group, and
    # two makes in one Verilator folder corrupt each other's objects.
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        core = generate_core_verilog(CAP, build_dir / "rtl")
        top = sim_top_verilog(core, build_dir / "rtl" / "eavs_board.v", bit_period=DIVISOR, timeout_cycles=TIMEOUT_CYCLES, stall_cycles=STALL_CYCLES)
        build = build_verilog([top, core], "eavs_board", "verilator", build_dir / "verilator")
    run = tmp_path_factory.mktemp("serial-board")
    plan = {"divisor": DIVISOR, "port_file": str(run / "port"), "stop_file": str(run / "stop")}
    outcome: dict = {}

    def simulate():
        try:
            outcome["record"] = run_cocotb(build, "sim.cocotb_serial_board", plan, name="serve")
        except Exception as e:  # reported by the fixture
            outcome["error"] = e

    thread = threading.Thread(target=simulate, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (run / "port").exists():
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the simulated board did not start: {outcome.get('error')}")
        time.sleep(0.1)
    yield f"socket://127.0.0.1:{(run / 'port').read_text()}"
    (run / "stop").write_text("stop")
    thread.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")


def open_board(url: str, **kw) -> host.Backend:
    return host.open_backend("serial", port=url, board="ulx3s-85f", timeout_s=30.0, link_timeout_s=10.0, **kw)


def small_net(seed: int):
    return random_qnet(np.random.default_rng(seed), max_inputs=20, max_neurons=10, max_hidden=1, timesteps=6)


def test_batch_equals_golden_and_cycle_model(board):
    with open_board(board) as be:
        assert be.capacity == CAP  # read back from the simulated core's registers
        gold = host.open_backend("golden", capacity=CAP)
        rng = np.random.default_rng(7)
        for seed in (1, 2):
            net = small_net(seed)
            be.load_model(net)
            gold.load_model(net)
            x = random_spikes(rng, net, batch=3, rate=0.3)
            got, want = be.infer_batch(x), gold.infer_batch(x)
            assert got.backend == "serial"
            assert got.differences(want) == []  # prediction, readout, cycles (the cycle model), counters, errors
            assert (got.cycles > 0).all() and (got.errors == 0).all()
        stats = be.link_stats()
        assert stats["bytes_out"] > 0 and stats["retried"] == 0


def test_early_exit_models_equal_golden(board):
    """A model with an early-exit rule over the serial link: exit step,
    prediction, readout, counters and cycles equal the golden back-end's."""
    from sim.scenarios import exit_pairs

    with open_board(board) as be:
        gold = host.open_backend("golden", capacity=CAP)
        for net, x in exit_pairs(41, CAP, 2, batch=2):
            be.load_model(net)
            gold.load_model(net)
            assert be.infer_batch(x).differences(gold.infer_batch(x)) == []


def test_error_bits_are_decoded(board):
    with open_board(board) as be:
        rng = np.random.default_rng(21)
        net = small_net(3)
        be.load_model(net)
        x = random_spikes(rng, net, batch=2, rate=0.3)
        wide = np.concatenate([x, np.zeros((2, net.timesteps, 3), np.uint8)], axis=2)
        wide[1, 0, net.n_inputs + 1] = 1  # an index past the model's inputs, below the driver's shape check
        with pytest.raises(CoreError, match=r"flagged 1 of 2 samples \(sample 1: \['event_index'\]") as e:
            be.driver.run(wide)
        assert e.value.result.errors.tolist() == [0, regmap.field("ERROR", "event_index").mask]
        gold = host.open_backend("golden", capacity=CAP)
        gold.load_model(net)
        assert be.infer_batch(x).differences(gold.infer_batch(x)) == []


def _reply(be) -> link.Frame:
    return be.link._read_frame("test")


def test_corrupted_and_truncated_frames_change_nothing(board):
    with open_board(board) as be:
        off = regmap.offset("BATCH")
        be.driver.write("BATCH", 5)
        good = link.encode_frame(link.REQUESTS["WRITE"], struct.pack("<II", off, 9))
        bad = bytearray(good)
        bad[8] ^= 0x01  # one bit of the data
        be.link.ser.write(bytes(bad))
        r = _reply(be)
        assert r.type == link.REPLIES["ERROR"] and r.payload[0] == link.ERR["CRC"]
        assert be.driver.read("BATCH") == 5
        be.link.ser.write(good[:7])  # the host stops inside a frame
        r = _reply(be)
        assert r.type == link.REPLIES["ERROR"] and r.payload[0] == link.ERR["TRUNCATED"]
        assert be.driver.read("BATCH") == 5
        # the host retries a frame the board rejected unapplied: corrupt the first copy on the wire
        real_write = be.link.ser.write
        flips = {"n": 1}

        def flaky(data):
            if flips["n"]:
                flips["n"] -= 1
                data = bytes(data[:-1]) + bytes([data[-1] ^ 0xFF])
            return real_write(data)

        be.link.ser.write = flaky
        be.driver.write("BATCH", 7)
        be.link.ser.write = real_write
        assert be.link.retried == 1 and be.driver.read("BATCH") == 7


def test_host_that_stops_mid_sample_leaves_a_board_the_next_host_can_use(board):
    net = small_net(4)
    x = random_spikes(np.random.default_rng(4), net, batch=2, rate=0.4)
    be = open_board(board)
    be.load_model(net)
    drv = be.driver
    drv.write("BATCH", 2)
    drv._start(regmap.MODE_RUN)
    words = np.concatenate(protocol.event_packets(x))
    half = words[: words.size // 3]
    be.link.request("EVENTS", link.compact_events(half), expect="ACK")
    be.close()  # gone, mid-sample
    with open_board(board) as be2:  # aborts what the last host left, drops its results
        be2.load_model(net)
        gold = host.open_backend("golden", capacity=CAP)
        gold.load_model(net)
        assert be2.infer_batch(x).differences(gold.infer_batch(x)) == []


def test_core_that_never_finishes_times_out_with_register_state(board):
    with open_board(board) as be:
        be.load_model(small_net(5))
        drv = be.driver
        drv.timeout_s = 1.0
        drv.write("BATCH", 1)
        drv._start(regmap.MODE_RUN)  # no events: the core waits forever
        t0 = time.monotonic()
        with pytest.raises(host.HostError, match=r"did not finish within 1 s; core registers: .*STATUS=\{'busy': 1") as e:
            drv._wait_status("a run without events", lambda st: st["done"])
        assert "core soft-reset" in str(e.value) and time.monotonic() - t0 < 30


def test_board_that_never_answers_times_out():
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    url = f"socket://127.0.0.1:{silent.getsockname()[1]}"
    t0 = time.monotonic()
    with pytest.raises(host.HostError, match=r"no complete reply to INFO .* within 0.5 s \(got nothing\)"):
        host.open_backend("serial", port=url, board="ulx3s-85f", link_timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    silent.close()


def test_eavs_eval_on_the_simulated_board_prints_a_bit_exact_verdict(board, model_and_data, tmp_path):
    import json

    from typer.testing import CliRunner

    from eavs.cli import app

    model, data = model_and_data
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        ["eval", "--model", str(model), "--data", f"npz:{data}", "--split", "all", "--backend", "serial", "--port", board, "--json", str(out)],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "serial back-end on 3 samples: accuracy 1.0000; bit-exact with sw.golden" in result.output
    assert "serial link (measured): " in result.output
    report = json.loads(out.read_text())["backend"]
    assert report == {**report, "kind": "serial", "samples": 3, "accuracy": 1.0, "bit_exact": True}
    assert report["link"]["bytes_out"] > 0 and report["link"]["retried"] == 0


def test_link_bytes_per_inference_measured_on_the_demo_input_shape(board):
    """Bytes over the link for samples of the demo's input shape (576 inputs:
    64 audio + 512 visual, T = 40, 10 % input spikes), measured at the host on
    the simulated board: exactly the hw.spec.link frame arithmetic of the batch's
    frames, and what bench.link_bytes computes to within one frame per sample
    once the per-batch register frames and the extra RECV polls are taken out."""
    from bench.link_bytes import sample_bytes
    from host.serial_backend import _frames
    from sw.qnet import InputGroup, Layer, QNet, Source

    rng = np.random.default_rng(3)

    def w(n_src, n):
        return rng.integers(-7, 8, size=(n_src, n)).astype(np.int8)

    layers = [
        Layer("hidden", 8, [Source("audio", w(64, 8), 4), Source("visual", w(512, 8), 4)], threshold=20, leak_shift=3, reset="subtract", v_bits=16),
        Layer("readout", 8, [Source("hidden", w(8, 8), 4)], 1, 4, "zero", 16, False),
    ]
    net = QNet([f"c{i}" for i in range(8)], 40, [InputGroup("audio", 64), InputGroup("visual", 512)], layers).validate()
    x = (rng.random((2, 40, 576)) < 0.1).astype(np.uint8)
    with open_board(board) as be:
        be.load_model(net)
        before, sent0 = dict(be.link_stats()), dict(be.link.sent)
        got = be.infer_batch(x)
        after = be.link_stats()
        sent = {k: v - sent0.get(k, 0) for k, v in be.link.sent.items() if v != sent0.get(k, 0)}
    gold = host.open_backend("golden", capacity=CAP)
    gold.load_model(net)
    assert got.differences(gold.infer_batch(x)) == []
    out, back = after["bytes_out"] - before["bytes_out"], after["bytes_in"] - before["bytes_in"]
    # the batch's events go as one transfer, framed together (hw.spec.link sizes: 6 bytes of frame per frame)
    frames = _frames(np.concatenate(protocol.event_packets(x)), link.MAX_PAYLOAD)
    n_recv, n_w, n_r = sent.get("RECV", 0), sent.get("WRITE", 0), sent.get("READ", 0)
    assert set(sent) <= {"RECV", "WRITE", "READ", "EVENTS", "EVENTS_LAST"} and sent.get("EVENTS", 0) + sent.get("EVENTS_LAST", 0) == len(frames)
    assert out == sum(6 + len(p) for _, p, _ in frames) + 8 * n_recv + 14 * n_w + 10 * n_r
    assert back == 8 * len(frames) + 6 * n_recv + 5 * protocol.result_words(8) * len(x) + 7 * n_w + 11 * n_r
    # bench.link_bytes (per sample, each framed alone, one RECV) differs from this batch only by framing and polls
    bench = sum(sum(sample_bytes(p, 8)) for p in protocol.event_packets(x))
    core_traffic = out + back - 14 * (n_recv - len(x)) - 21 * (n_w + n_r)
    assert abs(bench - core_traffic) <= 14 * len(x)
    print(f"\nmeasured over the simulated link: {out + back} bytes for {len(x)} inferences of the demo input shape "
          f"({(out + back) / len(x):.0f} per inference: {out / len(x):.0f} to the board, {back / len(x):.0f} back; "
          f"{n_recv} RECV polls, {n_w} register writes and {n_r} reads in the batch)")


def test_eavs_live_on_the_simulated_board_decides_as_golden(board):
    """host.live through the serial back-end (the simulated ULX3S): the same decisions,
    margins and exit steps as on golden, window by window (issue 24)."""
    from host.live import LiveRunner
    from host.live_sources import FakeClock
    from tests.test_live import ListAudio, am_tone, band_model, blocks

    x = np.concatenate([am_tone(1, 1.5, 0), am_tone(3, 1.5, 1)])
    rows = {}
    for kind in ("golden", "serial"):
        with (open_board(board) if kind == "serial" else host.open_backend("golden", capacity=CAP)) as be:
            be.load_model(band_model())
            ds = LiveRunner(be, ListAudio(blocks(x)), window_s=1.0, hop_s=0.5, clock=FakeClock()).run()
        rows[kind] = [(d.t_end_s, d.prediction, d.margin, d.exit_step, d.fault) for d in ds]
    assert len(rows["golden"]) == 5 and rows["serial"] == rows["golden"]
    assert rows["golden"][0][1] == "g1" and rows["golden"][-1][1] == "g3"  # windows inside the first and the second tone
