"""A double-buffered event input: the next step's events arrive while this
step computes.

Why: the core used to take a step's input words (``R_RECV``) and only then
compute the step, so at P = 32 stream input added about 30 % to a sample
(issue 12). :class:`EventInput` keeps two event lists, one per step parity:
step t is written into buffer ``t % 2`` while the compute reads step t - 1
from the other buffer. Words for step t + 2 wait until step t is released.

Semantics (the ``R_RECV`` / ``R_DRAIN`` rules of :mod:`hw.spec.protocol`, kept
exactly; the word format is :mod:`sw.events`):

* a word with bit 31 set is a marker: it ends the step; a marker other than
  ``END_OF_STEP`` also raises ``bad_word``;
* an index word with bits ``[INDEX_BITS:31]`` set raises ``bad_word``; an
  index ``>= n_inputs`` raises ``event_index``; an index no group holds
  (the lowest group whose ``[g_off, g_off + g_size)`` holds it wins), or
  whose group's list is full for this step, raises ``bad_word``; each is
  dropped. Otherwise its local index ``word - g_off[g]`` is appended to group
  g's list (an index sent twice in a step is appended twice);
* TLAST on a word that is not the T-th marker raises ``truncated``: the word
  is processed, its step ends there, every later step is empty (valid with
  no events) and no further word is taken;
* after the T-th marker without TLAST, if ``drain_tail`` was set at
  ``begin`` (the batch's last sample), the words up to and including the
  next TLAST are taken and each raises ``extra_events``; otherwise nothing
  more is taken (the next sample's words wait for the next ``begin``).

Pipeline (one register stage each, so no path holds more than one layer of
wide compares, one priority encoder or one small mux + add; the old
combinational word -> group compares -> priority -> count path was the
ECP5 critical path):

0. accept: ``words.ready`` comes from registers only (and is low in a
   ``begin`` / ``abort`` cycle); the word, its TLAST,
   its step's parity and index, and whether it is the T-th marker are
   registered (the step bookkeeping happens here, at the input);
1. classify: format checks, ``index >= n_inputs``, every group's two range
   compares and every group's local index, in parallel, registered;
2. select: priority encoder over the hits; the winning group's local index
   is muxed and registered;
3. append: the group's ``room`` flag and next list address for the word's
   buffer (kept beside its count, see ``_append``) are muxed to the list
   memory's write port; the count is incremented; the step's ``ready`` bit
   is set by its marker (or truncating word). Raise pulses come from this
   stage.

Latency: a step's ``step_valid`` rises ``LATENCY`` = 4 cycles after the
cycle its marker (or truncating word) is accepted. With words always valid
and each step released in the cycle it becomes valid, a step of n events
and its marker takes n + 1 cycles of input, except that step t + 2's first
word cannot be taken before step t is released (``LATENCY`` + 1 cycles
after step t's marker), so a step with ``n + 1 < LATENCY`` words waits:
in general step t + 2's first word is accepted in cycle
``max(m[t+1] + 1, m[t] + LATENCY + 1)``, ``m[t]`` the cycle step t's marker
is accepted. ``tests/test_hw_event_input.py`` checks these cycles exactly.

Memory: one :class:`~amaranth.lib.memory.Memory` (block RAM) of
``2 * 2**ceil_log2(max_inputs)`` entries, the buffer bit on top of the
address, with one write port (stage 3) and one synchronous read port (the
consumer's ``rd_addr``; data the next cycle). The compute reads only the
front buffer, the input writes only the other one, so the ports never meet
on an address. Counts are registers, one per group per buffer, each with
its group's next list address and a room flag beside it.

Integration notes: ``done`` can rise long before the compute has released
every step (the tail is drained while the steps compute), so a sample's
result must wait for ``done`` as well as the last step, or a drained
word's ``extra_events`` would miss the record. A step may be released as
soon as the last reader of the input lists is through with it (the first
layer's issue), which lets the input run further ahead.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from hw.rtl.axi import STREAM_WORD
from hw.spec import timing
from hw.spec.capacity import Capacity
from sw.events import END_OF_STEP, INDEX_BITS

__all__ = ["EventInput", "LATENCY"]

#: Cycles from the cycle a step's marker is accepted to the cycle its
#: ``step_valid`` is high: three pipeline stages and the ``ready`` register.
LATENCY = timing.EVENT_STEP


class EventInput(wiring.Component):
    """The sample's event words into two step-parity event lists.

    Parameters
    ----------
    capacity : Capacity
        ``max_sources`` (S) input groups at most, ``max_inputs`` (NI) inputs,
        ``max_timesteps`` steps.

    Members
    -------
    words : In(stream.Signature(STREAM_WORD))
        The sample's event words (:mod:`sw.events`) with TLAST; ``ready``
        only while a word can be taken (it depends on registers, and is low
        while ``begin`` or ``abort`` is high).
    n_inputs, n_groups, timesteps : In(unsigned)
        The loaded model's input size, input groups and T (T >= 1); stable
        from ``begin`` to the end of the sample.
    g_off, g_size : In(unsigned).array(S)
        Each input group's first flat index and size; stable likewise. Group
        g's list lives at list addresses ``[g_off, g_off + g_size)``, so the
        groups must be disjoint ranges within ``max_inputs`` (an image's
        groups are concatenated); as in the old core, overlapping groups
        would share list entries.
    begin : In(1)
        A new sample: step 0 next, both buffers empty, all flags cleared.
    drain_tail : In(1)
        Sampled at ``begin``: the batch's last sample; a T-th marker without
        TLAST is followed by words up to the next TLAST, drained.
    abort : In(1)
        Soft reset: idle from the next cycle, nothing taken.
    step_valid : Out(1)
        The front step's list is complete (its marker was taken and all its
        events written, or the sample was truncated at or before it).
    release : In(1)
        Only while ``step_valid``: the compute is done with the front step.
    front : Out(unsigned)
        The front step's index (0..T; T once all steps are released).
    count : Out(unsigned).array(S)
        The front step's event count per group; stable while ``step_valid``.
    rd_addr : In(range(NI))
        ``g_off[g] + k``: entry k of group g of the front step's list.
    rd_data : Out(INDEX_BITS + 1)
        The entry at the previous cycle's ``rd_addr`` (synchronous read):
        the local index (word - g_off[g]) of that group's k-th event.
    done : Out(1)
        No more words will be taken for this sample and every taken word has
        left the pipeline (its raise pulses are out).
    events : Out(32)
        Events appended this sample (``IN_EVENTS``).
    raise_bad_word, raise_event_index, raise_truncated, raise_extra_events : Out(1)
        One-cycle pulses, one per offending word (the core ORs them into
        ``ERROR``).
    """

    def __init__(self, capacity: Capacity):
        if not isinstance(capacity, Capacity):
            raise TypeError(f"EventInput needs a hw.spec.capacity.Capacity, not {capacity!r}")
        self.capacity = capacity
        S, NI, TMAX = capacity.max_sources, capacity.max_inputs, capacity.max_timesteps
        self._ab = max(1, ceil_log2(NI))  # list address bits within one buffer
        super().__init__(
            {
                "words": In(stream.Signature(STREAM_WORD)),
                "n_inputs": In(bits_for(NI)),
                "n_groups": In(bits_for(S)),
                "timesteps": In(bits_for(TMAX)),
                "g_off": In(bits_for(NI)).array(S),
                "g_size": In(bits_for(NI)).array(S),
                "begin": In(1),
                "drain_tail": In(1),
                "abort": In(1),
                "step_valid": Out(1),
                "release": In(1),
                "front": Out(bits_for(TMAX)),
                "count": Out(bits_for(NI)).array(S),
                "rd_addr": In(range(max(2, NI))),
                "rd_data": Out(INDEX_BITS + 1),
                "done": Out(1),
                "events": Out(32),
                "raise_bad_word": Out(1),
                "raise_event_index": Out(1),
                "raise_truncated": Out(1),
                "raise_extra_events": Out(1),
            }
        )

    # -- elaborate ---------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        cap = self.capacity
        S, NI, TMAX = cap.max_sources, cap.max_inputs, cap.max_timesteps
        m.submodules.lists = lists = Memory(shape=unsigned(INDEX_BITS + 1), depth=2 << self._ab, init=[])
        wr = lists.write_port()
        rd = lists.read_port()

        # Sample-wide state, shared by the stages.
        self._active = Signal()  # between begin and abort/the next begin
        self._cnt = [[Signal(bits_for(NI), name=f"cnt{b}_{g}") for g in range(S)] for b in range(2)]
        self._wp = [[Signal(self._ab, name=f"wp{b}_{g}") for g in range(S)] for b in range(2)]
        self._room = [[Signal(name=f"room{b}_{g}") for g in range(S)] for b in range(2)]
        self._ready = Array(Signal(name=f"ready{b}") for b in range(2))
        self._trunc = Signal()  # a truncating word reached stage 3
        self._trunc_t = Signal(bits_for(TMAX))  # ... in this step
        self._past_trunc = Signal()  # the front step is after the truncated one
        self._t_front = Signal(bits_for(TMAX))
        self._starting = Signal()  # comb: begin or abort this cycle
        m.d.comb += self._starting.eq(self.begin | self.abort)

        s1 = self._accept(m)
        s2 = self._classify(m, s1)
        s3 = self._select(m, s2)
        self._append(m, s3, wr)
        self._consumer(m, rd)
        m.d.comb += self.done.eq(self._active & self._stopped & ~s1["v"] & ~s2["v"] & ~s3["v"])
        return m

    def _accept(self, m):
        """Stage 0: take a word when its buffer is free; step bookkeeping."""
        TMAX = self.capacity.max_timesteps
        t_acc = Signal(bits_for(TMAX))  # the step the next word belongs to
        lead = Signal(2)  # t_acc - front: 2 = both buffers taken
        last_step = Signal()  # t_acc == T - 1
        self._stopped = stopped = Signal()  # no more words this sample
        draining = Signal()
        drain_tail = Signal()
        w = self.words
        word, last = w.payload.data, w.payload.last
        # Not in a begin/abort cycle: that word would belong to no sample.
        m.d.comb += w.ready.eq(self._active & ~stopped & (draining | (lead != 2)) & ~self._starting)
        fire = w.valid & w.ready
        s1 = {
            "v": Signal(name="s1_v"),
            "word": Signal(32, name="s1_word"),
            "last": Signal(name="s1_last"),
            "final": Signal(name="s1_final"),  # the T-th marker
            "drain": Signal(name="s1_drain"),
            "b": Signal(name="s1_b"),
            "t": Signal(bits_for(TMAX), name="s1_t"),
        }
        m.d.sync += [
            s1["v"].eq(fire & ~self._starting),
            s1["word"].eq(word),
            s1["last"].eq(last),
            s1["final"].eq(~draining & word[31] & last_step),
            s1["drain"].eq(draining),
            s1["b"].eq(t_acc[0]),
            s1["t"].eq(t_acc),
        ]
        marker = fire & ~draining & word[31]
        rel = self.step_valid & self.release
        m.d.sync += lead.eq(lead + marker - rel)
        with m.If(fire):
            with m.If(draining):
                with m.If(last):
                    m.d.sync += [stopped.eq(1), draining.eq(0)]
            with m.Elif(word[31]):
                m.d.sync += [t_acc.eq(t_acc + 1), last_step.eq(t_acc + 2 == self.timesteps)]
                with m.If(last_step):
                    with m.If(~last & drain_tail):
                        m.d.sync += draining.eq(1)
                    with m.Else():
                        m.d.sync += stopped.eq(1)
                with m.Elif(last):
                    m.d.sync += stopped.eq(1)
            with m.Elif(last):
                m.d.sync += stopped.eq(1)
        with m.If(self._starting):
            m.d.sync += [
                self._active.eq(self.begin & ~self.abort),
                t_acc.eq(0),
                lead.eq(0),
                last_step.eq(self.timesteps == 1),
                stopped.eq(0),
                draining.eq(0),
                drain_tail.eq(self.drain_tail),
            ]
        return s1

    def _classify(self, m, s1):
        """Stage 1: every check and every group's range compare in parallel."""
        S = self.capacity.max_sources
        word = s1["word"]
        idx = word[:INDEX_BITS]
        g_end = [Signal(bits_for(self.capacity.max_inputs) + 1, name=f"g_end{g}") for g in range(S)]
        # g_off + g_size registered: the configuration is stable from begin,
        # and the first word reaches this stage two cycles after begin.
        m.d.sync += [g_end[g].eq(self.g_off[g] + self.g_size[g]) for g in range(S)]
        s2 = {
            "v": Signal(name="s2_v"),
            "marker": Signal(name="s2_marker"),
            "bad_marker": Signal(name="s2_bad_marker"),
            "hi_bad": Signal(name="s2_hi_bad"),
            "idx_bad": Signal(name="s2_idx_bad"),
            "hit": Signal(S, name="s2_hit"),
            "loc": [Signal(INDEX_BITS + 1, name=f"s2_loc{g}") for g in range(S)],
        }
        for k in ("last", "final", "drain", "b", "t"):
            s2[k] = Signal.like(s1[k], name=f"s2_{k}")
            m.d.sync += s2[k].eq(s1[k])
        m.d.sync += [
            s2["v"].eq(s1["v"] & ~self._starting),
            s2["marker"].eq(word[31]),
            s2["bad_marker"].eq(word != END_OF_STEP),
            s2["hi_bad"].eq(word[INDEX_BITS:31] != 0),
            s2["idx_bad"].eq(idx >= self.n_inputs),
            s2["hit"].eq(Cat((g < self.n_groups) & (idx >= self.g_off[g]) & (idx < g_end[g]) for g in range(S))),
        ]
        m.d.sync += [s2["loc"][g].eq(idx - self.g_off[g]) for g in range(S)]
        return s2

    def _select(self, m, s2):
        """Stage 2: the lowest hit group and its local index."""
        S = self.capacity.max_sources
        grp = Signal(range(max(2, S)))
        for g in reversed(range(S)):
            with m.If(s2["hit"][g]):
                m.d.comb += grp.eq(g)
        s3 = {
            "v": Signal(name="s3_v"),
            "grp": Signal(range(max(2, S)), name="s3_grp"),
            "nohit": Signal(name="s3_nohit"),
            "loc": Signal(INDEX_BITS + 1, name="s3_loc"),
        }
        for k in ("marker", "bad_marker", "hi_bad", "idx_bad", "last", "final", "drain", "b", "t"):
            s3[k] = Signal.like(s2[k], name=f"s3_{k}")
            m.d.sync += s3[k].eq(s2[k])
        m.d.sync += [
            s3["v"].eq(s2["v"] & ~self._starting),
            s3["grp"].eq(grp),
            s3["nohit"].eq(s2["hit"] == 0),
            s3["loc"].eq(Array(s2["loc"])[grp]),
        ]
        return s3

    def _append(self, m, s3, wr):
        """Stage 3: append to the group's list, count, end the step, raise.

        Each (buffer, group) keeps, beside its count, its next list address
        ``wp = g_off + count`` and a ``room`` flag (``count != g_size``),
        both updated with the count; so the path from the stage-3 registers
        to the memory's write port and the events counter is one small mux,
        not a mux, a comparator and an adder.
        """
        S = self.capacity.max_sources
        b, grp = s3["b"], s3["grp"]
        cnt, wp, room = self._cnt, self._wp, self._room
        v = s3["v"] & ~self._starting  # no raise in a begin/abort cycle
        index = v & ~s3["drain"] & ~s3["marker"]
        fmt_ok = ~s3["hi_bad"] & ~s3["idx_bad"]
        append = index & fmt_ok & ~s3["nohit"] & Array(Array(r) for r in room)[b][grp]
        m.d.comb += [
            wr.addr.eq(Cat(Array(Array(r) for r in wp)[b][grp], b)),
            wr.data.eq(s3["loc"]),
            wr.en.eq(append),
            self.raise_extra_events.eq(v & s3["drain"]),
            self.raise_event_index.eq(index & ~s3["hi_bad"] & s3["idx_bad"]),
            self.raise_bad_word.eq(
                (v & ~s3["drain"] & s3["marker"] & s3["bad_marker"]) | (index & (s3["hi_bad"] | (fmt_ok & ~append)))
            ),
        ]
        ends = v & ~s3["drain"] & (s3["marker"] | s3["last"])  # the step's last word
        truncates = v & ~s3["drain"] & s3["last"] & ~s3["final"]
        m.d.comb += self.raise_truncated.eq(truncates)
        with m.If(append):
            m.d.sync += self.events.eq(self.events + 1)
        for bb in range(2):
            for g in range(S):
                with m.If(append & (b == bb) & (grp == g)):
                    m.d.sync += [
                        cnt[bb][g].eq(cnt[bb][g] + 1),
                        wp[bb][g].eq(wp[bb][g] + 1),
                        room[bb][g].eq(cnt[bb][g] + 1 != self.g_size[g]),
                    ]
        with m.If(ends):
            m.d.sync += self._ready[b].eq(1)
        with m.If(truncates):
            m.d.sync += [self._trunc.eq(1), self._trunc_t.eq(s3["t"])]
        # Release: the front buffer's ready bit and lists clear (no stage-3
        # word targets the front buffer once it is ready).
        fb = self._t_front[0]
        with m.If(self.step_valid & self.release):
            m.d.sync += self._ready[fb].eq(0)
        for bb in range(2):
            with m.If(self._starting | (self.step_valid & self.release & (fb == bb))):
                for g in range(S):
                    m.d.sync += [cnt[bb][g].eq(0), wp[bb][g].eq(self.g_off[g]), room[bb][g].eq(self.g_size[g] != 0)]
        with m.If(self._starting):
            m.d.sync += [self.events.eq(0), self._trunc.eq(0), self._ready[0].eq(0), self._ready[1].eq(0)]

    def _consumer(self, m, rd):
        """The front step: valid, counts, the synchronous list read, release."""
        S = self.capacity.max_sources
        fb = self._t_front[0]
        at_end = Signal()  # every step released
        m.d.comb += [
            at_end.eq(self._t_front == self.timesteps),
            self.front.eq(self._t_front),
            self.step_valid.eq(self._active & ~at_end & (self._ready[fb] | self._past_trunc)),
            rd.addr.eq(Cat(self.rd_addr[: self._ab], fb)),
            self.rd_data.eq(rd.data),
        ]
        m.d.comb += [self.count[g].eq(Mux(fb, self._cnt[1][g], self._cnt[0][g])) for g in range(S)]
        with m.If(self.step_valid & self.release):
            m.d.sync += self._t_front.eq(self._t_front + 1)
            with m.If(self._trunc & (self._t_front == self._trunc_t)):
                m.d.sync += self._past_trunc.eq(1)
        with m.If(self._starting):
            m.d.sync += [self._t_front.eq(0), self._past_trunc.eq(0)]
