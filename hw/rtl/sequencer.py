"""The layer sequencer: the core's controller, which runs a sample wave by wave.

It owns the core's state machine and nothing that moves data: the wave
counter, each layer's set-up, the drain countdowns, the wave and chunk
ends, the batch, the status registers and the sample's counters. The data
path it steers is wired beside it in :mod:`hw.rtl.core`: the input
demultiplexer, the walker and issue pipeline, the accumulators, the update
tags, the LIF array, the spike queues and the result writer.

**Waves** (:mod:`hw.spec.schedule`). A sample runs ``T + max(stage)``
waves; in wave ``w`` each layer, in order, computes step ``w - stage`` or
is skipped (one R_LATCH cycle) when that is outside 0..T-1. A wave starts
when its input step is complete (R_WAIT, the host's time, not counted).

**A layer's run.** R_LATCH latches the layer's parameters and its sources'
queue counts and segment mask; it *waits* while a spike queue it reads, or
its own layer, still has write-backs in flight (per-queue countdowns
``ttl``, set to ``DRAIN - 1`` at the writer's last issue and counted in
compute cycles only, so the wait never depends on the host's timing).
R_SETUP enters the first chunk from those registers. Then R_ISSUE issues
one event per cycle (the walker says which and when it is the chunk's
last); a chunk without events takes one R_CEND cycle. A chunk's end tags
its update (:class:`hw.rtl.update_tags.UpdateTags`) and enters the next
chunk in the same cycle, or ends the run: the next layer's R_LATCH, or the
wave's end. After the last wave R_FLUSH waits for the last write-backs,
R_DRAIN for the event input's tail, R_SCAN for the result writer.

**Early exit** (image v4). The readout's run of each step tells the exit
monitor (``exit_expect``); when its step may end the sample (``exit_wait``)
the wave ends in R_EXIT, which waits for the decision (``timing.exit_wait``
compute cycles after the readout's last issue). On an exit (``exit_now``)
the sample flushes; R_DRAIN then releases the input steps not yet consumed
as they arrive, one counted cycle each, and waits for all T.

Latency (hw.spec.timing; the cycle model in hw.spec.capacity sums these):
R_INIT ``INIT`` = 1 cycle per sample; a layer's set-up ``SETUP`` =
``LATCH + ENTER`` = 2 cycles, a skipped layer ``SKIP`` = 1 cycle; a chunk
``max(events, 1)`` cycles; a set-up that reads a queue waits until
``DRAIN`` = 10 compute cycles after that queue's writer's last issue.

Counted cycles (``cycles``) are R_INIT, R_LATCH, R_SETUP, R_ISSUE, R_CEND,
R_FLUSH, R_EXIT and R_DRAIN's discarding cycles; waiting for input, draining, scanning and the result record
are stream I/O, not compute.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.rtl.update_tags import tag_layout
from hw.spec import protocol, regmap, timing
from hw.spec.capacity import Capacity, require_capacity
from hw.spec.schedule import MAX_STAGE

__all__ = ["LayerSequencer", "STATES", "COUNTED"]

#: The sequencer's states, in encoding order.
STATES = ("IDLE", "LOAD", "R_INIT", "R_WAIT", "R_ISSUE", "R_CEND", "R_LATCH", "R_DRAIN", "R_SCAN", "R_SETUP", "R_FLUSH",
          "R_EXIT")  # fmt: skip
IDLE, LOAD, R_INIT, R_WAIT, R_ISSUE, R_CEND, R_LATCH, R_DRAIN, R_SCAN, R_SETUP, R_FLUSH, R_EXIT = range(len(STATES))
#: The states whose cycles the cycle counter counts (compute, not stream I/O);
#: R_DRAIN's cycles that discard an input step after an early exit count too.
COUNTED = (R_INIT, R_LATCH, R_SETUP, R_ISSUE, R_CEND, R_FLUSH, R_EXIT)
#: ERROR causes of the running sample (also in its record); the others are sticky only.
SAMPLE_CAUSES = ("event_index", "extra_events", "truncated", "start_busy", "bad_word")
#: Causes the event input raises.
EVENT_CAUSES = ("bad_word", "event_index", "truncated", "extra_events")
#: The loader's model parameters the sequencer reads (per layer, per layer and source).
LAYER_PARAMS = ("ly_n", "ly_chunks", "ly_stage", "ly_nsrc", "ly_wbase", "ly_rows", "ly_mbase")
SOURCE_PARAMS = ("sr_idx", "sr_delay", "sr_layer", "sr_off")


def _err(name: str) -> int:
    return regmap.field("ERROR", name).mask


def _ports(cap: Capacity) -> dict:
    """The sequencer's signature members for ``cap``."""
    P, L, S = cap.lanes, cap.max_layers, cap.max_sources
    NI, NN, TMAX, WD = cap.max_inputs, cap.max_neurons, cap.max_timesteps, cap.weight_depth
    QD, MD = protocol.queue_depth(cap), protocol.membrane_depth(cap)
    rows_bits = bits_for(S * max(NI, NN))
    seg_w = max(bits_for(QD), bits_for(NI))
    return {
        # control (hw.rtl.csr)
        "start": In(1), "start_mode": In(1), "abort": In(1), "clear_errors": In(1), "batch": In(32),
        # the model loader and its parameters
        "load_begin": Out(1), "load_finished": In(1), "load_model_valid": In(1), "load_error": In(8),
        "m_T": In(bits_for(TMAX)), "m_layers": In(bits_for(L)), "g_off": In(bits_for(NI)).array(S),
        "ly_n": In(bits_for(NN)).array(L), "ly_chunks": In(bits_for(QD)).array(L), "ly_stage": In(4).array(L),
        "ly_nsrc": In(bits_for(S)).array(L), "ly_wbase": In(bits_for(WD)).array(L),
        "ly_rows": In(rows_bits).array(L), "ly_mbase": In(bits_for(MD)).array(L),
        "sr_idx": In(8).array(L, S), "sr_delay": In(1).array(L, S), "sr_layer": In(1).array(L, S),
        "sr_off": In(rows_bits).array(L, S),
        # the input demultiplexer and the event input
        "loading": Out(1), "ev_begin": Out(1), "ev_release": Out(1), "ev_drain_tail": Out(1),
        "ev_step_valid": In(1), "ev_done": In(1), "ev_front": In(bits_for(TMAX)), "ev_count": In(bits_for(NI)).array(S),
        **{f"ev_{c}": In(1) for c in EVENT_CAUSES},
        # the spike queues' counts
        "q_count": In(bits_for(QD)).array(2 * L, P), "q_nonzero": In(1).array(2 * L, P), "q_clear": Out(1),
        # the walker
        "w_mask": Out(S * P), "w_counts": Out(seg_w).array(S * P), "w_enter": Out(1), "w_step": Out(1),
        "w_any": In(1), "w_last": In(1),
        # the issue pipeline and the update tags
        "issue": Out(1), "lanes": Out(bits_for(P)), "maddr": Out(bits_for(MD)), "wptr": Out(bits_for(WD) + 1),
        "s_off": Out(rows_bits).array(S), "s_layer": Out(1).array(S),
        "s_qbase": Out(bits_for(2 * L * QD)).array(S), "s_gbase": Out(bits_for(NI)).array(S),
        "tag": Out(tag_layout(cap)),
        # what the update reports, and the result writer
        "sops_inc": In(range(P + 1)), "wb_valid": In(1), "wb_spikes": In(P),
        "rw_start": Out(1), "rw_done": In(1),
        # the exit monitor (hw.rtl.exit_monitor)
        "exit_expect": Out(1), "exit_wait": In(1), "exit_now": In(1),
        # status
        "busy": Out(1), "done": Out(1), "model_valid": Out(1), "error": Out(8), "sample_err": Out(8),
        "samples": Out(32), "cycles": Out(32), "spikes": Out(32), "sops": Out(32),
    }  # fmt: skip


class LayerSequencer(wiring.Component):
    """The core's state machine (see the module docstring).

    Parameters
    ----------
    capacity : Capacity
        Sets the layers, sources, lanes and every width.

    Members
    -------
    The groups of :func:`_ports`: control from the registers; the loader's
    handshake and model parameters; the event input's handshake, step
    counts and error causes; the spike queues' counts; the walker's segments
    and steps; the issue pipeline's chunk and source registers and the
    update tag; the update's SOPs and spikes; the result writer's handshake;
    and the status the registers show.
    """

    def __init__(self, capacity: Capacity):
        self.capacity = require_capacity(self, capacity)
        self.queue_depth = protocol.queue_depth(capacity)
        self.seg_bits = max(bits_for(self.queue_depth), bits_for(capacity.max_inputs))
        super().__init__(_ports(capacity))

    def elaborate(self, platform):
        m = Module()
        cap = self.capacity
        L, TMAX = cap.max_layers, cap.max_timesteps
        r = SimpleNamespace(
            state=Signal(range(len(STATES))),
            batch_left=Signal(32),
            w=Signal(bits_for(TMAX + MAX_STAGE)),  # the wave: layer l computes step w - stage[l]
            n_waves=Signal(bits_for(TMAX + MAX_STAGE)),  # T + the loaded layers' largest stage
            lay=Signal(bits_for(L)),  # the running layer
            su_l=Signal(range(L + 1)),  # the layer the next R_LATCH sets up (L: past the last)
            w_new=Signal(),  # w moved last cycle: the layers' wave flags are a cycle behind (_wave_flags)
            # per spike queue (layer * 2 + parity), compute cycles until its
            # last write-back is done: a set-up that reads it (or re-runs its layer) waits
            ttl=Array(Signal(range(timing.DRAIN), name=f"ttl{q}") for q in range(2 * L)),
            n_left=Signal(bits_for(cap.max_neurons) + 1),  # neurons from this chunk on
            chunks_left=Signal(bits_for(self.queue_depth)),
            par=Signal(),  # the run's step parity: the buffer of its own queue it writes
            zero=Signal(),  # the run's step is 0: membranes and spike counts read as 0
            first=Signal(),  # the chunk being issued is the run's first
            rows=Signal(len(self.ly_rows[0])),
            c=Signal(bits_for(self.queue_depth)),
            raised={f.name: Signal(name=f"raise_{f.name}") for f in regmap.ERROR_BITS},
            set_sample_err=Signal(8),
        )
        m.d.comb += [
            self.busy.eq(r.state != IDLE),
            self.loading.eq(r.state == LOAD),
            self.issue.eq(r.state == R_ISSUE),
            self.ev_begin.eq(r.state == R_INIT),
            self.q_clear.eq(r.state == R_INIT),
            self.ev_drain_tail.eq(r.batch_left == 1),
            self.lanes.eq(Mux(r.n_left > cap.lanes, cap.lanes, r.n_left)),
        ]
        self._errors(m, r)
        with m.If(self.load_finished):
            m.d.sync += [self.model_valid.eq(self.load_model_valid), r.state.eq(IDLE), self.done.eq(1)]
        self._counters(m, r)
        setup = self._setup(m, r)
        self._fsm(m, r, setup)
        with m.If(self.busy & (r.state != LOAD) & (r.state != R_INIT)):
            m.d.sync += self.sample_err.eq(self.sample_err | r.set_sample_err)
        with m.If(self.abort):  # soft reset wins over everything above
            m.d.sync += [r.state.eq(IDLE), *[t.eq(0) for t in r.ttl]]
            with m.If(r.state == LOAD):
                m.d.sync += self.model_valid.eq(0)
        return m

    def _errors(self, m, r):
        """The sticky ``error`` register and the sample's causes."""
        for cause in EVENT_CAUSES:
            with m.If(getattr(self, f"ev_{cause}")):
                m.d.comb += r.raised[cause].eq(1)
        with m.If(self.start & self.busy):
            m.d.comb += r.raised["start_busy"].eq(1)
        m.d.comb += r.set_sample_err.eq(
            Cat(*[r.raised[f.name] if f.name in SAMPLE_CAUSES else Const(0, 1) for f in regmap.ERROR_BITS])
        )
        set_err = r.set_sample_err | self.load_error | Mux(r.raised["no_model"], _err("no_model"), 0)
        m.d.sync += self.error.eq(Mux(self.clear_errors, 0, self.error) | set_err)

    def _counters(self, m, r):
        """SOPs, spikes and compute cycles of the sample; the drain
        countdowns run in compute cycles only, so that the cycles a set-up
        waits do not depend on how fast the host sends input."""
        m.d.sync += self.sops.eq(self.sops + self.sops_inc)
        with m.If(self.wb_valid):
            m.d.sync += self.spikes.eq(self.spikes + sum(self.wb_spikes[j] for j in range(self.capacity.lanes)))
        counted = Signal()
        m.d.comb += counted.eq(Cat(*[r.state == s for s in COUNTED]).any() | ((r.state == R_DRAIN) & self.ev_step_valid))
        with m.If(counted):
            m.d.sync += self.cycles.eq(Mux(r.state == R_INIT, 1, self.cycles + 1))
            for t in r.ttl:
                with m.If(t != 0):
                    m.d.sync += t.eq(t - 1)

    def _setup(self, m, r):
        """R_LATCH's statements for layer ``su_l`` in wave ``w`` (its step
        ``w - stage``, parameters, sources' queue counts and segment mask),
        and whether it is active and must stall.

        Kept short for the clock (it was the ULX3S build's critical path):
        ``su_l`` is a register (0 at a wave's start, then one more per
        latch); each layer's step-0 flag and activity are registered a cycle
        behind ``w`` and its step parity is ``w[0] ^ stage[0]`` (:meth:`_wave_flags`), so no
        subtractor feeds the set-up; and the statements do not depend on the
        stall (:meth:`_fsm` applies them in every R_LATCH cycle, the last
        one counts), so the stall drives only the state, not the clock
        enables of some hundred set-up registers."""
        cap = self.capacity
        P, S, QD = cap.lanes, cap.max_sources, self.queue_depth
        l_ = r.su_l
        ly = {n: Array(getattr(self, n)) for n in LAYER_PARAMS}
        sr = {n: Array(Array(row) for row in getattr(self, n)) for n in SOURCE_PARAMS}
        g_off, gcnt = Array(self.g_off), Array(self.ev_count)
        qcnt = Array(Array(self.q_count[q][j] for j in range(P)) for q in range(2 * cap.max_layers))
        qnz = Array(Array(self.q_nonzero[q][j] for j in range(P)) for q in range(2 * cap.max_layers))
        busy = Array(t != 0 for t in r.ttl)  # a queue still has write-backs in flight
        flags = self._wave_flags(m, r)
        active, su_par, su_zero = Signal(), Signal(), Signal()
        # the step's parity is w's minus the stage's: two register bits, no lag
        m.d.comb += [active.eq(flags.active[l_]), su_par.eq(r.w[0] ^ ly["ly_stage"][l_][0]), su_zero.eq(flags.zero[l_])]
        stmts = [
            r.lay.eq(l_), r.par.eq(su_par), r.zero.eq(su_zero), r.first.eq(1),
            r.n_left.eq(ly["ly_n"][l_]), r.chunks_left.eq(ly["ly_chunks"][l_]), self.wptr.eq(ly["ly_wbase"][l_]),
            r.rows.eq(ly["ly_rows"][l_]), self.maddr.eq(ly["ly_mbase"][l_]), r.c.eq(0),
        ]  # fmt: skip
        mask = Signal(S * P)
        wait = [busy[Cat(Const(0, 1), l_)], busy[Cat(Const(1, 1), l_)]]  # its own membranes
        for s in range(S):
            valid = s < ly["ly_nsrc"][l_]
            idx, is_layer = sr["sr_idx"][l_][s], sr["sr_layer"][l_][s]
            q = Signal(range(2 * cap.max_layers), name=f"su_q{s}")
            m.d.comb += q.eq(Cat(su_par ^ sr["sr_delay"][l_][s], idx))  # layer idx, buffer of step t - delay
            wait.append(valid & is_layer & busy[q])
            stmts += [
                self.s_off[s].eq(sr["sr_off"][l_][s]), self.s_layer[s].eq(is_layer),
                self.s_qbase[s].eq(q * QD), self.s_gbase[s].eq(g_off[idx]),
            ]  # fmt: skip
            for j in range(P):
                # the segment's count, and whether it has events (the queue's own flag, no compare)
                cnt, nz = Signal(self.seg_bits, name=f"su_cnt{s}_{j}"), Signal(name=f"su_nz{s}_{j}")
                if j == 0:  # an input group's event list is segment (s, 0)
                    m.d.comb += [cnt.eq(Mux(valid, Mux(is_layer, qcnt[q][j], gcnt[idx]), 0)),
                                 nz.eq(valid & Mux(is_layer, qnz[q][j], gcnt[idx] != 0))]  # fmt: skip
                else:
                    m.d.comb += [cnt.eq(Mux(valid & is_layer, qcnt[q][j], 0)), nz.eq(valid & is_layer & qnz[q][j])]
                stmts.append(self.w_counts[s * P + j].eq(cnt))
                m.d.comb += mask[s * P + j].eq(nz)
        stmts.append(self.w_mask.eq(mask))
        stall = Signal()
        m.d.comb += stall.eq(Cat(*wait).any())
        # T + the largest stage of the loaded layers: the waves of a sample
        max_stage = Const(0, 4)
        for i in range(cap.max_layers):
            max_stage = Mux((i < self.m_layers) & (ly["ly_stage"][i] > max_stage), ly["ly_stage"][i], max_stage)
        m.d.sync += r.n_waves.eq(self.m_T + max_stage)
        return SimpleNamespace(stmts=stmts, active=active, stall=stall)

    def _wave_flags(self, m, r):
        """Each layer's step ``t = w - stage`` in the current wave: whether it
        runs (0 <= t < T) and whether it is step 0, as registers.

        They are computed from ``w`` a cycle late, for wave ``w`` and for
        wave ``w + 1``; ``r.w_new`` (the cycle right after a wave's end,
        which may be an R_LATCH) picks the second, which is then the current
        wave's. Every other way into R_LATCH passes at least one other state
        after ``w`` moves."""
        cap = self.capacity
        wide = len(r.w) + 1
        act, zero = [], []
        for i in range(cap.max_layers):
            stage = self.ly_stage[i]
            regs = {}
            for ahead in (0, 1):
                t = Signal(signed(wide), name=f"wf_t{i}_{ahead}")
                m.d.comb += t.eq(r.w + ahead - stage)
                a, z = Signal(name=f"wf_act{i}_{ahead}"), Signal(name=f"wf_zero{i}_{ahead}")
                m.d.sync += [a.eq((t >= 0) & (t < self.m_T)), z.eq(t == 0)]
                regs[ahead] = (a, z)
            act.append(Mux(r.w_new, regs[1][0], regs[0][0]))
            zero.append(Mux(r.w_new, regs[1][1], regs[0][1]))
        m.d.sync += r.w_new.eq(0)  # _wave_end sets it (a later statement wins)
        return SimpleNamespace(active=Array(act), zero=Array(zero))

    def _enter_chunk(self, m, r):
        """In the cycle before a chunk's first issue cycle."""
        m.d.comb += self.w_enter.eq(1)
        m.d.sync += r.state.eq(Mux(self.w_any, R_ISSUE, R_CEND))

    def _wave_end(self, m, r):
        """After the wave's last layer: its input step is released (the event
        input may fill that buffer with step w + 2); the next wave waits for
        its own step (if it has one), or the sample flushes."""
        m.d.sync += [r.su_l.eq(0), r.w.eq(r.w + 1), r.w_new.eq(1)]
        m.d.comb += self.ev_release.eq(r.w < self.m_T)
        with m.If(self.exit_wait):  # the readout's step may end the sample: R_EXIT waits for the monitor
            m.d.sync += r.state.eq(R_EXIT)
        with m.Else():
            self._next_wave(m, r, r.w + 1)

    def _next_wave(self, m, r, wn):
        """Into wave ``wn``: wait for its input step (if it has one), or flush
        the sample after its last wave."""
        with m.If(wn == r.n_waves):
            m.d.sync += r.state.eq(R_FLUSH)
        with m.Elif(wn < self.m_T):
            m.d.sync += r.state.eq(R_WAIT)
        with m.Else():
            m.d.sync += r.state.eq(R_LATCH)

    def _chunk_end(self, m, r):
        """In a chunk's last issue cycle (or its R_CEND cycle): tag its
        update, move to the next chunk, or end the run."""
        t = self.tag
        m.d.comb += [
            t.valid.eq(1), t.maddr.eq(self.maddr), t.c.eq(r.c), t.lanes.eq(self.lanes),
            t.layer.eq(r.lay), t.par.eq(r.par), t.zero.eq(r.zero), t.first.eq(r.first),
            t.last.eq(r.chunks_left == 1), t.ro.eq(r.lay + 1 == self.m_layers),
        ]  # fmt: skip
        m.d.sync += [
            r.first.eq(0),
            r.c.eq(r.c + 1),
            self.maddr.eq(self.maddr + 1),
            self.wptr.eq(self.wptr + r.rows),
            r.n_left.eq(Mux(r.n_left > self.capacity.lanes, r.n_left - self.capacity.lanes, 0)),
            r.chunks_left.eq(r.chunks_left - 1),
        ]
        with m.If(r.chunks_left > 1):
            self._enter_chunk(m, r)
        with m.Else():
            m.d.sync += r.ttl[Cat(r.par, r.lay)].eq(timing.DRAIN - 1)
            m.d.comb += self.exit_expect.eq(r.lay + 1 == self.m_layers)  # the readout's step: the monitor decides
            with m.If(r.su_l < self.m_layers):  # su_l is already the next layer
                m.d.sync += r.state.eq(R_LATCH)
            with m.Else():
                self._wave_end(m, r)

    def _fsm(self, m, r, setup):
        """The state machine (see the module docstring)."""
        with m.Switch(r.state):
            with m.Case(IDLE):
                with m.If(self.start):
                    m.d.sync += self.done.eq(0)
                    with m.If(self.start_mode == regmap.MODE_LOAD):
                        m.d.sync += [r.state.eq(LOAD), self.model_valid.eq(0)]
                        m.d.comb += self.load_begin.eq(1)
                    with m.Elif(~self.model_valid):
                        m.d.comb += r.raised["no_model"].eq(1)
                        m.d.sync += self.done.eq(1)
                    with m.Else():
                        m.d.sync += [r.state.eq(R_INIT), r.batch_left.eq(Mux(self.batch == 0, 1, self.batch))]
            with m.Case(LOAD):
                pass  # the loader takes the words (hw.rtl.input_demux)
            with m.Case(R_INIT):
                m.d.sync += [r.w.eq(0), self.sample_err.eq(r.set_sample_err), self.spikes.eq(0), self.sops.eq(0),
                             r.state.eq(R_WAIT), r.su_l.eq(0), *[t.eq(0) for t in r.ttl]]  # fmt: skip
            with m.Case(R_WAIT):  # wave w's input step (not counted: the host's time)
                with m.If(self.ev_step_valid):
                    m.d.sync += r.state.eq(R_LATCH)
            with m.Case(R_ISSUE):
                m.d.comb += self.w_step.eq(1)
                with m.If(self.w_last):
                    self._chunk_end(m, r)
            with m.Case(R_CEND):  # a chunk without events: one cycle to start its update
                self._chunk_end(m, r)
            with m.Case(R_LATCH):
                m.d.sync += setup.stmts  # in every R_LATCH cycle: the layer's last (unstalled) one is kept
                with m.If(~setup.active):  # no step of this layer in this wave
                    m.d.sync += r.su_l.eq(r.su_l + 1)
                    with m.If(r.su_l + 1 == self.m_layers):
                        self._wave_end(m, r)
                with m.Elif(~setup.stall):
                    m.d.sync += [r.state.eq(R_SETUP), r.su_l.eq(r.su_l + 1)]
            with m.Case(R_SETUP):
                self._enter_chunk(m, r)
            with m.Case(R_FLUSH):  # the sample's last write-backs
                with m.If(~Cat(*[t != 0 for t in r.ttl]).any()):
                    m.d.sync += r.state.eq(R_DRAIN)
            with m.Case(R_EXIT):  # the exit monitor decides on the readout's step (counted)
                with m.If(~self.exit_wait):
                    with m.If(self.exit_now):
                        m.d.sync += r.state.eq(R_FLUSH)
                    with m.Else():
                        self._next_wave(m, r, r.w)
            with m.Case(R_DRAIN):  # the event input takes the tail, if any (not counted); after an
                # early exit the input steps not yet consumed are released (discarded) as they
                # come, one counted cycle each
                m.d.comb += self.ev_release.eq(self.ev_step_valid)
                with m.If(self.ev_done & (self.ev_front == self.m_T)):
                    m.d.sync += r.state.eq(R_SCAN)
                    m.d.comb += self.rw_start.eq(1)
            with m.Case(R_SCAN):  # the result writer scans the readout and sends the record
                with m.If(self.rw_done):
                    m.d.sync += [self.samples.eq(self.samples + 1), r.batch_left.eq(r.batch_left - 1)]
                    with m.If(r.batch_left > 1):
                        m.d.sync += r.state.eq(R_INIT)
                    with m.Else():
                        m.d.sync += [r.state.eq(IDLE), self.done.eq(1)]
