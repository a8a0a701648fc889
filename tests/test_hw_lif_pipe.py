"""hw.rtl.lif_pipe.LIFPipeLane: the pipelined decay lane against a plain reference
written from the v2 contract's equations, against hand-worked literals, and
against sw.golden.lif_step for the shift leaks every v1 model uses."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.spec import timing
from hw.spec.lif import acc_bits
from hw.rtl.lif_pipe import DECAY_ONE, LIFPipeLane, decay_and_shift, decay_from_shift
from sw.golden import lif_step
from sw.qnet import Layer, QNetError, Source


def ref_update(v, cur, d, vb, thr, subtract, spiking, shift=0):
    """The contract, one neuron, in Python integers (floor shift = ``>>``);
    ``shift`` widens the product's shift (v1 leaks k = 13..15)."""
    x = v - ((v * d) >> (12 + shift)) + cur
    x = max(-(1 << (vb - 1)), min((1 << (vb - 1)) - 1, x))
    spike = bool(spiking) and x >= thr
    return ((x - thr) if subtract else 0) if spike else x, spike


# Worked by hand: 1000*410 = 410000, /4096 = 100.098 -> 100; -410000/4096 floors to -101;
# -7*2048 = -14336, /4096 = -3.5 -> -4 (the same as -7 >> 1).
HAND = [
    # (v, I, d, vb, thr, subtract, spiking) -> (v_next, spike)
    ((1000, 5, 410, 16, 30000, 0, 1), (905, False)),
    ((-1000, 0, 410, 16, 30000, 0, 1), (-899, False)),
    ((-7, 0, 2048, 16, 100, 0, 1), (-3, False)),
    ((100, 0, 0, 16, 100, 1, 1), (0, True)),  # d = 0: IF neuron, v' = 100 >= 100, subtract
    ((100, 50, 4096, 16, 40, 1, 1), (10, True)),  # d = 4096 empties v: v' = 50
    ((32000, 32000, 1, 16, 32767, 0, 0), (32767, False)),  # clamp high, readout never spikes
    ((-32768, -5000, 4095, 16, 1, 0, 1), (-5008, False)),  # -32768*4095/4096 = -32760 exactly: -32768 + 32760 - 5000
    ((-3, 0, 1, 16, 1, 0, 1), (-2, False)),  # -3*1/4096 floors to -1: -3 - (-1) = -2
]


def _run(dut, batches):
    """Drive ``batches`` of inputs (parameters fixed within a batch, random
    idle cycles between neurons); return the outputs in order."""
    got = []
    lat = dut.LATENCY

    async def bench(ctx):
        rng = np.random.default_rng(0)
        for params, items in batches:
            lo, hi, thr, sub, spk, *rest = params
            ctx.set(dut.shift, rest[0] if rest else 0)
            ctx.set(dut.lo, lo)
            ctx.set(dut.hi, hi)
            ctx.set(dut.threshold, thr)
            ctx.set(dut.subtract, sub)
            ctx.set(dut.spiking, spk)
            for name, bound in (("hi", hi), ("lo", lo)):  # the layer's clamped outcomes, from the contract
                fires = bool(spk) and bound >= thr
                ctx.set(getattr(dut, f"{name}_spike"), int(fires))
                ctx.set(getattr(dut, f"{name}_result"), ((bound - thr) if sub else 0) if fires else bound)
            pending = list(items)
            while pending or any_in_flight(ctx):
                if pending and rng.random() < 0.8:
                    v, cur, d, zero_v = pending.pop(0)
                    ctx.set(dut.i_valid, 1)
                    ctx.set(dut.v_in, v)
                    ctx.set(dut.acc, cur)
                    ctx.set(dut.decay, d)
                    ctx.set(dut.zero_v, zero_v)
                else:
                    ctx.set(dut.i_valid, 0)
                    ctx.set(dut.v_in, int(rng.integers(-5, 5)))  # garbage when not valid
                flight.append(ctx.get(dut.i_valid))
                await ctx.tick()
                ov, vo, sp = ctx.get(dut.o_valid), ctx.get(dut.v_out), ctx.get(dut.spike)
                if ov:
                    got.append((vo, bool(sp)))
            ctx.set(dut.i_valid, 0)

    flight: list[int] = []

    def any_in_flight(ctx):
        return any(flight[-lat:]) if flight else False

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


def _hand_batches(V):
    out = []
    for (v, cur, d, vb, thr, sub, spk), _ in HAND:
        assert vb == V
        out.append(((-(1 << (vb - 1)), (1 << (vb - 1)) - 1, thr, sub, spk), [(v, cur, d, 0)]))
    return out


def test_hand_worked_literals():
    V = 16
    dut = LIFPipeLane(V, acc_bits(V, 8, 3000))
    got = _run(dut, _hand_batches(V))
    assert got == [exp for _, exp in HAND]
    for args, exp in HAND:  # the reference agrees with the hand-worked numbers too
        assert ref_update(*args) == exp


@pytest.mark.parametrize("V,wb,events", [(4, 2, 3), (16, 8, 3000), (32, 16, 100000)])
def test_pipe_lane_matches_reference(V, wb, events):
    """Random and edge values, back to back with bubbles, parameters changed
    between batches; decays over the full 0..4096 range."""
    ACC = acc_bits(V, wb, events)
    amax = (1 << (ACC - 1)) - 1
    rng = np.random.default_rng(V)
    batches, expect = [], []
    for _ in range(12):
        vb = int(rng.integers(2, V + 1))
        lo, hi = -(1 << (vb - 1)), (1 << (vb - 1)) - 1
        thr = int(rng.choice([1, hi, max(1, hi // 2), int(rng.integers(1, hi + 1))]))
        sub, spk = int(rng.integers(0, 2)), int(rng.random() < 0.8)
        shift = int(rng.choice([0, 0, 0, 1, 2, 3]))
        items = []
        for _ in range(40):
            v = int(rng.choice([lo, hi, 0, -1, 1, int(rng.integers(lo, hi + 1))]))
            cur = int(rng.choice([0, 1, -1, amax, -amax - 1, hi - v, lo - v - 1, int(rng.integers(-amax - 1, amax + 1)),
                                  int(rng.integers(-4 * hi - 4, 4 * hi + 4))]))
            cur = max(-amax - 1, min(amax, cur))
            d = int(rng.choice([0, 1, DECAY_ONE, DECAY_ONE - 1, DECAY_ONE >> int(rng.integers(1, 16)),
                                int(rng.integers(0, DECAY_ONE + 1))]))
            zero_v = int(rng.random() < 0.1)
            items.append((v, cur, d, zero_v))
            expect.append(ref_update(0 if zero_v else v, cur, d, vb, thr, sub, spk, shift))
        batches.append(((lo, hi, thr, sub, spk, shift), items))
    got = _run(LIFPipeLane(V, ACC), batches)
    assert len(got) == len(expect) == 480
    bad = [(i, g, e) for i, (g, e) in enumerate(zip(got, expect)) if g != e]
    assert not bad, bad[:5]



def shift_leak_step(v: np.ndarray, cur: np.ndarray, k: int, vb: int, thr: int, subtract: bool):
    """The version-1 shift leak written from its equation, for k = 0..15 (a
    .qnet now refuses k > 12, which no 12-bit decay expresses; the lane keeps
    an extra product shift for them): v' = clamp(v - (v >> k) + I), spike,
    reset."""
    vn = v - ((v >> k) if k else 0) + cur
    vn = np.clip(vn, -(1 << (vb - 1)), (1 << (vb - 1)) - 1)
    sp = vn >= thr
    vn = np.where(sp, vn - thr if subtract else 0, vn)
    return vn, sp

def test_shift_decay_equals_golden_shift_leak():
    """d = 4096 >> k reproduces sw.golden's v1 shift leak for every k."""
    rng = np.random.default_rng(3)
    V = 16
    v = rng.integers(-(1 << 15), 1 << 15, 2000)
    cur = rng.integers(-3000, 3000, 2000)
    for k in range(13):
        layer = Layer("x", 1, [Source("i", np.zeros((1, 1), np.int8), 2)], 1000, k, "subtract", V, True)
        vn, sp = lif_step(v.astype(np.int64), cur.astype(np.int64), layer)
        d = decay_from_shift(k)
        ours = [ref_update(int(a), int(c), d, V, 1000, 1, 1) for a, c in zip(v, cur)]
        assert ours == list(zip(vn.tolist(), sp.tolist())), k
    # and the RTL on a slice of them
    batches = []
    expect = []
    for k in (0, 1, 3, 12, 13, 15):
        vn, sp = shift_leak_step(v[:50].astype(np.int64), cur[:50].astype(np.int64), k, V, 1000, True)
        expect += list(zip(vn.tolist(), sp.tolist()))
        d, e = decay_and_shift(k)
        batches.append(((-(1 << 15), (1 << 15) - 1, 1000, 1, 1, e), [(int(a), int(c), d, 0) for a, c in zip(v[:50], cur[:50])]))
    assert _run(LIFPipeLane(V, acc_bits(V, 8, 3000)), batches) == expect


def test_one_neuron_per_cycle_and_latency():
    """Back-to-back inputs come out back to back, exactly LATENCY cycles later."""
    V = 8
    dut = LIFPipeLane(V, acc_bits(V, 4, 10))
    seen = []

    async def bench(ctx):
        ctx.set(dut.lo, -128)
        ctx.set(dut.hi, 127)
        ctx.set(dut.threshold, 127)
        for cyc in range(12):
            ctx.set(dut.i_valid, cyc < 4)
            ctx.set(dut.acc, cyc)
            ctx.set(dut.decay, 0)
            await ctx.tick()
            seen.append((cyc, ctx.get(dut.o_valid), ctx.get(dut.v_out)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # read after tick `cyc`: the neuron that entered at cycle c is out after tick c + LATENCY - 1
    outs = [(c, vo) for c, ov, vo in seen if ov]
    assert outs == [(c + 4 - 1, c) for c in range(4)], "4 stages (hand-counted in hw.rtl.lif_pipe's docstring)"
    assert LIFPipeLane.LATENCY == timing.LIF == 4


def test_validation():
    with pytest.raises(TypeError, match="Membrane width"):
        LIFPipeLane(3, 10)
    with pytest.raises(TypeError, match="Accumulator width"):
        LIFPipeLane(16, 8)
    with pytest.raises(ValueError, match="leak_shift 13 has no exact 12-bit decay"):
        decay_from_shift(13)
    assert [decay_from_shift(k) for k in (0, 1, 2, 12)] == [0, 2048, 1024, 1]


def test_decay_and_shift_covers_every_v1_leak():
    """(d, shift) from decay_and_shift reproduce golden's v >> k for k = 0..15."""
    v = np.arange(-70000, 70000, 7, dtype=np.int64)
    for k in range(16):
        d, e = decay_and_shift(k)
        vn, _ = shift_leak_step(v, np.zeros_like(v), k, 20, 1 << 20, False)
        assert [ref_update(int(a), 0, d, 20, 1 << 20, 0, 1, e)[0] for a in v] == vn.tolist(), k
    assert [decay_and_shift(k) for k in (0, 5, 12, 13, 15)] == [(0, 0), (128, 0), (1, 0), (1, 1), (1, 3)]


def test_shifts_above_12_have_no_exact_decay():
    """Why decay_from_shift refuses k = 13..15: 4096 >> 13 is 0 (no leak),
    but -1 >> 13 is -1, so the v1 leak and the decay disagree at v = -1."""
    assert ref_update(-1, 0, 4096 >> 13, 16, 1000, 0, 1) == (-1, False)
    assert shift_leak_step(np.array([-1]), np.array([0]), 13, 16, 1000, False)[0].tolist() == [0]
    with pytest.raises(QNetError, match="leak_shift 13 has no exact 12-bit decay"):
        Layer("x", 1, [Source("i", np.zeros((1, 1), np.int8), 2)], 1000, 13, "zero", 16, True)


def test_layer_outcomes_match_the_contract():
    """hw.rtl.lif_pipe.layer_outcomes (formed once per layer by the array) against
    the contract's clamp-then-threshold-then-reset, for values clamped to either
    bound: thresholds at the top bound (the equal case), just under it and low."""
    from amaranth import Module, Signal, signed

    from hw.rtl.lif_pipe import layer_outcomes

    V = 8
    m = Module()
    hi, lo, thr = Signal(signed(V)), Signal(signed(V)), Signal(signed(V))
    sub, spk = Signal(), Signal()
    outs = {k: Signal(signed(V)) if k.endswith("result") else Signal() for k in ("hi_spike", "hi_result", "lo_spike", "lo_result")}
    m.d.comb += [outs[k].eq(v) for k, v in layer_outcomes(hi, lo, thr, sub, spk).items()]
    cases = []
    for vb in (2, 5, 8):
        top, bot = (1 << (vb - 1)) - 1, -(1 << (vb - 1))
        for t in sorted({1, top, max(1, top - 1), max(1, top // 2)}):  # thresholds are >= 1 (the lane test's)
            for s in (0, 1):
                for k in (0, 1):
                    cases.append((top, bot, t, s, k))

    async def bench(ctx):
        for top, bot, t, s, k in cases:
            ctx.set(hi, top), ctx.set(lo, bot), ctx.set(thr, t), ctx.set(sub, s), ctx.set(spk, k)
            for name, bound in (("hi", top), ("lo", bot)):
                # a value far beyond the bound, through the contract (ref_update above)
                far = bound + (1000 if name == "hi" else -1000)
                want_v, want_s = ref_update(far, 0, 0, (top + 1).bit_length(), t, s, k)
                assert (ctx.get(outs[f"{name}_result"]), bool(ctx.get(outs[f"{name}_spike"]))) == (want_v, want_s), (name, top, t, s, k)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
