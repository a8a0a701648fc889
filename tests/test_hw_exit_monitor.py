"""hw.rtl.exit_monitor against a plain model of the early-exit rule.

The plain model is written here from the rule's text (docs/design.md section 10):
margin = largest minus second-largest value (a tie gives 0; one output, 0),
exit at the first step t with min_step <= t <= T-2 and margin >= M. The
monitor is driven as the core drives it: ``expect`` when a readout step's last
chunk is issued, then the step's chunks as the LIF array writes them back
(P lanes, the last chunk partial), back to back or with gaps.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.rtl.exit_monitor import ExitMonitor
from hw.spec.capacity import Capacity, exit_monitor_latency
from tests.reference import plain_margin


def plain_exit(steps: list[list[int]], margin: int, min_step: int) -> int:
    """The exit step of a sample whose readout values after each step are ``steps``."""
    T = len(steps)
    for t, q in enumerate(steps):
        if min_step <= t <= T - 2 and plain_margin(q) >= margin:
            return t
    return T - 1


def _word(values: list[int], bits: int) -> int:
    return sum((v & ((1 << bits) - 1)) << (bits * j) for j, v in enumerate(values))


def run_monitor(cap: Capacity, samples, gap_rng=None):
    """Drive ``samples`` [(steps, margin, min_step, rspk)]; per sample return
    (exit_step reported, decided step, the cycles from each may-end step's
    last chunk to ``wait`` falling)."""
    dut = ExitMonitor(cap)
    P, V, CB = cap.lanes, cap.v_bits, dut.count_bits
    out = []

    async def bench(ctx):
        for steps, margin, min_step, rspk in samples:
            T = len(steps)
            ctx.set(dut.timesteps, T)
            ctx.set(dut.margin, margin)
            ctx.set(dut.min_step, min_step)
            ctx.set(dut.rspk, rspk)
            ctx.set(dut.begin, 1)
            await ctx.tick()
            ctx.set(dut.begin, 0)
            waits, decided = [], T - 1
            for t, q in enumerate(steps):
                ctx.set(dut.expect, 1)
                may = min_step <= t <= T - 2
                assert ctx.get(dut.wait) == int(may), (t, "wait in the expect cycle")
                await ctx.tick()
                ctx.set(dut.expect, 0)
                for _ in range(int(gap_rng.integers(0, 4)) if gap_rng is not None else 0):
                    await ctx.tick()
                chunks = [q[i : i + P] for i in range(0, len(q), P)]
                for c, vals in enumerate(chunks):
                    pad = vals + [0x5A5A & ((1 << (CB if rspk else V)) - 1)] * (P - len(vals))  # junk in unused lanes
                    word = _word(pad, CB if rspk else V)
                    ctx.set(dut.i_c if rspk else dut.i_v, word)
                    ctx.set(dut.i_v if rspk else dut.i_c, _word([-1] * P, V) if rspk else 0)  # the other memory: junk
                    ctx.set(dut.i_valid, 1)
                    ctx.set(dut.i_first, c == 0)
                    ctx.set(dut.i_last, c == len(chunks) - 1)
                    ctx.set(dut.i_lanes, len(vals))
                    await ctx.tick()
                ctx.set(dut.i_valid, 0)
                n = 0
                while ctx.get(dut.wait):
                    await ctx.tick()
                    n += 1
                if may:
                    waits.append(n + 1)  # counted from the last chunk's write-back cycle
                if ctx.get(dut.exit):
                    decided = t
                    break
            out.append((ctx.get(dut.exit_step), decided, waits))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_plain_model_hand_worked():
    assert plain_margin([3, 9, 4]) == 5 and plain_margin([7, 2, 7]) == 0 and plain_margin([-4]) == 0
    assert plain_margin([-3, -9]) == 6
    steps = [[1, 2, 3], [0, 9, 4], [9, 0, 0], [5, 5, 5]]
    assert plain_exit(steps, 5, 0) == 1 and plain_exit(steps, 5, 2) == 2 and plain_exit(steps, 10, 0) == 3


def test_hand_worked_membranes_and_latency():
    """P = 4, 6 outputs (chunks of 4 and 2; junk in the padding lanes must not
    count). Step 0: [-7, 3, 3, -100, 0, 1] margin 0; step 1: [1, 2, 30, 4,
    29, -5] margin 1; step 2: [2, 40, 1, -8, 0, 12] margin 28 >= 20: exit at
    step 2. The decision is visible 1 + ceil(log2 4) + 2 = 5 cycles after the
    last chunk's write-back (input register, two tree levels, running pair,
    compare)."""
    cap = Capacity(lanes=4, max_timesteps=8)
    steps = [[-7, 3, 3, -100, 0, 1], [1, 2, 30, 4, 29, -5], [2, 40, 1, -8, 0, 12], [0] * 6, [0] * 6]
    ((got, decided, waits),) = run_monitor(cap, [(steps, 20, 0, 0)])
    assert (got, decided) == (2, 2)
    assert waits == [5, 5, 5]
    assert exit_monitor_latency(4) == 5 and exit_monitor_latency(1) == 3 and exit_monitor_latency(8) == 6


def test_min_step_and_last_step_never_wait():
    """Margins are large everywhere, but min_step 3: steps 0-2 neither wait nor
    exit; step 3 exits. With min_step = T-1 (a model without a rule) nothing
    ever waits and the sample runs to T-1."""
    cap = Capacity(lanes=2, max_timesteps=8)
    steps = [[100, 0, 1]] * 6
    (a, b) = run_monitor(cap, [(steps, 1, 3, 0), (steps, 0, 5, 0)])
    assert a == (3, 3, [4])  # 1 + ceil(log2 2) + 2 cycles
    assert b == (5, 5, [])


@pytest.mark.parametrize("lanes", [1, 3, 4, 8])
def test_random_against_plain_model(lanes):
    cap = Capacity(lanes=lanes, v_bits=12, max_timesteps=15)
    rng = np.random.default_rng(lanes)
    samples, want = [], []
    for _ in range(12):
        T = int(rng.integers(1, 9))
        n = int(rng.integers(1, 11))
        rspk = int(rng.integers(0, 2))
        lo, hi = (0, 16) if rspk else (-2048, 2048)
        steps = [[int(x) for x in rng.integers(lo, hi, n)] for _ in range(T)]
        if n > 1 and rng.random() < 0.3:  # ties at the top
            for q in steps:
                q[-1] = max(q)
        margin = int(rng.choice([0, 1, 3, 8, 100, 1000, 5000]))
        min_step = int(rng.integers(0, T))
        samples.append((steps, margin, min_step, rspk))
        want.append(plain_exit(steps, margin, min_step))
    got = run_monitor(cap, samples, gap_rng=rng)
    assert [g[1] for g in got] == want
    assert [g[0] for g in got] == want  # exit_step: the last step written back
    assert any(w < len(s[0]) - 1 for w, s in zip(want, samples)), "no sample exited early: the test would not test the exit"
    assert all(w == exit_monitor_latency(lanes) for g in got for w in g[2])


def test_wide_core_compares_sixteen_lanes():
    """P = 32 > EXIT_LANES = 16: the tree compares a chunk's first 16 lanes
    (junk in lanes 16..31 must not count), so the decision is visible
    1 + ceil(log2 16) + 2 = 7 cycles after the write-back, not 8."""
    cap = Capacity(lanes=32, v_bits=12, max_timesteps=15)
    rng = np.random.default_rng(32)
    samples, want = [], []
    for _ in range(8):
        T, n = int(rng.integers(2, 7)), int(rng.integers(2, 17))
        steps = [[int(x) for x in rng.integers(-2048, 2048, n)] for _ in range(T)]
        margin = int(rng.choice([0, 100, 1000]))
        samples.append((steps, margin, 0, 0))
        want.append(plain_exit(steps, margin, 0))
    got = run_monitor(cap, samples)
    assert [g[1] for g in got] == want
    assert all(w == 7 for g in got for w in g[2]) and any(g[2] for g in got)
    assert exit_monitor_latency(32) == 7 and exit_monitor_latency(16) == 7 and exit_monitor_latency(64) == 7
