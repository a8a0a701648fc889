"""hw.rtl.sequencer.LayerSequencer with a real walker, against cycle counts
and chunk tags worked by hand from the core's documented timing (R_INIT 1
cycle; a layer's set-up: latch 1 + enter 1; one cycle per event per chunk,
one for a chunk without events; a skipped layer 1; a set-up that reads a
queue, or re-runs its layer, waits until 10 cycles after the writer's last
issue; the flush waits for the last write-back, +1; waiting for input is not
counted). The event input, spike queues and result writer are fixed inputs:
every step's input is ready at once, the queue counts are constants."""

from __future__ import annotations

from amaranth import Elaboratable, Module
from amaranth.sim import Simulator

from hw.rtl.sequencer import LayerSequencer
from hw.rtl.walker import SegmentWalker
from hw.spec import regmap, timing
from hw.spec.capacity import SETUP_CYCLES, SKIP_CYCLES, Capacity

CAP = Capacity(lanes=4, max_layers=2, max_sources=1, max_neurons=16, max_inputs=32, weight_depth=64, max_timesteps=4)
TAG = ("maddr", "c", "lanes", "layer", "par", "zero", "first")


class _Harness(Elaboratable):
    """The sequencer and its walker, wired as hw.rtl.core wires them."""

    def __init__(self):
        self.seq = LayerSequencer(CAP)
        self.walker = SegmentWalker(CAP.max_sources, CAP.lanes, self.seq.seg_bits)

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq, m.submodules.walker = seq, walker = self.seq, self.walker
        n = CAP.max_sources * CAP.lanes
        m.d.comb += [
            walker.mask.eq(seq.w_mask), *[walker.counts[i].eq(seq.w_counts[i]) for i in range(n)],
            walker.enter.eq(seq.w_enter), walker.step.eq(seq.w_step),
            seq.w_any.eq(walker.any), seq.w_last.eq(walker.last),
        ]  # fmt: skip
        return m


def _run(T, layers, events, q_counts=None, step_gap=0, monitor=None):
    """Run one sample. ``layers``: per layer (n, stage, source) with source
    ``("input", 0)`` or ``("layer", index)``, delay 0; ``events``: the input
    group's events per step (the same each step); ``q_counts``: per lane
    bank, the (constant) spike-queue counts. ``step_gap``: the input step is
    there only one cycle in ``step_gap + 1`` (the sequencer waits in R_WAIT).
    ``monitor``: (min_step, exit step or None), a stand-in exit monitor whose
    ``wait`` is high from a may-end step's ``exit_expect`` for
    ``timing.exit_wait(P)`` cycles. Returns (counted cycles, tags, issues)."""
    h = _Harness()
    seq = h.seq
    P = CAP.lanes
    tags, issues = [], [0]

    async def bench(ctx):
        ctx.set(seq.m_T, T)
        ctx.set(seq.m_layers, len(layers))
        ctx.set(seq.g_off[0], 0)
        ctx.set(seq.ev_count[0], events)
        for i, (n, stage, (kind, idx)) in enumerate(layers):
            chunks = -(-n // P)
            for name, v in (("ly_n", n), ("ly_chunks", chunks), ("ly_stage", stage), ("ly_nsrc", 1),
                            ("ly_wbase", 0), ("ly_rows", 8), ("ly_mbase", 4 * i)):  # fmt: skip
                ctx.set(getattr(seq, name)[i], v)
            ctx.set(seq.sr_idx[i][0], idx)
            ctx.set(seq.sr_layer[i][0], kind == "layer")
        for q in range(2 * CAP.max_layers):
            for j in range(P):
                ctx.set(seq.q_count[q][j], (q_counts or [0] * P)[j])
                ctx.set(seq.q_nonzero[q][j], (q_counts or [0] * P)[j] != 0)  # the queues' flag (hw.rtl.spike_queues)
        ctx.set(seq.ev_done, 1)
        ctx.set(seq.rw_done, 1)
        ctx.set(seq.load_finished, 1)
        ctx.set(seq.load_model_valid, 1)
        await ctx.tick()
        ctx.set(seq.load_finished, 0)
        ctx.set(seq.start, 1)
        ctx.set(seq.start_mode, regmap.MODE_RUN)
        ctx.set(seq.batch, 1)
        await ctx.tick()
        ctx.set(seq.start, 0)
        front = 0  # the event input's front step: released steps (all T at the end)
        x_t, left, exit_now = 0, 0, False  # the stand-in monitor: steps expected, wait cycles left
        for k in range(400):
            ctx.set(seq.ev_front, front)
            ctx.set(seq.ev_step_valid, front < T and k % (step_gap + 1) == step_gap)
            front += ctx.get(seq.ev_release)
            if monitor is not None:
                if ctx.get(seq.exit_expect):
                    if monitor[0] <= x_t <= T - 2:
                        left = timing.exit_wait(P)
                        exit_now = exit_now or x_t == monitor[1]
                    x_t += 1
                ctx.set(seq.exit_wait, left > 0)
                ctx.set(seq.exit_now, exit_now and left == 0)
                left = max(0, left - 1)
            if ctx.get(seq.tag.valid):
                tags.append(tuple(ctx.get(getattr(seq.tag, f)) for f in TAG))
            issues[0] += ctx.get(seq.issue)
            await ctx.tick()
            if ctx.get(seq.done):
                break
        issues.append(ctx.get(seq.cycles))

    sim = Simulator(h)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return issues[1], tags, issues[0]


def test_one_layer_three_chunks():
    """n = 10, P = 4, 2 events, T = 1: R_INIT (cycle 0), latch 1, enter 2,
    issues 3..8 (last issue 8), flush until 8 + 10, +1: 19 counted cycles.
    Tags: rows 0, 1, 2 with 4, 4, 2 lanes, step 0, the first chunk first."""
    cycles, tags, issues = _run(1, [(10, 0, ("input", 0))], events=2)
    assert cycles == 19
    assert issues == 6
    assert tags == [(0, 0, 4, 0, 0, 1, 1), (1, 1, 4, 0, 0, 1, 0), (2, 2, 2, 0, 0, 1, 0)]


def test_chunks_without_events_take_a_cycle_each():
    """No events: each of the 3 chunks takes one R_CEND cycle: 1 + 2 + 3 = 6,
    the last chunk end in cycle 5; flush until 15, +1: 16."""
    cycles, tags, issues = _run(1, [(10, 0, ("input", 0))], events=0)
    assert (cycles, len(tags), issues) == (16, 3, 0)


def test_input_wait_is_not_counted():
    """The same sample with the input step there one cycle in six: same count."""
    assert _run(1, [(10, 0, ("input", 0))], events=2, step_gap=5)[0] == 19


def test_drain_wait_between_dependent_layers():
    """T = 2; layer 0 (4 neurons, 3 input events), layer 1 (4 neurons) reads
    layer 0's queue (1 spike in bank 0). Wave 0: layer 0 latches 1, enters 2,
    issues 3..5; layer 1 waits for queue (0, 0) until 5 + 10 = 15, enters 16,
    issues 17. Wave 1: layer 0 latches 18 (its own rows drained at 15),
    issues 20..22; layer 1 waits for queue (0, 1) until 32, issues 34; flush
    until 34 + 10 = 44, +1: 45."""
    layers = [(4, 0, ("input", 0)), (4, 0, ("layer", 0))]
    cycles, tags, issues = _run(2, layers, events=3, q_counts=[1, 0, 0, 0])
    assert cycles == 45
    assert issues == 2 * 3 + 2 * 1
    assert [(t[3], t[4], t[5]) for t in tags] == [(0, 0, 1), (1, 0, 1), (0, 1, 0), (1, 1, 0)]


def test_skipped_layers_take_one_cycle():
    """T = 1, layer 1 at stage 1: wave 0 runs layer 0 (latch 1, issues 3..5)
    and skips layer 1 (6); wave 1 skips layer 0 (7) and runs layer 1, which
    waits for queue (0, 0) until 15, issues 17; flush until 27, +1: 28."""
    layers = [(4, 0, ("input", 0)), (4, 1, ("layer", 0))]
    assert _run(1, layers, events=3, q_counts=[1, 0, 0, 0])[0] == 28


def test_state_latencies_are_hw_spec_timing():
    """The hand-worked figures above are the sums of hw.spec.timing's."""
    assert (timing.INIT, timing.LATCH, timing.ENTER, timing.DRAIN) == (1, 1, 1, 10)
    assert SETUP_CYCLES == timing.LATCH + timing.ENTER and SKIP_CYCLES == timing.LATCH


def test_early_exit_waits_and_discards():
    """One layer (the readout, 4 neurons, 2 events per step), T = 3, P = 4,
    min_step 0. Step 0: latch 1, enter 2, issues 3, 4; R_EXIT waits
    exit_wait(4) = 9 + 1 + 2 + 2 = 14 cycles (5..18). Exit at 0: flush 19
    (the layer's write-back landed at 14), discard steps 1 and 2 (20, 21):
    22. No exit: step 1 latches 19, issues 21, 22, R_EXIT 23..36; step 2
    latches 37 (drained at 32), issues 39, 40, no wait at T-1; flush until
    40 + 10, +1: 51. Exit at 1: flush 37, discard step 2 (38): 39. min_step
    2: no waits: 41, as without a rule (1 -> 5, 14 -> 18, 27 -> 31, flush
    to 40)."""
    one = [(4, 0, ("input", 0))]
    assert timing.exit_wait(4) == 14
    assert _run(3, one, events=2, monitor=(0, 0))[0] == 22
    assert _run(3, one, events=2, monitor=(0, None))[0] == 51
    assert _run(3, one, events=2, monitor=(0, 1))[0] == 39
    assert _run(3, one, events=2, monitor=(2, None))[0] == 41
    assert _run(3, one, events=2)[0] == 41
