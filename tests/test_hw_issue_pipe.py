"""hw.rtl.issue_pipe.IssuePipeline against a plain model of I0-I4, written
from the core's description (not the RTL):

* an issue in cycle i of walker position (s, j, k) reads the event list at
  ``gbase[s] + k`` or the spike queue at ``qbase[s] + k`` (I0);
* in cycle i + 2 the weight address is ``wptr(i) + off[s] + row`` with
  ``row`` = the event list's entry (an input source) or ``entry * P + j``
  (a layer source, lane bank j) (I1, I2);
* ``acc_valid`` and ``acc_lanes`` (= ``lanes(i)``) in cycle i + 4 (I4);
* a chunk entered in cycle e loads its bias with its first accumulate,
  ``acc_load`` in cycle e + 5, from ``b_addr`` = ``maddr`` three cycles late;
* an abort drops everything in flight.

The event list and spike queue are plain synchronous memories in the test
bench (data the cycle after the address)."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hw.rtl.issue_pipe import IssuePipeline
from hw.spec import timing
from hw.spec.capacity import Capacity

CAP = Capacity(lanes=4, max_layers=3, max_sources=3, max_neurons=40, max_inputs=64, weight_depth=256, max_timesteps=16)
P, S = CAP.lanes, CAP.max_sources
EV = [random.Random(7).randrange(64) for _ in range(128)]  # event list: flat indices
Q = [[(a * 7 + j * 3) % 10 for a in range(128)] for j in range(P)]  # queue bank j: chunk indices < 10
SRC = {"s_off": [3, 40, 100], "s_layer": [0, 1, 1], "s_qbase": [0, 20, 50], "s_gbase": [10, 0, 0]}


def _run(cycles):
    """``cycles``: per cycle a dict of issue, enter, lanes, maddr, wptr, s,
    j, k, abort. Returns per cycle (w_addr, acc_valid, acc_lanes, acc_load,
    b_addr) and the addresses read."""
    dut = IssuePipeline(CAP)
    out = []

    async def bench(ctx):
        for name, vals in SRC.items():
            for s, v in enumerate(vals):
                ctx.set(getattr(dut, name)[s], v)
        ev_data, q_data = 0, [0] * P
        for c in cycles:
            for name in ("issue", "enter", "lanes", "maddr", "wptr", "s", "j", "k", "abort"):
                ctx.set(getattr(dut, name), c[name])
            ctx.set(dut.ev_data, ev_data)
            for j in range(P):
                ctx.set(dut.q_data[j], q_data[j])
            out.append(tuple(ctx.get(getattr(dut, n)) for n in ("w_addr", "acc_valid", "acc_lanes", "acc_load", "b_addr")))
            ev_data = EV[ctx.get(dut.ev_addr)]
            q_data = [Q[j][ctx.get(dut.q_addr)] for j in range(P)]
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def _model(cycles):
    out = []
    for c in range(len(cycles)):
        w_addr = acc_valid = acc_lanes = acc_load = b_addr = 0
        if c >= 2:
            i = cycles[c - 2]
            s, j, k = i["s"], i["j"], i["k"]
            row = Q[j][SRC["s_qbase"][s] + k] * P + j if SRC["s_layer"][s] else EV[SRC["s_gbase"][s] + k]
            w_addr = i["wptr"] + SRC["s_off"][s] + row
        if c >= 4:
            live = not any(cycles[x]["abort"] for x in range(c - 4, c))
            acc_valid = int(cycles[c - 4]["issue"] and live)
            acc_lanes = cycles[c - 4]["lanes"]
        if c >= 5:
            acc_load = int(cycles[c - 5]["enter"] and not any(cycles[x]["abort"] for x in range(c - 5, c)))
        if c >= 3:
            b_addr = cycles[c - 3]["maddr"]
        out.append((w_addr, acc_valid, acc_lanes, acc_load, b_addr))
    return out


def _cycle(rng, **kw):
    c = {"issue": rng.randint(0, 1), "enter": rng.random() < 0.2, "lanes": rng.randint(1, P),
         "maddr": rng.randrange(30), "wptr": rng.randrange(256), "s": rng.randrange(S), "j": rng.randrange(P),
         "k": rng.randrange(10), "abort": 0}  # fmt: skip
    c.update(kw)
    return c


def test_latency_is_hw_spec_timing():
    """One chunk entered in cycle 0 and one issue in cycle 1: the accumulate
    (and the bias load) in cycle 5, measured."""
    rng = random.Random(0)
    cycles = [_cycle(rng, issue=0, enter=1), _cycle(rng, issue=1, enter=0)]
    cycles += [_cycle(rng, issue=0, enter=0) for _ in range(8)]
    got = _run(cycles)
    valid_at = [c for c, row in enumerate(got) if row[1]]
    load_at = [c for c, row in enumerate(got) if row[3]]
    assert valid_at == [5] and load_at == [5]
    assert valid_at[0] - 1 == IssuePipeline.LATENCY == timing.ISSUE == 4


def test_hand_worked_rows():
    """Source 0 (input, gbase 10, off 3): entry EV[12] -> row EV[12]; source 2
    (layer, qbase 50, off 100), bank 1, entry 4: Q[1][54] = (54*7 + 3) % 10 = 1
    -> row 1*4 + 1 = 5."""
    rng = random.Random(1)
    cycles = [_cycle(rng, issue=1, s=0, j=2, k=2, wptr=20), _cycle(rng, issue=1, s=2, j=1, k=4, wptr=30)]
    cycles += [_cycle(rng, issue=0) for _ in range(4)]
    got = _run(cycles)
    assert got[2][0] == 20 + 3 + EV[12]
    assert got[3][0] == 30 + 100 + 5


def test_random_issues_follow_the_model():
    rng = random.Random(2)
    cycles = [_cycle(rng) for _ in range(300)]
    assert _run(cycles) == _model(cycles)


def test_abort_drops_issues_in_flight():
    rng = random.Random(3)
    cycles = [_cycle(rng, issue=1, enter=1) for _ in range(20)]
    cycles[10]["abort"] = 1
    got = _run(cycles)
    assert got == _model(cycles)
    assert [row[1] for row in got[11:15]] == [0, 0, 0, 0]
