"""hw.rtl.lif_array.LIFArray: P lanes, their layer parameters, the lane-count mask
and the spike-count update, against a plain Python LIF reference written from
the contract's equations (docs/design.md section 3) and against hand-worked
literals; chunks enter back to back and switch layers from one cycle to the
next, as the wave-scheduled core drives them."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.spec import timing
from hw.spec.capacity import Capacity
from hw.rtl.lif_array import LIFArray

CAP = Capacity(lanes=4, max_layers=3, max_neurons=64, max_sources=2, max_inputs=64, v_bits=16, max_timesteps=15)
P, V, CB, DW = CAP.lanes, CAP.v_bits, 4, 15  # 15 steps: 4-bit counts; decay field d [12:0], shift [14:13]

# Three layers: a subtract-reset layer at full width, a zero-reset layer with
# 8-bit membranes (clamped to -128..127) and a non-spiking 12-bit readout.
LAYERS = [
    # (threshold, subtract, spiking, v_bits)
    (100, 1, 1, 16),
    (50, 0, 1, 8),
    (30, 0, 0, 12),
]


def ref_lif(v, cur, d, shift, thr, subtract, spiking, vb):
    """One neuron of the contract in Python integers (``>>`` floors)."""
    x = v - ((v * d) >> (12 + shift)) + cur
    x = max(-(1 << (vb - 1)), min((1 << (vb - 1)) - 1, x))
    spike = bool(spiking) and x >= thr
    return ((x - thr) if subtract else 0) if spike else x, spike


def ref_chunk(chunk):
    """The array's expected outputs for one chunk dict (see ``_chunk``)."""
    thr, sub, spk, vb = LAYERS[chunk["layer"]]
    vs, spikes, counts = [], [], []
    for j in range(P):
        v = 0 if chunk["zero"] else chunk["v"][j]
        v2, s = ref_lif(v, chunk["acc"][j], chunk["d"][j], chunk["shift"][j], thr, sub, spk, vb)
        s = s and j < chunk["lanes"]
        vs.append(v2)
        spikes.append(int(s))
        counts.append(((0 if chunk["zero"] else chunk["c"][j]) + s) % (1 << CB))
    return vs, spikes, counts


def pack(values, width):
    return sum((int(x) & ((1 << width) - 1)) << (i * width) for i, x in enumerate(values))


def unpack(word, width, signed=False):
    out = []
    for i in range(P):
        x = (word >> (i * width)) & ((1 << width) - 1)
        out.append(x - (1 << width) if signed and x >> (width - 1) else x)
    return out


def run(chunks):
    """Drive ``chunks`` (None = an idle cycle) one per cycle; return the
    outputs of every cycle in which ``o_valid`` was high, with the index of
    that cycle. Each chunk's spike counts are presented in its ``o_valid``
    cycle, as the core's count memory delivers them."""
    dut = LIFArray(CAP)
    out = []

    async def bench(ctx):
        for i, (thr, sub, spk, vb) in enumerate(LAYERS):
            ctx.set(dut.ly_thr[i], thr)
            ctx.set(dut.ly_sub[i], sub)
            ctx.set(dut.ly_spk[i], spk)
            ctx.set(dut.ly_vb[i], vb)
        for k in range(len(chunks) + dut.LATENCY + 2):
            ch = chunks[k] if k < len(chunks) else None
            ctx.set(dut.i_valid, ch is not None)
            if ch is not None:
                ctx.set(dut.i_zero, ch["zero"])
                ctx.set(dut.i_lanes, ch["lanes"])
                ctx.set(dut.i_layer, ch["layer"])
                ctx.set(dut.v_word, pack(ch["v"], V))
                ctx.set(dut.d_word, pack([d | s << 13 for d, s in zip(ch["d"], ch["shift"])], DW))
                for j in range(P):
                    ctx.set(dut.acc[j], ch["acc"][j])
            else:  # garbage on the inputs of an idle cycle must not matter
                ctx.set(dut.i_layer, k % len(LAYERS))
                ctx.set(dut.v_word, 0x1234_5678_9ABC_DEF0 & ((1 << (P * V)) - 1))
            back = k - dut.LATENCY
            if ctx.get(dut.o_valid):
                ctx.set(dut.c_word, pack(chunks[back]["c"], CB))
                out.append(
                    (
                        k,
                        unpack(ctx.get(dut.v_word_out), V, signed=True),
                        [(ctx.get(dut.spikes) >> j) & 1 for j in range(P)],
                        unpack(ctx.get(dut.c_word_out), CB),
                    )
                )
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def _chunk(layer, v, acc, d=(0,) * P, shift=(0,) * P, lanes=P, zero=0, c=(0,) * P):
    ints = lambda xs: [int(x) for x in xs]  # noqa: E731 - numpy integers are not Amaranth values
    return {"layer": layer, "v": ints(v), "acc": ints(acc), "d": ints(d), "shift": ints(shift),
            "lanes": lanes, "zero": zero, "c": ints(c)}  # fmt: skip


# Worked by hand, one chunk per layer, entering in consecutive cycles.
HAND = [
    # layer 0 (thr 100, subtract, 16 bits):
    #  lane 0: 1000 - (1000*410 >> 12 = 100) + 5 = 905 >= 100 spikes, 905 - 100 = 805
    #  lane 1: d = 0 (IF): 60 + 39 = 99 < 100, no spike, count 3 stays 3
    #  lane 2: 32000 + 32000 = 64000 clamps to 32767, spikes, 32667
    #  lane 3: 90 + 10 = 100 spikes, 0 -- but lanes = 3: the spike is masked, v still 0
    (
        _chunk(0, [1000, 60, 32000, 90], [5, 39, 32000, 10], d=[410, 0, 0, 0], lanes=3, c=[1, 3, 15, 2]),
        ([805, 99, 32667, 0], [1, 0, 1, 0], [2, 3, 0, 2]),  # lane 2: 15 + 1 wraps in its own 4-bit field
    ),
    # layer 1 (thr 50, zero reset, 8 bits: -128..127):
    #  lane 0: 100 + 50 = 150 clamps to 127, spikes, reset to 0
    #  lane 1: -100 - 100 = -200 clamps to -128
    #  lane 2: -7 - (-7*2048 >> 12 = -4) + 0 = -3
    #  lane 3: 49 + 0 = 49, no spike
    (
        _chunk(1, [100, -100, -7, 49], [50, -100, 0, 0], d=[0, 0, 2048, 0], c=[4, 4, 4, 4]),
        ([0, -128, -3, 49], [1, 0, 0, 0], [5, 4, 4, 4]),
    ),
    # layer 2 (readout: never spikes, 12 bits: -2048..2047), step 0: v and counts read as 0
    #  lane 0: 0 + 3000 clamps to 2047; lane 1: 0 - 3000 clamps to -2048; lane 2: 0 + 31; lane 3: 0
    #  shift = 1 on lane 3 changes nothing at v = 0
    (
        _chunk(2, [500, 500, 500, 500], [3000, -3000, 31, 0], d=[4096, 4096, 4096, 1], shift=[0, 0, 0, 1], zero=1, c=[9, 9, 9, 9]),
        ([2047, -2048, 31, 0], [0, 0, 0, 0], [0, 0, 0, 0]),
    ),
    # layer 0 again, the shift leak: -3 - (-3*1 >> 13 = -1) + 0 = -2; 4000 - (4000 >> 15 = 0) = 4000 spikes -> 3900
    (
        _chunk(0, [-3, 4000, 0, 0], [0, 0, 100, 99], d=[1, 1, 0, 0], shift=[1, 3, 0, 0], c=[0, 0, 0, 0]),
        ([-2, 3900, 0, 99], [0, 1, 1, 0], [0, 1, 1, 0]),
    ),
]


def test_hand_worked_chunks_switch_layers_every_cycle():
    out = run([c for c, _ in HAND])
    assert [k for k, *_ in out] == [4, 5, 6, 7], "a chunk leaves LATENCY = 4 cycles after it enters"
    assert LIFArray.LATENCY == timing.LIF == 4
    for (k, vs, spikes, counts), (_, (ev, es, ec)) in zip(out, HAND):
        assert (vs, spikes, counts) == (ev, es, ec), f"chunk {k - 4}"


def test_reference_matches_the_hand_worked_literals():
    """The plain reference used by the random test agrees with the literals."""
    for chunk, expected in HAND:
        assert ref_chunk(chunk) == expected


def _random_chunks(n, seed):
    rng = np.random.default_rng(seed)
    chunks = []
    for _ in range(n):
        if rng.random() < 0.2:
            chunks.append(None)
            continue
        big = rng.random() < 0.3
        span = 1 << (V + 1) if big else 400
        chunks.append(
            _chunk(
                int(rng.integers(len(LAYERS))),
                rng.integers(-(1 << (V - 1)), 1 << (V - 1), P) if big else rng.integers(-300, 300, P),
                rng.integers(-span, span, P),
                d=rng.integers(0, 4097, P),
                shift=rng.integers(0, 4, P) * (rng.random() < 0.2),
                lanes=int(rng.integers(1, P + 1)),
                zero=int(rng.random() < 0.2),
                c=rng.integers(0, 1 << CB, P),
            )
        )
    return chunks


@pytest.mark.parametrize("seed", [0, 1])
def test_random_chunks_against_the_reference(seed):
    """Back-to-back chunks of random layers, lane counts, step-0 flags,
    decays and currents (with idle cycles between some)."""
    chunks = _random_chunks(300, seed)
    out = run(chunks)
    entered = [k for k, c in enumerate(chunks) if c is not None]
    assert [k - 4 for k, *_ in out] == entered
    for (k, vs, spikes, counts) in out:
        assert (vs, spikes, counts) == ref_chunk(chunks[k - 4]), f"chunk {k - 4}: {chunks[k - 4]}"


def test_rejects_a_non_capacity():
    with pytest.raises(TypeError, match="Capacity"):
        LIFArray({"lanes": 4})
