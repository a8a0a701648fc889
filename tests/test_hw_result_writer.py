"""hw.rtl.result_writer.ResultWriter against a plain Python model.

The model: argmax written as a loop (the lowest index wins ties), the record
laid out from literal header positions (word 0 magic 0xE5A5 << 16 | n_out,
then errors, prediction, cycles, in_events, spikes, sops, exit step, then the values as
32-bit two's complement), and ``hw.spec.protocol.decode_results`` as a second,
independent decoder. The writer reads real synchronous memories (a harness
holds the membrane and spike-count memories), and the sink's ready is random.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import Elaboratable, Module, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.spec import protocol
from hw.spec.capacity import Capacity
from hw.rtl.result_writer import ResultWriter

HEADER = {"sample_errors": 0xA5, "cycles": 123456, "in_events": 789, "spikes": 4242, "sops": 0xDEADBEEF, "exit_step": 37}


def ref_argmax(values):
    """Index of the largest value; the lowest such index on ties."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def ref_record(values, header=HEADER):
    """The record's words, positions written out literally."""
    n = len(values)
    words = [
        0xE5A5 << 16 | n,
        header["sample_errors"],
        ref_argmax(values),
        header["cycles"],
        header["in_events"],
        header["spikes"],
        header["sops"],
        header["exit_step"],
    ]
    return words + [v & 0xFFFFFFFF for v in values]


def pack(values, lanes, bits, base, depth):
    """Memory words: neuron i at word base + i // lanes, lane i % lanes."""
    words = [0] * depth
    for i, v in enumerate(values):
        words[base + i // lanes] |= (v & ((1 << bits) - 1)) << (bits * (i % lanes))
    return words


class Harness(Elaboratable):
    """The writer reading membrane and spike-count memories (read synchronously, as in the core)."""

    def __init__(self, cap, v_init, c_init):
        self.dut = ResultWriter(cap)
        self.cap, self.v_init, self.c_init = cap, v_init, c_init

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        md = protocol.membrane_depth(self.cap)
        for name, init, data in (("vmem", self.v_init, dut.v_data), ("cmem", self.c_init, dut.c_data)):
            mem = Memory(shape=unsigned(len(data)), depth=md, init=init)
            m.submodules[name] = mem
            rd = mem.read_port()
            m.d.comb += [rd.addr.eq(dut.mem_addr), data.eq(rd.data)]
        return m


def run_writer(cap, samples, *, seed=0, ready_p=0.6, abort_at=None):
    """Send one record per sample ``(values, rspk, out_mbase, junk)``, back to
    back on one writer; the memory not read holds ``junk`` at the same words.
    Returns, per sample, the words accepted, the cycle (after start) of the
    first valid word, the cycles where ``done`` was high, and the READOUT
    window's contents after the record."""
    P, V = cap.lanes, cap.v_bits
    md = protocol.membrane_depth(cap)
    cb = cap.max_timesteps.bit_length()  # a count 0..T
    v_init, c_init = [0] * md, [0] * md
    for values, rspk, base, junk in samples:
        mem_vals, cnt_vals = (junk, values) if rspk else (values, junk)
        for dst, vals, bits in ((v_init, mem_vals, V), (c_init, cnt_vals, cb)):
            for a, w in enumerate(pack(vals, P, bits, base, md)):
                dst[a] |= w
    h = Harness(cap, v_init, c_init)
    dut = h.dut
    out = []
    rng = np.random.default_rng(seed)

    async def one(ctx, values, rspk, base):
        res = {}
        n = len(values)
        ctx.set(dut.n_out, n)
        ctx.set(dut.out_mbase, base)
        ctx.set(dut.rspk, rspk)
        for k, v in HEADER.items():
            ctx.set(getattr(dut, k), v)
        assert not ctx.get(dut.busy)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        words, lasts, dones, first = [], [], [], None
        for cyc in range(1, 40 * (n + 8)):
            assert ctx.get(dut.busy)
            if abort_at is not None and cyc == abort_at:
                ctx.set(dut.abort, 1)
                await ctx.tick()
                ctx.set(dut.abort, 0)
                res.update(aborted_busy=ctx.get(dut.busy), aborted_valid=ctx.get(dut.m_axis.tvalid), words=words)
                return res
            ready = int(rng.random() < ready_p)
            ctx.set(dut.m_axis.tready, ready)
            valid = ctx.get(dut.m_axis.tvalid)
            if valid and first is None:
                first = cyc
            if ctx.get(dut.done):
                dones.append(cyc)
            if valid and ready:
                words.append(ctx.get(dut.m_axis.tdata))
                lasts.append(ctx.get(dut.m_axis.tlast))
            await ctx.tick()
            if lasts and lasts[-1]:
                break
        ctx.set(dut.m_axis.tready, 0)
        res.update(words=words, lasts=lasts, dones=dones, first=first, busy_after=ctx.get(dut.busy),
                   valid_after=ctx.get(dut.m_axis.tvalid), prediction=ctx.get(dut.prediction),
                   last_cycle=cyc)  # fmt: skip
        window = []
        for i in range(n):
            ctx.set(dut.win_addr, i)
            await ctx.tick()
            window.append(ctx.get(dut.win_data))
        res["window"] = window
        return res

    async def bench(ctx):
        for values, rspk, base, _junk in samples:
            out.append(await one(ctx, values, rspk, base))
            if abort_at is not None:
                return

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


def check(res, values):
    n = len(values)
    expect = ref_record(values)
    assert res["words"] == expect
    assert res["lasts"] == [0] * (len(expect) - 1) + [1]
    # the scan is n_out + 1 cycles after the start cycle, as in the monolithic core
    assert res["first"] == n + 2
    assert res["dones"] == [res["last_cycle"]]  # high once: in the last word's accept cycle
    assert not res["busy_after"] and not res["valid_after"]
    assert res["prediction"] == ref_argmax(values)
    assert res["window"] == [v & 0xFFFFFFFF for v in values]
    dec = protocol.decode_results(np.array(res["words"], dtype=np.uint32), n)
    assert dec.readout.tolist() == [values] and dec.prediction.tolist() == [ref_argmax(values)]
    assert (dec.errors.tolist(), dec.cycles.tolist(), dec.synaptic_ops.tolist()) == ([0xA5], [123456], [0xDEADBEEF])


CAP = Capacity(lanes=4, max_layers=2, max_neurons=16, max_sources=2, max_inputs=16, weight_depth=64, max_timesteps=8)


def test_hand_worked_membranes_ties_and_negatives():
    """10 outputs (not a multiple of P = 4) from word 3: the maximum 7 is at
    neurons 2 and 8, so the prediction is 2; negatives sign-extend to 32 bits."""
    values = [-5, 3, 7, -32768, 0, -1, 0, -1, 7, -2]
    assert ref_argmax(values) == 2
    (res,) = run_writer(CAP, [(values, 0, 3, [9] * 10)])
    check(res, values)
    assert res["words"][2] == 2 and res["words"][8 + 3] == 0xFFFF8000


def test_all_negative_winner_last():
    """Every membrane negative, the largest one last (a first-value compare of 0 would pick neuron 0)."""
    values = [-300, -200, -100, -7, -6, -5]
    (res,) = run_writer(CAP, [(values, 0, 0, [0] * 6)], seed=3)
    check(res, values)
    assert res["words"][2] == 5


def test_spike_count_readout():
    """rspk = 1: the counts are read from the count memory (4 bits at T = 8),
    never the membranes; the maximum 8 is at 5 and 9: prediction 5."""
    counts = [0, 3, 7, 2, 0, 8, 1, 1, 0, 8, 4]
    junk = [30000] * len(counts)  # membranes far larger than any count
    (res,) = run_writer(CAP, [(counts, 1, 1, junk)], seed=1)
    check(res, counts)
    assert res["words"][2] == 5


@pytest.mark.parametrize("lanes", [1, 3, 8])
def test_random_values_any_lanes(lanes):
    cap = Capacity(lanes=lanes, max_layers=4, max_neurons=16, max_sources=2, max_inputs=16, weight_depth=64,
                   max_timesteps=8)  # fmt: skip
    rng = np.random.default_rng(lanes)
    samples = []
    base = 0
    for n in (1, 16, 5, 7):  # back to back, each record from its own words
        rspk = int(rng.integers(0, 2))
        hi = 9 if rspk else 1 << 15
        values = [int(x) for x in rng.integers(0 if rspk else -hi, hi, n)]
        if n > 2:
            values[-1] = values[1] = max(values)  # a tie
        samples.append((values, rspk, base, [int(x) for x in rng.integers(0, 9, n)]))
        base += (n + lanes - 1) // lanes
    assert base <= protocol.membrane_depth(cap)
    for res, (values, *_rest) in zip(run_writer(cap, samples, seed=lanes, ready_p=0.4), samples):
        check(res, values)


def test_full_ready_back_to_back_words():
    """tready always high: the record goes out one word per cycle."""
    values = [1, 2, 3]
    (res,) = run_writer(CAP, [(values, 0, 0, [0, 0, 0])], ready_p=1.1)
    check(res, values)
    assert res["last_cycle"] == 3 + 2 + 8 + 3 - 1  # first word at n + 2, then 11 words (8 header + 3)


def test_abort_returns_to_idle():
    """A soft reset mid-record (cycle 8: header words going out) stops the stream at once."""
    (res,) = run_writer(CAP, [([1, 2, 3], 0, 0, [0, 0, 0])], abort_at=8, ready_p=1.1)
    assert res["words"] and not res["aborted_busy"] and not res["aborted_valid"]


def test_rejects_non_capacity():
    with pytest.raises(TypeError, match="Capacity"):
        ResultWriter(8)
