"""The PYNQ driver on x86: hand-built descriptions, a mock register device
that records the exact bus traffic, a mock DMA, and a stream-level model of
the core (tests/host_fakes.py). Results must equal the golden back-end's.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import host
from host.backend import NoModelError, SpikeShapeError
from host.board import BoardBackend, EavsCoreIP
from host.driver import CoreDriver, CoreError, CoreTimeout, NoCoreError
from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity, CapacityError
from sw.events import END_OF_STEP
from sw.qnet import InputGroup, Layer, QNet, Source
from sw.random_net import random_qnet, random_spikes
from tests.host_fakes import BASE, FakeCore, FakeDMA, FakeOverlay, FakeRegisterDevice, frozen_cycles, np_allocate, plain_sample

# A frozen copy of the register map's facts the driver uses (hw/spec/regmap.py,
# version 1.0), typed by hand: the expected bus traffic below is built from
# these literals, never from the driver's own helpers or from hw.spec.regmap, so
# a driver that swaps two masks or reads the wrong register fails here.
CTRL, STATUS, ERROR, BATCH, SAMPLE_ERRORS = 0x008, 0x00C, 0x010, 0x014, 0x044
START, SOFT_RESET, CLEAR_ERRORS, MODE_LOAD = 0x1, 0x2, 0x4, 0x1 << 3
EVENT_INDEX, START_BUSY = 0x01, 0x10

CAP = Capacity(lanes=4, max_layers=4, max_neurons=32, max_sources=3, max_inputs=64, weight_depth=512, weight_bits=8, v_bits=16, max_timesteps=16)
DMA_TYPE = "xilinx.com:ip:axi_dma:7.1"


def make_board(capacity=CAP, buffer_max_size=(1 << 26) - 1, timeout_s=5.0):
    core = FakeCore(capacity)
    dev = FakeRegisterDevice(core)
    ip = EavsCoreIP({"phys_addr": BASE, "addr_range": regmap.address_span(capacity), "device": dev, "type": regmap.VLNV})
    dma = FakeDMA(core, buffer_max_size)
    ov = FakeOverlay({"eavs/eavs_core_0": (regmap.VLNV, ip), "eavs/axi_dma_0": (DMA_TYPE, dma), "ps7_0": ("xilinx.com:ip:processing_system7:5.5", None)})
    be = BoardBackend(overlay=ov, allocate=np_allocate, timeout_s=timeout_s, board=None)
    return be, core, dev, dma


def writes(dev):
    return [(off, v) for kind, off, v in dev.log if kind == "w"]


def small_net(seed, **kw):
    rng = np.random.default_rng(seed)
    return random_qnet(rng, max_inputs=20, max_neurons=10, weight_bits=8, v_bits=12, **kw), rng


def test_ip_reads_capacity_from_its_registers():
    be, core, dev, _ = make_board()
    assert be.capacity == CAP
    assert be.core.capacity == CAP
    # Identity, version, then every capacity register at the offsets of hw.spec.regmap.
    reads = [off for kind, off, _ in dev.log if kind == "r"]
    assert reads[:2] == [regmap.offset("ID"), regmap.offset("VERSION")]
    assert reads[2 : 2 + len(regmap.CAPACITY_REGISTERS)] == [r.offset for r in regmap.CAPACITY_REGISTERS]
    assert writes(dev) == []
    assert be.core.read_register("ID") == regmap.MAGIC


@pytest.mark.parametrize("seed", range(4))
def test_load_and_run_exact_bus_traffic_and_golden_results(seed):
    net, rng = small_net(seed)
    be, core, dev, dma = make_board()
    dev.log.clear()
    be.load_model(net)
    assert writes(dev) == [(CTRL, CLEAR_ERRORS | MODE_LOAD), (CTRL, START | MODE_LOAD)]
    assert len(dma.sent) == 1
    np.testing.assert_array_equal(dma.sent[0], protocol.pack_model(net, CAP))

    spikes = random_spikes(rng, net, batch=5)
    dev.log.clear()
    dma.sent.clear()
    res = be.infer_batch(spikes)
    assert writes(dev) == [(BATCH, 5), (CTRL, CLEAR_ERRORS), (CTRL, START)]
    # All events in one transfer (TLAST on the last sample's T-th marker), one record per receive.
    assert len(dma.sent) == 1
    np.testing.assert_array_equal(dma.sent[0], np.concatenate(protocol.event_packets(spikes)))
    assert dma.recv_sizes == [protocol.result_words(net.readout.n) * 4] * 5

    gold = host.open_backend("golden", capacity=CAP)
    gold.load_model(net)
    ref = gold.infer_batch(spikes)
    assert res.backend == "board" and ref.backend == "golden"
    assert res.differences(ref) == []
    assert set(res.counters) == {"in_events", "spikes", "synaptic_ops", "exit_step"}
    one = be.infer(spikes[2])
    assert one.prediction == ref.prediction[2] and one.cycles == ref.cycles[2]
    assert one.label == net.classes[one.prediction]
    np.testing.assert_array_equal(one.readout, ref.readout[2])


def test_transfer_limit_splits_batches_at_sample_boundaries():
    net, rng = small_net(7, timesteps=6)
    spikes = random_spikes(rng, net, batch=9, rate=0.3)
    sizes = [p.nbytes for p in protocol.event_packets(spikes)]
    be, core, dev, dma = make_board()
    be.load_model(net)
    dma.buffer_max_size = max(sizes) + 8
    dma.sent.clear()
    res = be.infer_batch(spikes)
    assert len(dma.sent) > 1
    assert all(t.nbytes <= max(sizes) + 8 for t in dma.sent)
    np.testing.assert_array_equal(np.concatenate(dma.sent), np.concatenate(protocol.event_packets(spikes)))
    gold = host.open_backend("golden", capacity=CAP)
    gold.load_model(net)
    assert res.differences(gold.infer_batch(spikes)) == []


def test_model_image_over_transfer_limit_is_refused():
    net, _ = small_net(1)
    be, core, dev, dma = make_board(buffer_max_size=64)
    dev.log.clear()
    with pytest.raises(host.HostError, match="transfer limit.*c_sg_length_width"):
        be.load_model(net)
    assert writes(dev) == []


def test_bitstream_without_core_or_dma():
    core = FakeCore(CAP)
    dma = FakeDMA(core)
    ov = FakeOverlay({"axi_dma_0": (DMA_TYPE, dma), "gpio": ("xilinx.com:ip:axi_gpio:2.0", None)})
    with pytest.raises(NoCoreError, match=r"holds no eavs_core.*axi_dma_0 \(xilinx.com:ip:axi_dma:7.1\), gpio"):
        BoardBackend(overlay=ov, allocate=np_allocate)
    ip = EavsCoreIP({"phys_addr": BASE, "addr_range": 4096, "device": FakeRegisterDevice(core)})
    ov = FakeOverlay({"core": (regmap.VLNV, ip)})
    with pytest.raises(NoCoreError, match="no AXI DMA"):
        BoardBackend(overlay=ov, allocate=np_allocate)
    core.id_value = 0xDEADBEEF
    ov = FakeOverlay({"core": (regmap.VLNV, ip), "dma": (DMA_TYPE, dma)})
    with pytest.raises(NoCoreError, match="ID register reads 0xdeadbeef"):
        BoardBackend(overlay=ov, allocate=np_allocate)
    with pytest.raises(FileNotFoundError, match="bitstream nope.bit not found"):
        BoardBackend("nope.bit")


def test_model_over_capacity_is_refused_before_any_bus_write():
    net, _ = small_net(2)
    be, core, dev, dma = make_board(capacity=CAP.replace(max_neurons=2, max_inputs=3))
    dev.log.clear()
    with pytest.raises(CapacityError, match="max_neurons 2"):
        be.load_model(net)
    assert writes(dev) == [] and dma.sent == []


def test_bad_spikes_and_no_model():
    net, rng = small_net(3)
    be, *_ = make_board()
    with pytest.raises(NoModelError, match="no model loaded on the board back-end"):
        be.infer(np.zeros((net.timesteps, net.n_inputs), np.uint8))
    be.load_model(net)
    T, N = net.timesteps, net.n_inputs
    with pytest.raises(SpikeShapeError, match=rf"must be \[T={T}, N_in={N}\], not shape \[{T}, {N + 1}\]"):
        be.infer(np.zeros((T, N + 1), np.uint8))
    with pytest.raises(SpikeShapeError, match="not shape"):
        be.infer_batch(np.zeros((T, N), np.uint8))
    with pytest.raises(SpikeShapeError, match="dtype float32"):
        be.infer(np.zeros((T, N), np.float32))
    with pytest.raises(SpikeShapeError, match="only 0 and 1, found 2"):
        be.infer(np.full((T, N), 2, np.int64))
    assert len(be.infer_batch(np.zeros((0, T, N), bool))) == 0


def test_core_error_bits_are_decoded():
    net, rng = small_net(4)
    be, core, dev, dma = make_board()
    be.load_model(net)
    core.inject = regmap.field("ERROR", "event_index").mask
    with pytest.raises(CoreError, match=r"flagged 1 of 3 samples \(sample 0: \['event_index'\]") as e:
        be.infer_batch(random_spikes(rng, net, batch=3))
    assert e.value.result.errors.tolist()[0] == regmap.field("ERROR", "event_index").mask
    # Errors are cleared: the next batch runs clean.
    assert be.infer_batch(random_spikes(rng, net, batch=2)).errors.tolist() == [0, 0]


def test_sticky_error_register_is_the_one_read():
    """The driver judges a batch by the sticky ERROR register, not by the
    last sample's SAMPLE_ERRORS: an error in an earlier sample, or one that
    no result record carries (start while busy), must still be reported."""
    net, rng = small_net(4)
    be, core, dev, dma = make_board()
    be.load_model(net)
    core.inject = EVENT_INDEX  # sample 0 of 3 flagged; the last sample is clean
    dev.log.clear()
    with pytest.raises(CoreError, match=r"flagged 1 of 3 samples \(sample 0: \['event_index'\]; ERROR=\['event_index'\]\)"):
        be.infer_batch(random_spikes(rng, net, batch=3))
    reads = [off for kind, off, _ in dev.log if kind == "r"]
    assert ERROR in reads and SAMPLE_ERRORS not in reads
    assert writes(dev)[-1] == (CTRL, CLEAR_ERRORS)
    core.inject_sticky = START_BUSY  # in ERROR only: every record is clean
    with pytest.raises(CoreError, match=r"flagged 0 of 2 samples \(ERROR=\['start_busy'\]\)") as e:
        be.infer_batch(random_spikes(rng, net, batch=2))
    assert e.value.bits == START_BUSY


def test_fake_core_adds_a_repeated_event_twice_with_hand_worked_results():
    """Worked by hand: inputs a, b with weights 3 and 5 into one readout
    neuron (no leak, threshold 100); step 0 sends a, a, b; step 1 sends b.
    Membrane 3 + 3 + 5 = 11, then 11 + 5 = 16; 4 events, 4 SOPs; with P = 4
    one chunk: step 0 latches at cycle 1 and runs 2 + 3 cycles (to 6); step 1
    re-runs the layer, so it waits for step 0's drain (5 + 10 = 15) and runs
    2 + 1 (to 18); the flush waits for 17 + 10 = 27: cycles = 27 + 1 = 28."""
    layer = Layer("out", 1, [Source("x", np.array([[3], [5]]), 8)], 100, 0, spiking=False)
    net = QNet(["only"], 2, [InputGroup("x", 2)], [layer])
    core = FakeCore(CAP)
    core.write(CTRL, START | MODE_LOAD)
    core.stream_in(protocol.pack_model(net, CAP))
    core.write(BATCH, 1)
    core.write(CTRL, START)
    core.stream_in(np.array([0, 0, 1, END_OF_STEP, 1, END_OF_STEP], np.uint32))
    rec = protocol.decode_results(core.results.pop(), 1)
    assert rec.readout.tolist() == [[16]]
    assert (rec.cycles.tolist(), rec.in_events.tolist(), rec.synaptic_ops.tolist()) == ([28], [4], [4])
    assert core.read(STATUS) == 0b1010  # done, model valid (bits 1 and 3)


def test_plain_sample_cycles_are_the_frozen_model():
    """Two layers (n = 5 and 2, P = 4), T = 1, 3 input events, layer 0 spikes
    on all 5 neurons; out runs one wave later (it reads h in the same step).
    Wave 0: h latches at 1, runs 2 + 2 * 3 (to 9); out skips (to 10). Wave 1:
    h skips (to 11); out waits for h's drain (8 + 10 = 18), runs 2 + 5 (to
    25); the flush waits for 24 + 10 = 34: 34 + 1 = 35 cycles."""
    l0 = Layer("h", 5, [Source("x", np.full((3, 5), 10), 8)], 1, 0)
    l1 = Layer("out", 2, [Source("h", np.ones((5, 2), np.int64), 8)], 100, 0, spiking=False)
    net = QNet(["a", "b"], 1, [InputGroup("x", 3)], [l0, l1])
    r = plain_sample(net, np.ones((1, 3), np.int64), 4)
    assert (r["cycles"], r["spikes"], r["synaptic_ops"], r["readout"].tolist()) == (35, 5, 3 * 5 + 5 * 2, [5, 5])


def test_frozen_cycles_with_an_exit_rule_are_the_hand_worked_ones():
    """The fake's frozen cycle model with early exit, against the counts
    worked by hand in tests/test_capacity_cycles.py (inputs a[4] -> h (5) ->
    readout o (3), T = 3, rule min_step 0; events per step [[3, 2], [0, 1],
    [1, 1]]): 42 / 62 / 75 cycles for exit steps 0 / 1 / 2 at P = 4, 56 for
    an exit at 0 at P = 1, 60 at P = 4 without a rule."""
    import dataclasses

    from sw.qnet import ExitRule

    h = Layer("h", 5, [Source("a", np.ones((4, 5), np.int8), 4)], 3, 1)
    o = Layer("o", 3, [Source("h", np.ones((5, 3), np.int8), 4)], 3, 1, spiking=False)
    plain = QNet(["x", "y", "z"], 3, [InputGroup("a", 4)], [h, o])
    ruled = dataclasses.replace(plain, exit=ExitRule(margin=1, min_step=0))
    ev = [[3, 2], [0, 1], [1, 1]]
    assert [frozen_cycles(ruled, ev, 4, x) for x in (0, 1, 2)] == [42, 62, 75]
    assert frozen_cycles(ruled, ev, 1, 0) == 56 and frozen_cycles(plain, ev, 4) == 60


@pytest.mark.parametrize("seed", range(3))
def test_early_exit_models_on_the_board_equal_golden(seed):
    """A model with an exit rule on the board back-end (the fake core runs the
    rule from the image's header words): exit steps, cycles, counters and
    readouts equal the golden back-end's, and some samples do exit early."""
    import dataclasses

    from sw import golden
    from sw.qnet import ExitRule

    net, rng = small_net(10 + seed, timesteps=8)
    spikes = random_spikes(rng, net, batch=8)
    q = golden.run(net, spikes).readout_steps  # [B, T, n]: pick a margin some samples clear early
    net = dataclasses.replace(net, exit=ExitRule(int(np.median(golden.margins(q[:, 2]))), 1))
    be, core, dev, dma = make_board()
    be.load_model(net)
    res = be.infer_batch(spikes)
    gold = host.open_backend("golden", capacity=CAP)
    gold.load_model(net)
    ref = gold.infer_batch(spikes)
    assert res.differences(ref) == []
    assert (res.counters["exit_step"] < net.timesteps - 1).any() and (res.counters["exit_step"] >= 1).all()


def test_refused_model_is_reported():
    net, _ = small_net(5)
    be, core, dev, dma = make_board()
    real = core.stream_in

    def corrupt(words):
        words = words.copy()
        words[-1] ^= 1  # checksum
        real(words)

    core.stream_in = corrupt
    with pytest.raises(CoreError, match=r"refused the model: error bits \['bad_model'\]"):
        be.load_model(net)


def test_core_that_never_finishes_times_out_with_register_state():
    net, rng = small_net(6)
    be, core, dev, dma = make_board(timeout_s=0.3)
    be.load_model(net)
    core.hang = True
    t0 = time.monotonic()
    dev.log.clear()
    with pytest.raises(CoreTimeout, match=r"sample 0 of 2 .* within 0.3 s; core registers: CTRL=0, STATUS=\{'busy': 1, 'done': 0") as e:
        be.infer_batch(random_spikes(rng, net, batch=2))
    assert writes(dev)[-1] == (CTRL, SOFT_RESET | CLEAR_ERRORS)
    assert time.monotonic() - t0 < 3
    assert "core soft-reset, DMA sendchannel restarted, DMA recvchannel restarted" in str(e.value)
    core.hang = False
    assert len(be.infer_batch(random_spikes(rng, net, batch=1))) == 1
    core.busy = True
    with pytest.raises(host.HostError, match="eavs_core is busy; not starting"):
        be.infer_batch(random_spikes(rng, net, batch=1))


def test_driver_validates_timeout():
    core = FakeCore(CAP)
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        CoreDriver(None, None, np_allocate, timeout_s=0)


def test_open_backend_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown back-end 'fpga'; choose one of board, rtl, golden"):
        host.open_backend("fpga")


def test_host_imports_no_torch_or_amaranth():
    code = (
        "import sys, host, host.backend, host.results, host.driver, host.board, host.golden_backend, host.energy, host.rtl\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'amaranth', 'brevitas'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
