"""The early-exit monitor: decides, at the end of each readout step, whether
the sample has seen enough.

Why a component of its own: the rule (docs/design.md section 10, ``sw.qnet``'s
``exit``) is new state (a running top-2, step counters, the decision) that
the sequencer should not carry; the core only tells the monitor when a
readout step's last chunk has been issued and waits for its answer.

Rule. After readout step t the decision quantity q_t is the readout layer's
membrane after the step, or (``rspk``) its spike counts over steps 0..t,
which are exactly the values the LIF array writes back for the readout's
chunks. ``margin_t = top1(q_t) - top2(q_t)``, top2 the second-largest entry
(equal to top1 on a tie; a single output has margin 0). The sample exits at
the first t with ``min_step <= t <= T-2`` and ``margin_t >= margin``
(a sample that reaches T-1 ends there anyway; :func:`hw.spec.protocol.exit_words`
gives a model without a rule ``min_step = T-1``, so it never exits early).

Pipeline (from the cycle a readout chunk is written back, ``i_valid``):

* the chunk (valid, first, last, lanes, membranes, counts) is registered
  (``timing.EXIT_INPUT``): the counts arrive from a block RAM's output
  through an adder, too late to compare in the same cycle;
* a tree over the chunk's first W = ``min(P, timing.EXIT_LANES)`` lanes
  merges (top1, top2) pairs, one register per level (``ceil(log2 W)``
  levels; lanes ``>= i_lanes`` are left out). Lanes ``>= W`` are never
  compared: a core wider than ``EXIT_LANES`` takes exit-rule models whose
  readout fits W lanes (``Capacity.problems``); a model without a rule may
  have a wider readout, whose decision is never used;
* the step's running pair merges the tree's root, one register;
* after the step's last chunk, the margin compare, one register: ``exit``
  and ``pending`` are updated.

Latency: the decision for a step is visible :func:`hw.spec.timing.exit_monitor`
(P) = ``1 + ceil(log2 W) + 2`` cycles after its last chunk's write-back; the
sequencer's R_EXIT wait is :func:`hw.spec.timing.exit_wait` (the write-back
comes ``DRAIN - 1`` cycles after the last issue), which the cycle model
adds. ``exit_step`` counts at the input, so it is final at the write-back.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from hw.spec import timing
from hw.spec.capacity import Capacity, require_capacity

__all__ = ["ExitMonitor"]


class ExitMonitor(wiring.Component):
    """Top-1 minus top-2 of the readout after each step, against the rule.

    Parameters
    ----------
    capacity : Capacity
        Lanes P, membrane width V, spike-count width (``max_timesteps``).

    Members
    -------
    begin : In(1)
        A new sample: counters and decision cleared, chunks still in the
        pipeline dropped.
    timesteps, min_step, margin : In
        The model's T and its rule (:mod:`hw.spec.protocol` header words 9, 10);
        stable for the sample.
    rspk : In(1)
        The readout is by spike count (else by membrane).
    expect : In(1)
        The readout's run of its next step has issued its last chunk.
    wait : Out(1)
        Combinational: a step that may end the sample is expected or in
        flight and not yet decided; the core must not start the next wave.
    i_valid, i_first, i_last, i_lanes : In
        A readout chunk is written back this cycle: the step's first / last
        chunk, its valid lanes.
    i_v, i_c : In(P * V), In(P * count bits)
        The chunk's membranes and running spike counts, as written back.
    exit : Out(1)
        The sample ends at the last decided step (sticky until ``begin``).
    exit_step : Out(32)
        The readout's last written-back step (its exit step at the end).
    """

    def __init__(self, capacity: Capacity):
        cap = require_capacity(self, capacity)
        self.capacity = cap
        self.count_bits = bits_for(cap.max_timesteps)
        #: Bits of a compared value: a membrane, or a spike count as a signed value.
        self.value_bits = max(cap.v_bits, self.count_bits + 1)
        #: Lanes the tree compares (``timing.exit_tree_lanes``): the first W of a chunk.
        self.tree_lanes = timing.exit_tree_lanes(cap.lanes)
        self.levels = ceil_log2(self.tree_lanes)
        #: Cycles from a last chunk's write-back to its decision (hw.spec.capacity).
        self.latency = timing.exit_monitor(cap.lanes)
        assert self.latency == timing.EXIT_INPUT + self.levels + timing.EXIT_DECIDE
        tb = bits_for(cap.max_timesteps)
        super().__init__(
            {
                "begin": In(1),
                "timesteps": In(tb),
                "min_step": In(32),
                "margin": In(32),
                "rspk": In(1),
                "expect": In(1),
                "wait": Out(1),
                "i_valid": In(1),
                "i_first": In(1),
                "i_last": In(1),
                "i_lanes": In(bits_for(cap.lanes)),
                "i_v": In(cap.lanes * cap.v_bits),
                "i_c": In(cap.lanes * self.count_bits),
                "exit": Out(1),
                "exit_step": Out(32),
            }
        )

    def _pair(self, name):
        vb = self.value_bits
        return {"v1": Signal(signed(vb), name=f"{name}_v1"), "v2": Signal(signed(vb), name=f"{name}_v2"),
                "ok1": Signal(name=f"{name}_ok1"), "ok2": Signal(name=f"{name}_ok2")}  # fmt: skip

    def _merge(self, m, a, b, name):
        """(top1, top2) of the union of two pairs, combinational (two compares)."""
        out = self._pair(name)
        a_wins = Signal(name=f"{name}_aw")
        m.d.comb += a_wins.eq(~b["ok1"] | (a["ok1"] & (a["v1"] >= b["v1"])))
        # top1 is the winner's; top2 the larger of the winner's top2 and the loser's top1
        w2_gt = Signal(name=f"{name}_w2gt")
        m.d.comb += w2_gt.eq(Mux(a_wins, a["ok2"] & (~b["ok1"] | (a["v2"] > b["v1"])), b["ok2"] & (~a["ok1"] | (b["v2"] > a["v1"]))))
        m.d.comb += [
            out["ok1"].eq(a["ok1"] | b["ok1"]),
            out["v1"].eq(Mux(a_wins, a["v1"], b["v1"])),
            out["ok2"].eq(Mux(a_wins, a["ok2"] | b["ok1"], b["ok2"] | a["ok1"])),
            out["v2"].eq(Mux(a_wins, Mux(w2_gt, a["v2"], b["v1"]), Mux(w2_gt, b["v2"], a["v1"]))),
        ]
        return out

    def elaborate(self, platform):
        m = Module()
        cap = self.capacity
        P, V, CB = cap.lanes, cap.v_bits, self.count_bits

        # the written-back chunk, registered (timing.EXIT_INPUT)
        valid, first, last = Signal(), Signal(), Signal()
        W = self.tree_lanes  # lanes >= W are not compared (timing.EXIT_LANES): nor registered
        lanes, i_v, i_c = Signal.like(self.i_lanes), Signal(W * V), Signal(W * CB)
        m.d.sync += [valid.eq(self.i_valid & ~self.begin), first.eq(self.i_first), last.eq(self.i_last),
                     lanes.eq(self.i_lanes), i_v.eq(self.i_v[: W * V]), i_c.eq(self.i_c[: W * CB])]  # fmt: skip
        # lanes -> leaf pairs (top1 = the value, no top2)
        level = []
        for j in range(W):
            leaf = self._pair(f"leaf{j}")
            cnt = i_c[j * CB : (j + 1) * CB]
            mem = i_v[j * V : (j + 1) * V].as_signed()
            m.d.comb += [leaf["v1"].eq(Mux(self.rspk, cnt, mem)), leaf["ok1"].eq(j < lanes),
                         leaf["v2"].eq(0), leaf["ok2"].eq(0)]  # fmt: skip
            level.append(leaf)
        # the tree: one registered level per halving
        for d in range(self.levels):
            nxt = []
            for k in range(0, len(level), 2):
                if k + 1 < len(level):
                    comb = self._merge(m, level[k], level[k + 1], f"t{d}_{k}")
                else:
                    comb = level[k]
                reg = self._pair(f"r{d}_{k}")
                m.d.sync += [reg[f].eq(comb[f]) for f in reg]
                nxt.append(reg)
            level = nxt
            rv, rf, rl = Signal(name=f"v{d}"), Signal(name=f"f{d}"), Signal(name=f"l{d}")
            m.d.sync += [rv.eq(valid & ~self.begin), rf.eq(first), rl.eq(last)]  # a new sample drops stale chunks
            valid, first, last = rv, rf, rl
        (root,) = level

        # the step's running pair (the first chunk of a step restarts it)
        run = self._pair("run")
        merged = self._merge(m, run, root, "acc")
        chk = Signal()  # the running pair holds a whole step: compare next cycle
        m.d.sync += chk.eq(valid & last & ~self.begin)
        with m.If(valid):
            m.d.sync += [run[f].eq(Mux(first, root[f], merged[f])) for f in run]

        # steps: x_t counts expected (issued) steps, in_t written-back ones, d_t decided ones
        tb = len(self.timesteps)
        x_t, in_t, d_t = Signal(tb + 1), Signal(tb + 1), Signal(tb + 1)
        pending, exit_ = Signal(), Signal()

        def may_end(t):
            return (t >= self.min_step) & (t + 1 < self.timesteps)

        m.d.comb += [self.wait.eq(pending | (self.expect & may_end(x_t))), self.exit.eq(exit_)]
        with m.If(self.expect):
            m.d.sync += x_t.eq(x_t + 1)
        with m.If(self.i_valid & self.i_last):
            m.d.sync += [in_t.eq(in_t + 1), self.exit_step.eq(in_t)]
        margin_t = Signal(self.value_bits + 1)
        m.d.comb += margin_t.eq(Mux(run["ok2"], run["v1"] - run["v2"], 0))
        with m.If(chk):
            m.d.sync += d_t.eq(d_t + 1)
            with m.If(may_end(d_t)):
                m.d.sync += [pending.eq(0), exit_.eq(margin_t >= self.margin)]
        with m.If(self.expect & may_end(x_t)):
            m.d.sync += pending.eq(1)
        with m.If(self.begin):
            m.d.sync += [x_t.eq(0), in_t.eq(0), d_t.eq(0), pending.eq(0), exit_.eq(0), self.exit_step.eq(0)]
        return m
