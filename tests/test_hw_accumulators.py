"""hw.rtl.accumulators.SynapseAccumulators against hand-worked literals and a plain
Python model of the two stages.

The model (written from the core's I3/I4 description, not from the RTL):
``wgt`` is the previous cycle's weight word, cut into signed lanes; at the
clock edge ``load`` sets ``acc = bias + (wgt if valid else 0)``, else
``valid`` adds ``wgt``, else ``acc`` holds; ``sops_inc`` is ``lanes`` when
``valid`` in the same cycle, else 0. Inputs are random each cycle (including
garbage words and biases on cycles that do not use them) with weights and
biases drawn often at the widths' extremes.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.rtl.accumulators import SynapseAccumulators
from hw.spec.lif import acc_bits


def pack(values, bits):
    """Lane j's value (two's complement) at bits [j*bits, (j+1)*bits)."""
    word = 0
    for j, v in enumerate(values):
        word |= (v & ((1 << bits) - 1)) << (j * bits)
    return word


def run(dut, cycles):
    """Drive one ``dict`` of inputs per cycle; return, per cycle, the
    ``sops_inc`` seen before the edge and the accumulators after it."""
    out = []

    async def bench(ctx):
        for c in cycles:
            ctx.set(dut.w_word, pack(c["w"], dut.weight_bits))
            ctx.set(dut.bias_word, pack(c["bias"], dut.v_bits))
            ctx.set(dut.load, c["load"])
            ctx.set(dut.valid, c["valid"])
            ctx.set(dut.lanes, c["lanes"])
            inc = ctx.get(dut.sops_inc)
            await ctx.tick()
            out.append((inc, [ctx.get(a) for a in dut.acc]))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def model(cycles, lanes):
    """The reference: (sops_inc, acc after the edge) per cycle."""
    wgt = [0] * lanes  # the row register starts at 0
    acc = [0] * lanes
    out = []
    for c in cycles:
        inc = c["lanes"] if c["valid"] else 0
        if c["load"]:
            acc = [b + (w if c["valid"] else 0) for b, w in zip(c["bias"], wgt)]
        elif c["valid"]:
            acc = [a + w for a, w in zip(acc, wgt)]
        wgt = list(c["w"])  # registered at the same edge: used from the next cycle on
        out.append((inc, acc))
    return out


def cyc(w, bias, load, valid, lanes):
    return {"w": w, "bias": bias, "load": load, "valid": valid, "lanes": lanes}


# Worked by hand: P = 2, WB = 4 (weights -8..7), V = 6 (biases -32..31), ACC = 8.
# Row 1 = (7, -8) is presented in cycle 0 and registered; cycle 1 loads the
# biases (31, -32) together with it: (38, -40). Cycle 1 also presents
# row 2 = (-8, 7), added in cycle 2: (30, -33). Cycle 3 is a bubble (not
# valid: holds, and its row (5, 5) is never added even though it is
# registered in cycle 3). Cycle 4 loads (-1, 2) with valid low: a chunk
# without events, bias alone: (-1, 2); the row (5, 5) is dropped. Cycle 5
# adds (3, 3), presented in cycle 4: (2, 5).
HAND_CYCLES = [
    cyc((7, -8), (0, 0), 0, 0, 2),
    cyc((-8, 7), (31, -32), 1, 1, 2),
    cyc((1, 1), (9, 9), 0, 1, 1),
    cyc((5, 5), (9, 9), 0, 0, 2),
    cyc((3, 3), (-1, 2), 1, 0, 2),
    cyc((0, 0), (9, 9), 0, 1, 2),
]
HAND_EXPECT = [(0, [0, 0]), (2, [38, -40]), (1, [30, -33]), (0, [30, -33]), (0, [-1, 2]), (2, [2, 5])]


def test_hand_worked_literals():
    dut = SynapseAccumulators(2, 4, 6, 8)
    assert run(dut, HAND_CYCLES) == HAND_EXPECT
    assert model(HAND_CYCLES, 2) == HAND_EXPECT  # the model agrees with the hand too


def extreme(rng, bits):
    """A signed value of ``bits``, at an extreme (or -1, 0, 1) half the time."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if rng.random() < 0.5:
        return int(rng.choice([lo, hi, lo + 1, hi - 1, -1, 0, 1])) if bits > 1 else int(rng.choice([lo, hi]))
    return int(rng.integers(lo, hi + 1))


def random_cycles(rng, P, WB, V, max_events, n=400):
    """Random load/valid sequences; at most ``max_events`` accumulates between
    loads (the core's bound, which ``acc_bits`` is sized for), with runs of
    all-max and all-min rows so the sums reach the accumulator's range."""
    cycles, since_load, run_sign = [], 0, 0
    for _ in range(n):
        if rng.random() < 0.05:
            run_sign = int(rng.choice([-1, 0, 1]))
        if run_sign:
            lo, hi = -(1 << (WB - 1)), (1 << (WB - 1)) - 1
            w = [hi if run_sign > 0 else lo] * P
        else:
            w = [extreme(rng, WB) for _ in range(P)]
        bias = [extreme(rng, V) for _ in range(P)]
        valid = int(rng.random() < 0.7)
        load = int(rng.random() < 0.1 or since_load + valid > max_events)
        since_load = valid if load else since_load + valid
        cycles.append(cyc(w, bias, load, valid, int(rng.integers(0, P + 1))))
    return cycles


@pytest.mark.parametrize("P,WB,V,events", [(1, 2, 4, 3), (4, 8, 16, 30), (8, 16, 32, 50), (3, 4, 8, 1)])
def test_matches_model(P, WB, V, events):
    ACC = acc_bits(V, WB, events)
    rng = np.random.default_rng(P * 1000 + WB)
    cycles = random_cycles(rng, P, WB, V, events)
    got = run(SynapseAccumulators(P, WB, V, ACC), cycles)
    expect = model(cycles, P)
    lo, hi = -(1 << (ACC - 1)), (1 << (ACC - 1)) - 1
    assert all(lo <= a <= hi for _, accs in expect for a in accs), "the model left the accumulator's range"
    assert max(abs(a) for _, accs in expect for a in accs) > (1 << (max(V, WB) - 1)), "sums never left a lane's width"
    for i, (g, e) in enumerate(zip(got, expect)):
        assert g == e, f"cycle {i}: {cycles[i]} -> got {g}, expected {e}"


@pytest.mark.parametrize(
    "args,msg",
    [
        ((0, 8, 16, 20), "Lane count must be a positive integer, not 0"),
        ((4, 0, 16, 20), "Weight width must be a positive integer, not 0"),
        ((4, 8, True, 20), "Bias width must be a positive integer, not True"),
        ((4, 8, 16, 16), "Accumulator width must be an integer >= 17 (bias + weight), not 16"),
    ],
)
def test_rejects_bad_parameters(args, msg):
    with pytest.raises(TypeError) as e:
        SynapseAccumulators(*args)
    assert str(e.value) == msg
