"""``eavs_core``: the LIF neuron array and spike-routing fabric behind AXI.

DESIGN.md section 5 in Amaranth 0.5. One bitstream runs any model that fits
its :class:`hw.spec.capacity.Capacity`: the model image (:mod:`hw.spec.protocol`) is
loaded over the input stream at run time.

Architecture
------------
*Time-stepped across layers, event-driven within a layer*, built from
components, each in its own module with its own tests:

* :mod:`hw.rtl.loader`: the model image into parameters and memories;
* :mod:`hw.rtl.event_input`: the double-buffered event lists (step t + 1's
  events arrive while step t computes);
* :mod:`hw.rtl.spike_queues`: the spike-routing fabric, a double-buffered spike
  queue per layer in P lane banks;
* :mod:`hw.rtl.walker`: the issue unit's walker over a chunk's segments;
* :mod:`hw.rtl.accumulators`: the P synapse accumulators;
* :mod:`hw.rtl.lif_array`: the P pipelined LIF lanes (:mod:`hw.rtl.lif_pipe`);
* :mod:`hw.rtl.result_writer`: readout scan, argmax and result record;
* :mod:`hw.rtl.exit_monitor`: the early-exit rule on the readout's write-backs;
* :mod:`hw.rtl.csr`: the AXI4-Lite registers (:mod:`hw.spec.regmap`).

This module holds the memories and is the sequencer that runs them: the
wave loop, each layer's set-up, the issue pipeline's addresses and the
update tags.

**Waves** (:mod:`hw.spec.schedule`). A sample runs ``T + max(stage)`` waves; in
wave ``w`` each layer, in order, computes step ``w - stage`` (or is skipped,
one R_LATCH cycle, when that is outside 0..T-1). On the default network
(stages 0, 0, 1, 2) wave w runs audio(w), visual(w), fusion(w-1),
readout(w-2): no layer reads the spikes the layer before it is still
writing, so the pipeline never drains between layers. A wave starts when
its input step is complete (R_WAIT, the host's time, not counted).

**A layer's run** (``R_LATCH``, ``R_SETUP``, then chunks of P neurons):

1. **Set-up** (2 cycles). R_LATCH latches the layer's parameters and its
   sources' queue counts and segment mask; it *waits* while a spike queue
   it reads, or its own layer, still has write-backs in flight (per-queue
   countdowns ``ttl``, DRAIN - 1 after the writer's last issue, counted in
   compute cycles only, so the wait never depends on the host's timing).
   R_SETUP enters the first chunk from those registers, so no queue count
   reaches the walker's priority encoder in the cycle that reads it.
2. **Replay** (one cycle per event, per chunk; an empty chunk takes one
   R_CEND cycle): a walker visits every non-empty *segment* of the layer's
   sources (an input group's event list, or one lane bank of a layer's
   spike queue) and issues one queued index per cycle; a priority encoder
   over the segments' non-empty bits picks the next segment in the same
   cycle, so there are no bubbles, and the last issue of a chunk enters
   the next chunk (or ends the run) in the same cycle. Four registered
   stages follow an issue (``ISSUE_LAT`` = 4; block RAM read synchronously
   throughout): I0 presents the event-list/queue read address and latches
   the segment's weight-row base; I1 turns the queue entry into the row
   index (registered); I2 adds it to the base to address the row of P
   weights (one wide weight-memory word); I3 registers the row; I4 adds it
   into the P accumulators (the chunk's first add also loads its bias).
3. **Update** (overlapped with the next chunk's, and the next layer's,
   issue): a chunk's update is *tagged* (``tags``: its membrane row, chunk,
   lane count, layer, step parity, step 0, first chunk) and follows its
   last issue through 3 wait stages (the last accumulate lands 4 cycles
   after its issue), a membrane/decay read, and the P
   :class:`hw.rtl.lif_pipe.LIFPipeLane` units' ``LATENCY`` (4) stages; the
   lanes read the tagged layer's threshold, reset and clamp. At write-back
   (9 cycles after the chunk's last issue) the membranes and spike counts
   are written and lane ``j`` pushes its spike into lane bank ``j`` of the
   layer's spike queue (a run's first chunk restarts the queue), so all P
   spikes of a chunk are queued in one cycle.

Spike queues are double-buffered per layer (buffer ``t mod 2`` holds step
t); a delay-1 source replays the other buffer, i.e. step t-1's spikes.
Membranes need no clearing pass: at step 0 the update reads them as 0. The
sample ends with R_FLUSH (the last write-backs), then R_DRAIN (the event
input takes any tail words), then the result writer.

**Early exit** (image v4). After the readout's run of a step the rule may
end (``min_step <= t <= T-2``) the wave ends in R_EXIT, which waits for
:class:`hw.rtl.exit_monitor.ExitMonitor`'s decision; on an exit the sample
flushes, and R_DRAIN releases (discards) the input steps the core had not yet
consumed as they arrive, one counted cycle each. The result record carries
the monitor's exit step.

Cycle model (hw.spec.capacity, the one definition; the RTL's counter matches it
on every simulated sample): R_INIT (1), per layer run ``SETUP_CYCLES`` (2)
plus ``max(events, 1)`` per chunk after any drain wait, per skipped layer
``SKIP_CYCLES`` (1), the R_EXIT waits and discarded steps of an exit rule,
and the final flush. Cycles that wait for input words,
drain a bad stream, scan the readout and write results are stream I/O, not
compute, and are not counted.

After the last step :class:`hw.rtl.result_writer.ResultWriter` scans the readout
membranes (argmax, lowest index wins ties; copied into the ``READOUT``
window) and writes one result record to ``m_axis``.

Bad input never corrupts state: out-of-range or malformed event words are
dropped, words after the T-th marker are drained, a TLAST before it ends the
sample early; each sets its own sticky bit in ``ERROR`` and in the sample's
result record, and the next sample is accepted as usual.
"""

from __future__ import annotations


from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.spec import protocol, regmap
from hw.rtl.accumulators import SynapseAccumulators
from hw.rtl.axi import AXI4LiteSignature, AXIStreamSignature
from hw.spec.capacity import Capacity, DRAIN, require_capacity
from hw.rtl.csr import ControlRegisters
from hw.rtl.event_input import EventInput
from hw.rtl.exit_monitor import ExitMonitor
from hw.spec.lif import acc_bits
from hw.rtl.lif_array import LIFArray
from hw.rtl.lif_pipe import LIFPipeLane
from hw.rtl.loader import DECAY_LANE_BITS, ModelLoader
from hw.rtl.result_writer import ResultWriter
from hw.spec.schedule import MAX_STAGE
from hw.rtl.walker import SegmentWalker
from hw.rtl.spike_queues import SpikeQueues

__all__ = ["EAVSCore"]

# Top-level states.
(
    IDLE,
    LOAD,
    R_INIT,
    R_WAIT,
    R_ISSUE,
    R_CEND,
    R_LATCH,
    R_DRAIN,
    R_SCAN,
    R_SETUP,
    R_FLUSH,
    R_EXIT,
) = range(12)
COUNTED = (R_INIT, R_LATCH, R_SETUP, R_ISSUE, R_CEND, R_FLUSH, R_EXIT)


def _err(name: str) -> int:
    return regmap.field("ERROR", name).mask


class EAVSCore(wiring.Component):
    """The accelerator core for one :class:`~hw.spec.capacity.Capacity`.

    Parameters
    ----------
    capacity : Capacity
        Limits of this bitstream; models are loaded at run time.

    Members
    -------
    s_axil : In(AXI4LiteSignature(regmap.address_bits(capacity)))
        Control and status registers, :mod:`hw.spec.regmap`.
    s_axis : In(AXIStreamSignature(32))
        Model images and AER event words, :mod:`hw.spec.protocol`.
    m_axis : Out(AXIStreamSignature(32))
        Result records, :mod:`hw.spec.protocol`.
    """

    def __init__(self, capacity: Capacity):
        require_capacity(self, capacity)
        self._MustUse__silence = True  # a rejected instance is not an unused one
        if capacity.max_sources > 255 or capacity.max_layers > 255:
            raise TypeError(f"max_sources and max_layers must be <= 255 (8-bit source index), not {capacity!r}")
        self._MustUse__silence = False
        self.capacity = capacity
        self.addr_bits = regmap.address_bits(capacity)
        super().__init__(
            {
                "s_axil": In(AXI4LiteSignature(self.addr_bits)),
                "s_axis": In(AXIStreamSignature(32)),
                "m_axis": Out(AXIStreamSignature(32)),
            }
        )

    # ------------------------------------------------------------------------

    def elaborate(self, platform):  # noqa: C901 - the sequencer's FSM, kept in one place
        cap = self.capacity
        P, V, WB = cap.lanes, cap.v_bits, cap.weight_bits
        L, S = cap.max_layers, cap.max_sources
        NI, NN, WD, TMAX = cap.max_inputs, cap.max_neurons, cap.weight_depth, cap.max_timesteps
        QD = protocol.queue_depth(cap)
        MD = protocol.membrane_depth(cap)
        ROWS_MAX = S * max(NI, NN)
        ACC = acc_bits(V, WB, ROWS_MAX)

        m = Module()
        axis_in, axis_out, axil = self.s_axis, self.m_axis, self.s_axil

        # -- memories -----------------------------------------------------------
        m.submodules.wmem = wmem = Memory(shape=unsigned(P * WB), depth=WD, init=[])
        w_wr = wmem.write_port()
        w_rd = wmem.read_port()
        m.submodules.vmem = vmem = Memory(shape=unsigned(P * V), depth=MD, init=[])
        v_wr = vmem.write_port()
        v_rd = vmem.read_port()
        m.submodules.bmem = bmem = Memory(shape=unsigned(P * V), depth=MD, init=[])
        b_wr = bmem.write_port(granularity=V)
        b_rd = bmem.read_port()
        DW = DECAY_LANE_BITS
        m.submodules.dmem = dmem = Memory(shape=unsigned(P * DW), depth=MD, init=[])
        d_wr = dmem.write_port(granularity=DW)
        d_rd = dmem.read_port()
        m.submodules.queues = queues = SpikeQueues(cap)  # the spike-routing fabric
        CB = bits_for(TMAX)  # a spike count over a sample
        m.submodules.cmem = cmem = Memory(shape=unsigned(P * CB), depth=MD, init=[])
        c_wr = cmem.write_port()
        c_rd = cmem.read_port()

        # -- control / status registers ------------------------------------------
        state = Signal(range(12))
        mode = Signal()
        batch = Signal(32, init=1)
        batch_left = Signal(32)
        done = Signal()
        model_valid = Signal()
        error = Signal(8)
        sample_err = Signal(8)
        samples_done = Signal(32)
        cycles = Signal(32)
        spikes_cnt = Signal(32)
        sops = Signal(32)
        start = Signal()
        start_mode = Signal()  # CTRL.mode as written together with start
        soft_reset = Signal()
        clear_errors = Signal()
        busy = Signal()
        m.d.comb += busy.eq(state != IDLE)
        set_err = Signal(8)  # comb: error causes raised this cycle
        set_sample_err = Signal(8)
        raised = {f.name: Signal(name=f"raise_{f.name}") for f in regmap.ERROR_BITS}

        def raise_(name):
            m.d.comb += raised[name].eq(1)

        sample_causes = ("event_index", "extra_events", "truncated", "start_busy", "bad_word")
        m.d.comb += set_sample_err.eq(
            Cat(*[raised[f.name] if f.name in sample_causes else Const(0, 1) for f in regmap.ERROR_BITS])
        )
        m.d.sync += error.eq(Mux(clear_errors, 0, error) | set_err)

        # -- model parameters (registers of the loader, hw.rtl.loader) ------------------
        m.submodules.loader = loader = ModelLoader(cap)
        nb = bits_for(NN)
        rows_bits = bits_for(ROWS_MAX)
        m_inputs, m_T, m_layers, m_groups = loader.m_inputs, loader.m_T, loader.m_layers, loader.m_groups
        m_outputs, m_out_mbase, m_rspk = loader.m_outputs, loader.m_out_mbase, loader.m_rspk
        g_off, g_size, g_end = Array(loader.g_off), Array(loader.g_size), Array(loader.g_end)
        ly_n, ly_chunks = Array(loader.ly_n), Array(loader.ly_chunks)
        ly_stage = Array(loader.ly_stage)  # hw.spec.schedule
        ly_nsrc, ly_wbase = Array(loader.ly_nsrc), Array(loader.ly_wbase)
        ly_rows, ly_mbase = Array(loader.ly_rows), Array(loader.ly_mbase)
        sr_idx, sr_delay = (Array(Array(r) for r in x) for x in (loader.sr_idx, loader.sr_delay))
        sr_layer, sr_off = (Array(Array(r) for r in x) for x in (loader.sr_layer, loader.sr_off))

        m.submodules.events = ev = EventInput(cap)  # wired below, after the input word

        # -- AXI4-Stream in: who consumes ------------------------------------------
        # One registered word in front of both consumers (the loader, the event
        # input), so no consumer's logic starts at the bus: the stream's ready
        # is "a consumer can take a word and the register is free or being
        # taken". ``take`` is what the consumers drive.
        in_valid = Signal()
        in_data = Signal(32)
        in_last = Signal()
        take = Signal()
        word = in_data
        fire_in = Signal()
        m.d.comb += fire_in.eq(in_valid & take)
        consuming = Signal()
        m.d.comb += [
            consuming.eq((state == LOAD) | ev.words.ready),
            take.eq(Mux(state == LOAD, loader.words.ready, ev.words.ready)),
            axis_in.tready.eq(consuming & (~in_valid | take)),
        ]
        with m.If(axis_in.tvalid & axis_in.tready):
            m.d.sync += [in_valid.eq(1), in_data.eq(axis_in.tdata), in_last.eq(axis_in.tlast)]
        with m.Elif(fire_in):
            m.d.sync += in_valid.eq(0)

        # ===================================================================
        # Loader (hw.rtl.loader): the image words from the input register
        # ===================================================================
        wiring.connect(m, loader.w_wr, w_wr)
        wiring.connect(m, loader.b_wr, b_wr)
        wiring.connect(m, loader.d_wr, d_wr)
        m.d.comb += [
            loader.words.payload.data.eq(in_data),
            loader.words.payload.last.eq(in_last),
            loader.words.valid.eq(in_valid & (state == LOAD)),
        ]
        load_err = loader.error
        with m.If(loader.finished):
            m.d.sync += [model_valid.eq(loader.model_valid), state.eq(IDLE), done.eq(1)]

        # ===================================================================
        # Execution
        # ===================================================================
        # wave counter (hw.spec.schedule): layer l computes step w - stage[l]
        w = Signal(bits_for(TMAX + MAX_STAGE))
        n_waves = Signal(bits_for(TMAX + MAX_STAGE))  # T + the loaded layers' largest stage
        lay = Signal(bits_for(L))
        # the sample's event words: step t + 1's list fills while step t computes
        # (hw.rtl.event_input); the issue reads the front step's lists
        m.d.comb += [
            ev.n_inputs.eq(m_inputs), ev.n_groups.eq(m_groups), ev.timesteps.eq(m_T),
            *[ev.g_off[g].eq(g_off[g]) for g in range(S)], *[ev.g_size[g].eq(g_size[g]) for g in range(S)],
            ev.words.payload.data.eq(in_data), ev.words.payload.last.eq(in_last),
            ev.words.valid.eq(in_valid & (state != LOAD)),
            ev.begin.eq(state == R_INIT), ev.drain_tail.eq(batch_left == 1), ev.abort.eq(soft_reset),
        ]  # fmt: skip
        gcnt = Array(ev.count)
        for cause in ("bad_word", "event_index", "truncated", "extra_events"):
            with m.If(getattr(ev, f"raise_{cause}")):
                raise_(cause)
        cnt_bits = bits_for(QD)
        qcnt = Array(Array(queues.count[q][j] for j in range(P)) for q in range(2 * L))

        # current layer (latched at set-up)
        cur_n_left = Signal(nb + 1)  # neurons from this chunk on
        cur_chunks_left = Signal(bits_for(QD))
        cur_par = Signal()  # the run's step parity: the buffer of its own queue it writes
        cur_zero = Signal()  # the run's step is 0: membranes and spike counts read as 0
        cur_first = Signal()  # the chunk being issued is the run's first
        # per spike queue (layer * 2 + parity), compute cycles until its last
        # write-back is done: a set-up that reads it (or re-runs its layer) waits
        ttl = Array(Signal(range(DRAIN), name=f"ttl{q}") for q in range(2 * L))
        cur_wptr = Signal(bits_for(WD) + 1)
        cur_rows = Signal(rows_bits)
        cur_maddr = Signal(bits_for(MD))
        cur_c = Signal(bits_for(QD))
        s_off = Array(Signal(rows_bits, name=f"s_off{s}") for s in range(S))
        s_layer = Array(Signal(name=f"s_layer{s}") for s in range(S))
        s_qbase = Array(Signal(bits_for(2 * L * QD), name=f"s_qbase{s}") for s in range(S))
        s_gbase = Array(Signal(bits_for(NI), name=f"s_gbase{s}") for s in range(S))
        # Group event lists can be longer than a queue bank: widen segment counts.
        seg_w = max(cnt_bits, bits_for(NI))
        seg_cnt = Array(Array(Signal(seg_w, name=f"seg{s}_{j}") for j in range(P)) for s in range(S))
        mask = Signal(S * P)

        # the walker (hw.rtl.walker): one queued event per cycle over the segments
        # the set-up latched (mask, seg_cnt: stable for the layer's run)
        m.submodules.walker = walker = SegmentWalker(S, P, seg_w)
        m.d.comb += [walker.mask.eq(mask), *[walker.counts[s * P + j].eq(seg_cnt[s][j]) for s in range(S) for j in range(P)]]
        w_s, w_j, w_k = walker.s, walker.j, walker.k

        # pipeline
        p2_valid = Signal()
        acc_load = Signal()
        c0 = Signal()
        c1 = Signal()
        c2 = Signal()
        c3 = Signal()
        p1_valid = Signal()
        p3_valid = Signal()
        p4_valid = Signal()
        p1_lanes = Signal(bits_for(P))
        p2_lanes = Signal(bits_for(P))
        p3_lanes = Signal(bits_for(P))
        p4_lanes = Signal(bits_for(P))
        p1_j = Signal(range(max(2, P)))
        p1_layer = Signal()
        p1_base = Signal(bits_for(WD) + 1)
        p2_base = Signal(bits_for(WD) + 1)
        p2_local = Signal(bits_for(ROWS_MAX) + 1)
        lanes_now = Signal(bits_for(P))
        m.d.comb += lanes_now.eq(Mux(cur_n_left > P, P, cur_n_left))
        # the P accumulators behind the registered weight row (I3, I4): hw.rtl.accumulators
        m.submodules.accumulators = accs = SynapseAccumulators(P, WB, V, ACC)
        acc = list(accs.acc)

        # issue pipeline: I0 issue (event-list/queue read address), I1 queue
        # entry -> local row (registered), I2 row address (weight read), I3
        # weight word registered, I4 accumulate: ISSUE_LAT = 4
        m.d.sync += [c0.eq(0), c1.eq(c0), c2.eq(c1), c3.eq(c2), acc_load.eq(c3)]
        m.d.sync += [p1_valid.eq(state == R_ISSUE), p2_valid.eq(p1_valid), p3_valid.eq(p2_valid), p4_valid.eq(p3_valid)]
        m.d.sync += [p1_lanes.eq(lanes_now), p2_lanes.eq(p1_lanes), p3_lanes.eq(p2_lanes), p4_lanes.eq(p3_lanes)]

        # The update of a chunk, tagged with everything its layer needs
        # downstream, so the next chunk (or the next layer) issues while it
        # drains. A chunk's tag enters stage 0 the cycle after its last issue
        # (or its one R_CEND cycle, if it had no events); stages 0..2 wait
        # for its last accumulate (ISSUE_LAT = 4 cycles after that issue);
        # stage UPD reads its membranes and decays; stage UPD + 1 enters the
        # lanes; LIFPipeLane.LATENCY stages later (stage WBS) its membranes,
        # spike counts and spikes are written back.
        LAT = LIFPipeLane.LATENCY
        UPD = 3
        WBS = UPD + 1 + LAT
        tag_layout = data.StructLayout(
            {"valid": 1, "maddr": bits_for(MD), "c": bits_for(QD), "lanes": bits_for(P), "layer": bits_for(L),
             "par": 1, "zero": 1, "first": 1, "last": 1, "ro": 1}
        )  # fmt: skip
        tags = [Signal(tag_layout, name=f"upd_tag{i}") for i in range(WBS + 1)]
        m.d.sync += tags[0].eq(0)  # no chunk ends this cycle, unless chunk_end() says so
        for a_, b_ in zip(tags, tags[1:]):
            m.d.sync += b_.eq(a_)
        upd, upd1, wb = tags[UPD], tags[UPD + 1], tags[WBS]

        # chunk entry helper: called in the cycle before the chunk's cycle 0
        def enter_chunk():
            m.d.comb += walker.enter.eq(1)
            m.d.sync += [c0.eq(1), state.eq(Mux(walker.any, R_ISSUE, R_CEND))]

        # queue / input reads for the issued event
        # issue (I0): the event list / queue read address; the segment's row base
        m.d.comb += ev.rd_addr.eq(s_gbase[w_s] + w_k)
        m.d.sync += [p1_j.eq(w_j), p1_layer.eq(s_layer[w_s]), p1_base.eq(cur_wptr + s_off[w_s])]
        m.d.comb += queues.rd_addr.eq(s_qbase[w_s] + w_k)
        # I1: the queue entry (read synchronously) gives the weight row address
        bank_data = Array(queues.rd_data)
        local = Signal(bits_for(ROWS_MAX) + 1)
        m.d.comb += local.eq(Mux(p1_layer, bank_data[p1_j] * P + p1_j, ev.rd_data))
        m.d.sync += [p2_local.eq(local), p2_base.eq(p1_base)]
        m.d.comb += w_rd.addr.eq(p2_base + p2_local)  # I2
        # next cycle: accumulate (a chunk's first accumulate, or the lone
        # one of a chunk without events, also loads the bias)
        m.d.comb += [
            accs.w_word.eq(w_rd.data),  # I3: the row, registered in the array
            accs.bias_word.eq(b_rd.data),
            accs.load.eq(acc_load),
            accs.valid.eq(p4_valid),
            accs.lanes.eq(p4_lanes),
        ]
        m.d.sync += sops.eq(sops + accs.sops_inc)
        # the bias of the chunk whose first accumulate is next cycle: cur_maddr
        # three cycles late (its last issue may have moved cur_maddr on)
        maddr_d = [Signal(bits_for(MD), name=f"maddr_d{i}") for i in range(3)]
        m.d.sync += [maddr_d[0].eq(cur_maddr), maddr_d[1].eq(maddr_d[0]), maddr_d[2].eq(maddr_d[1])]
        m.d.comb += [b_rd.addr.eq(maddr_d[2]), d_rd.addr.eq(upd.maddr)]
        # The lane's stage UPD + 1 takes the accumulators in the cycle the next
        # chunk's first accumulate reloads them: that write lands a cycle later.

        # update: the LIF array (hw.rtl.lif_array) takes the chunk at stage UPD + 1
        # (membranes and decays read at UPD) and gives its membranes, spikes
        # (masked by its lane count) and spike counts at stage WBS; it carries
        # the chunk's layer itself, so consecutive chunks may switch layers
        m.submodules.lif = lif = LIFArray(cap)
        assert lif.LATENCY == LAT and lif.acc_width == ACC and lif.count_bits == CB, "hw.rtl.lif_array differs from the core"
        m.d.comb += [
            lif.i_valid.eq(upd1.valid), lif.i_zero.eq(upd1.zero), lif.i_lanes.eq(upd1.lanes), lif.i_layer.eq(upd1.layer),
            lif.v_word.eq(v_rd.data), lif.d_word.eq(d_rd.data),  # the chunk's decays, read with its membranes
            *[lif.acc[j].eq(acc[j]) for j in range(P)],
            *[lif.ly_thr[i].eq(loader.ly_thr[i]) for i in range(L)], *[lif.ly_sub[i].eq(loader.ly_sub[i]) for i in range(L)],
            *[lif.ly_spk[i].eq(loader.ly_spk[i]) for i in range(L)], *[lif.ly_vb[i].eq(loader.ly_vb[i]) for i in range(L)],
            lif.c_word.eq(c_rd.data),  # read one cycle before the chunk's write-back (address below)
        ]  # fmt: skip
        spike_bits = [lif.spikes[j] for j in range(P)]
        # the early-exit rule (hw.rtl.exit_monitor) sees the readout's write-backs
        m.submodules.exit_monitor = mon = ExitMonitor(cap)
        m.d.comb += [
            mon.begin.eq(state == R_INIT), mon.timesteps.eq(m_T), mon.rspk.eq(m_rspk),
            mon.min_step.eq(loader.m_exit_min), mon.margin.eq(loader.m_exit_margin),
            mon.i_valid.eq(wb.valid & wb.ro), mon.i_first.eq(wb.first), mon.i_last.eq(wb.last), mon.i_lanes.eq(wb.lanes),
            mon.i_v.eq(lif.v_word_out), mon.i_c.eq(lif.c_word_out),
        ]  # fmt: skip
        # per-neuron spike counts (the readout = "spikes" layer's, but kept for
        # every layer: it costs no control): written with the chunk's spikes
        with m.If(wb.valid):
            m.d.comb += [c_wr.addr.eq(wb.maddr), c_wr.data.eq(lif.c_word_out), c_wr.en.eq(1)]
        # spikes into the written layer's own queue (layer * 2 + parity): lane
        # j's into bank j; a run's first chunk restarts the banks at their base
        # (hw.rtl.spike_queues; the queue base is registered one stage ahead)
        wb_qbase = Signal(bits_for(2 * L * QD))
        m.d.sync += wb_qbase.eq(Cat(tags[WBS - 1].par, tags[WBS - 1].layer) * QD)
        m.d.comb += [
            queues.wr_valid.eq(wb.valid), queues.wr_first.eq(wb.first), queues.wr_queue.eq(Cat(wb.par, wb.layer)),
            queues.wr_qbase.eq(wb_qbase), queues.wr_chunk.eq(wb.c), queues.wr_spikes.eq(Cat(*spike_bits)),
        ]  # fmt: skip
        with m.If(wb.valid):
            m.d.comb += [v_wr.addr.eq(wb.maddr), v_wr.data.eq(lif.v_word_out), v_wr.en.eq(1)]
            m.d.sync += spikes_cnt.eq(spikes_cnt + sum(spike_bits))

        # readout scan and result record: hw.rtl.result_writer
        m.submodules.result_writer = rw = ResultWriter(cap)
        assert len(rw.c_data) == len(c_rd.data), "spike-count width differs from hw.rtl.result_writer's"
        m.d.comb += [
            rw.abort.eq(soft_reset),
            rw.n_out.eq(m_outputs),
            rw.out_mbase.eq(m_out_mbase),
            rw.rspk.eq(m_rspk),
            rw.v_data.eq(v_rd.data),
            rw.c_data.eq(c_rd.data),
            rw.sample_errors.eq(sample_err),
            rw.cycles.eq(cycles),
            rw.in_events.eq(ev.events),
            rw.spikes.eq(spikes_cnt),
            rw.sops.eq(sops),
            rw.exit_step.eq(mon.exit_step),
        ]
        wiring.connect(m, rw.m_axis, wiring.flipped(axis_out))
        prediction = rw.prediction
        # membrane read address: the chunk's row while computing, the readout while scanning
        with m.If(rw.scanning):
            m.d.comb += v_rd.addr.eq(rw.mem_addr)
            m.d.comb += c_rd.addr.eq(rw.mem_addr)
        with m.Else():
            m.d.comb += v_rd.addr.eq(upd.maddr)
            m.d.comb += c_rd.addr.eq(tags[WBS - 1].maddr)  # the chunk written back next cycle

        # counters; the drain countdowns run in compute cycles only, so that
        # the cycles a set-up waits do not depend on how fast the host sends
        # input (the write-backs they wait for are done by then either way)
        counted = Signal()
        m.d.comb += counted.eq(Cat(*[state == s for s in COUNTED]).any() | ((state == R_DRAIN) & ev.step_valid))
        with m.If(counted):
            m.d.sync += cycles.eq(Mux(state == R_INIT, 1, cycles + 1))
            for q in range(2 * L):
                with m.If(ttl[q] != 0):
                    m.d.sync += ttl[q].eq(ttl[q] - 1)

        # ---- layer set-up ------------------------------------------------------------
        # R_LATCH latches layer ``su_l``'s run in wave ``w``: its step
        # ``w - stage`` (hw.spec.schedule; the layer is skipped when that is not in
        # 0..T-1), its parameters, and its sources' queue counts and segment
        # mask. It waits while a queue it reads, or its own layer, still has
        # write-backs in flight (``ttl``); so every count it latches is final.
        # ``su_l`` is a register (0 at a wave's start, then one more per
        # latch), so no adder or state mux feeds the set-up.
        su_l = Signal(range(L + 1))  # L: past the last layer
        su_t = Signal(bits_for(TMAX + MAX_STAGE))
        su_active = Signal()
        su_par = Signal()
        m.d.comb += [
            su_t.eq(w - ly_stage[su_l]),
            su_active.eq((w >= ly_stage[su_l]) & (su_t < m_T)),
            su_par.eq(su_t[0]),
        ]
        su_stmts = [
            lay.eq(su_l),
            cur_par.eq(su_par),
            cur_zero.eq(su_t == 0),
            cur_first.eq(1),
            cur_n_left.eq(ly_n[su_l]),
            cur_chunks_left.eq(ly_chunks[su_l]),
            cur_wptr.eq(ly_wbase[su_l]),
            cur_rows.eq(ly_rows[su_l]),
            cur_maddr.eq(ly_mbase[su_l]),
            cur_c.eq(0),
        ]
        su_mask = Signal(S * P)
        su_wait = [ttl[Cat(Const(0, 1), su_l)] != 0, ttl[Cat(Const(1, 1), su_l)] != 0]  # its own membranes
        for s in range(S):
            valid = s < ly_nsrc[su_l]
            idx = sr_idx[su_l][s]
            is_layer = sr_layer[su_l][s]
            q = Signal(range(2 * L), name=f"su_q{s}")
            m.d.comb += q.eq(Cat(su_par ^ sr_delay[su_l][s], idx))  # layer idx, buffer of step t - delay
            su_wait.append(valid & is_layer & (ttl[q] != 0))
            su_stmts += [
                s_off[s].eq(sr_off[su_l][s]),
                s_layer[s].eq(is_layer),
                s_qbase[s].eq(q * QD),
                s_gbase[s].eq(g_off[idx]),
            ]
            for j in range(P):
                cnt_v = Signal(seg_w, name=f"su_cnt{s}_{j}")
                if j == 0:
                    m.d.comb += cnt_v.eq(Mux(valid, Mux(is_layer, qcnt[q][j], gcnt[idx]), 0))
                else:
                    m.d.comb += cnt_v.eq(Mux(valid & is_layer, qcnt[q][j], 0))
                su_stmts.append(seg_cnt[s][j].eq(cnt_v))
                m.d.comb += su_mask[s * P + j].eq(cnt_v != 0)
        su_stmts.append(mask.eq(su_mask))
        su_stall = Signal()
        m.d.comb += su_stall.eq(Cat(*su_wait).any())

        # T + the largest stage of the loaded layers: the waves of a sample
        max_stage = Const(0, 4)
        for i in range(L):
            max_stage = Mux((i < m_layers) & (ly_stage[i] > max_stage), ly_stage[i], max_stage)
        m.d.sync += n_waves.eq(m_T + max_stage)

        def wave_end():
            """After the wave's last layer: its input step is released (the
            event input may fill that buffer with step w + 2); the next wave
            waits for its own step (if it has one), or the sample flushes its
            last write-backs."""
            m.d.sync += [su_l.eq(0), w.eq(w + 1)]
            m.d.comb += ev.release.eq(w < m_T)
            with m.If(mon.wait):  # the readout's step may end the sample: R_EXIT waits for the monitor
                m.d.sync += state.eq(R_EXIT)
            with m.Else():
                next_wave(w + 1)

        def next_wave(wn):
            """Into wave ``wn``: wait for its input step (if it has one), or
            flush the sample after its last wave."""
            with m.If(wn == n_waves):
                m.d.sync += state.eq(R_FLUSH)
            with m.Elif(wn < m_T):
                m.d.sync += state.eq(R_WAIT)
            with m.Else():
                m.d.sync += state.eq(R_LATCH)

        def chunk_end():
            """In a chunk's last issue cycle (or its R_CEND cycle): tag its
            update, move to the next chunk, or end the run."""
            t0 = tags[0]
            m.d.sync += [
                t0.valid.eq(1), t0.maddr.eq(cur_maddr), t0.c.eq(cur_c), t0.lanes.eq(lanes_now),
                t0.layer.eq(lay), t0.par.eq(cur_par), t0.zero.eq(cur_zero), t0.first.eq(cur_first),
                t0.last.eq(cur_chunks_left == 1), t0.ro.eq(lay + 1 == m_layers),
                cur_first.eq(0),
                cur_c.eq(cur_c + 1),
                cur_maddr.eq(cur_maddr + 1),
                cur_wptr.eq(cur_wptr + cur_rows),
                cur_n_left.eq(Mux(cur_n_left > P, cur_n_left - P, 0)),
                cur_chunks_left.eq(cur_chunks_left - 1),
            ]  # fmt: skip
            with m.If(cur_chunks_left > 1):
                enter_chunk()
            with m.Else():
                m.d.sync += ttl[Cat(cur_par, lay)].eq(DRAIN - 1)
                m.d.comb += mon.expect.eq(lay + 1 == m_layers)  # the readout's step: the exit monitor decides
                with m.If(su_l < m_layers):  # su_l is already the next layer
                    m.d.sync += state.eq(R_LATCH)
                with m.Else():
                    wave_end()

        # ---- the FSM --------------------------------------------------------------
        with m.Switch(state):
            with m.Case(IDLE):
                with m.If(start):
                    m.d.sync += done.eq(0)
                    with m.If(start_mode == regmap.MODE_LOAD):
                        m.d.sync += [
                            state.eq(LOAD),
                            model_valid.eq(0),
                        ]
                        m.d.comb += loader.begin.eq(1)
                    with m.Elif(~model_valid):
                        raise_("no_model")
                        m.d.sync += done.eq(1)
                    with m.Else():
                        m.d.sync += [state.eq(R_INIT), batch_left.eq(Mux(batch == 0, 1, batch))]
            with m.Case(LOAD):
                pass  # the loader takes the words (take, above)
            with m.Case(R_INIT):
                m.d.sync += [
                    w.eq(0),
                    sample_err.eq(set_sample_err),
                    spikes_cnt.eq(0),
                    sops.eq(0),
                    state.eq(R_WAIT),
                    su_l.eq(0),
                ]
                for q in range(2 * L):
                    m.d.sync += ttl[q].eq(0)
                m.d.comb += queues.clear.eq(1)
            with m.Case(R_WAIT):  # wave w's input step (not counted: the host's time)
                with m.If(ev.step_valid):
                    m.d.sync += state.eq(R_LATCH)
            with m.Case(R_ISSUE):
                m.d.comb += walker.step.eq(1)
                with m.If(walker.last):
                    chunk_end()
            with m.Case(R_CEND):  # a chunk without events: one cycle to start its update
                chunk_end()
            with m.Case(R_LATCH):
                with m.If(~su_active):  # no step of this layer in this wave
                    m.d.sync += su_l.eq(su_l + 1)
                    with m.If(su_l + 1 == m_layers):
                        wave_end()
                with m.Elif(~su_stall):
                    m.d.sync += su_stmts
                    m.d.sync += [state.eq(R_SETUP), su_l.eq(su_l + 1)]
            with m.Case(R_SETUP):
                enter_chunk()
            with m.Case(R_FLUSH):  # the sample's last write-backs
                with m.If(~Cat(*[ttl[q] != 0 for q in range(2 * L)]).any()):
                    m.d.sync += state.eq(R_DRAIN)
            with m.Case(R_EXIT):  # hw.rtl.exit_monitor decides on the readout's step (counted)
                with m.If(~mon.wait):
                    with m.If(mon.exit):
                        m.d.sync += state.eq(R_FLUSH)
                    with m.Else():
                        next_wave(w)
            with m.Case(R_DRAIN):  # the event input takes the tail, if any (not counted); after an
                # early exit the steps not yet computed are released (discarded) as they come, one
                # counted cycle each
                m.d.comb += ev.release.eq(ev.step_valid)
                with m.If(ev.done & (ev.front == m_T)):
                    m.d.sync += state.eq(R_SCAN)
                    m.d.comb += rw.start.eq(1)
            with m.Case(R_SCAN):  # the result writer scans the readout and sends the record
                with m.If(rw.done):
                    m.d.sync += [samples_done.eq(samples_done + 1), batch_left.eq(batch_left - 1)]
                    with m.If(batch_left > 1):
                        m.d.sync += state.eq(R_INIT)
                    with m.Else():
                        m.d.sync += [state.eq(IDLE), done.eq(1)]

        # errors: sticky, and into the running sample's record
        with m.If(start & busy):
            raise_("start_busy")
        m.d.comb += set_err.eq(set_sample_err | load_err | Mux(raised["no_model"], _err("no_model"), 0))
        with m.If(busy & (state != LOAD) & (state != R_INIT)):
            m.d.sync += sample_err.eq(sample_err | set_sample_err)

        # soft reset wins over everything above
        with m.If(soft_reset):
            m.d.sync += [state.eq(IDLE), p2_valid.eq(0), c0.eq(0), acc_load.eq(0)]
            m.d.sync += [p1_valid.eq(0), c1.eq(0), p3_valid.eq(0), p4_valid.eq(0), c2.eq(0), c3.eq(0)]
            m.d.sync += [tag.valid.eq(0) for tag in tags]
            m.d.sync += [ttl[q].eq(0) for q in range(2 * L)]
            with m.If(state == LOAD):
                m.d.sync += model_valid.eq(0)

        # ===================================================================
        # AXI4-Lite target: hw.rtl.csr.ControlRegisters, decoder generated from hw.spec.regmap
        # ===================================================================
        m.submodules.csr = csr = ControlRegisters(cap)
        wiring.connect(m, wiring.flipped(axil), csr.s_axil)
        m.d.comb += [
            start.eq(csr.start),
            soft_reset.eq(csr.soft_reset),
            clear_errors.eq(csr.clear_errors),
            start_mode.eq(csr.start_mode),
            mode.eq(csr.mode),
            batch.eq(csr.batch),
        ]
        m.d.comb += csr.drive(
            status={"busy": busy, "done": done, "error": error.any(), "model_valid": model_valid},
            error=error,
            samples=samples_done,
            model_inputs=m_inputs,
            model_timesteps=m_T,
            model_layers=m_layers,
            model_outputs=m_outputs,
            cycles=cycles,
            in_events=ev.events,
            spikes=spikes_cnt,
            sops=sops,
            prediction=prediction,
            sample_errors=sample_err,
        )
        # the READOUT window reads rmem through its own port, sign-extended
        m.d.comb += [rw.win_addr.eq(csr.readout_addr), csr.readout_data.eq(rw.win_data)]
        return m
