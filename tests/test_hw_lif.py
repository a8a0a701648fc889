"""hw.lif.LIFLane against sw.golden.lif_step, including the saturation edges."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.lif import LIFLane, acc_bits
from sw.golden import lif_step
from sw.qnet import Layer, Source


def _layer(vb, k, reset, spiking, thr):
    return Layer("x", 1, [Source("i", np.zeros((1, 1), np.int8), 2)], thr, k, reset, vb, spiking)


def _vectors(rng, V, ACC, n):
    """Random and edge-case (v, I, vb, k, reset, spiking, thr, zero_v) tuples."""
    out = []
    for _ in range(n):
        vb = int(rng.integers(2, V + 1))
        lo, hi = -(1 << (vb - 1)), (1 << (vb - 1)) - 1
        v = int(rng.choice([lo, hi, 0, -1, 1, int(rng.integers(lo, hi + 1))]))
        amax = (1 << (ACC - 1)) - 1
        cur = int(rng.choice([0, 1, -1, amax, -amax - 1, hi - v, hi - v + 1, lo - v, lo - v - 1,
                              int(rng.integers(-amax - 1, amax + 1)), int(rng.integers(-4 * hi - 4, 4 * hi + 4))]))
        cur = max(-amax - 1, min(amax, cur))
        thr = int(rng.choice([1, hi, max(1, hi // 2), int(rng.integers(1, hi + 1)) if hi >= 1 else 1]))
        thr = max(1, min(hi, thr)) if hi >= 1 else 1
        out.append((v, cur, vb, int(rng.integers(0, 13)), str(rng.choice(["zero", "subtract"])),
                    bool(rng.random() < 0.8), thr, bool(rng.random() < 0.1)))
    return out


@pytest.mark.parametrize("V,wb,events", [(4, 2, 3), (16, 8, 3000), (32, 16, 100000)])
def test_lif_lane_matches_golden(V, wb, events):
    ACC = acc_bits(V, wb, events)
    dut = LIFLane(V, ACC)
    rng = np.random.default_rng(V)
    vecs = [v for v in _vectors(rng, V, ACC, 600) if v[2] >= 2 and (1 << (v[2] - 1)) - 1 >= 1]
    mismatches = []

    async def bench(ctx):
        for v, cur, vb, k, reset, spiking, thr, zero_v in vecs:
            ctx.set(dut.v_in, v)
            ctx.set(dut.zero_v, zero_v)
            ctx.set(dut.acc, cur)
            ctx.set(dut.leak_shift, k)
            ctx.set(dut.lo, -(1 << (vb - 1)))
            ctx.set(dut.hi, (1 << (vb - 1)) - 1)
            ctx.set(dut.threshold, thr)
            ctx.set(dut.subtract, reset == "subtract")
            ctx.set(dut.spiking, spiking)
            got = (ctx.get(dut.v_out), bool(ctx.get(dut.spike)))
            vn, sp = lif_step(np.array([0 if zero_v else v], np.int64), np.array([cur], np.int64),
                              _layer(vb, k, reset, spiking, thr))
            if got != (int(vn[0]), bool(sp[0])):
                mismatches.append(((v, cur, vb, k, reset, spiking, thr, zero_v), got, (int(vn[0]), bool(sp[0]))))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert len(vecs) > 400
    assert not mismatches, mismatches[:5]


def test_lif_lane_validates_widths():
    with pytest.raises(TypeError, match="Membrane width"):
        LIFLane(3, 10)
    with pytest.raises(TypeError, match="Accumulator width"):
        LIFLane(16, 8)
    with pytest.raises(ValueError, match="max_events"):
        acc_bits(16, 8, 0)


def test_acc_bits_holds_the_worst_case():
    for V, wb, ev in [(4, 2, 1), (16, 8, 3 * 1024), (16, 16, 65536 * 3)]:
        worst = (1 << (V - 1)) + ev * (1 << (wb - 1))
        assert worst <= (1 << (acc_bits(V, wb, ev) - 1)) - 1


def test_core_validates_capacity():
    from hw.core import EAVSCore

    with pytest.raises(TypeError, match="hw.capacity.Capacity"):
        EAVSCore({"lanes": 8})
