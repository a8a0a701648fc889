"""``eavs_core``: the LIF neuron array and spike-routing fabric behind AXI.

docs/design.md section 5 in Amaranth 0.5. One bitstream runs any model that fits
its :class:`hw.spec.capacity.Capacity`: the model image (:mod:`hw.spec.protocol`) is
loaded over the input stream at run time.

This module is the top: it holds the five memories (weights, membranes,
biases, decays, spike counts) and wires the components; it has no logic of
its own. *Time-stepped across layers, event-driven within a layer*: the
sequencer runs a sample wave by wave (:mod:`hw.spec.schedule`), each layer
in chunks of P neurons; a chunk replays its sources' events through the
issue pipeline into P accumulators, and its update (membrane read, LIF
lanes, write-back) drains behind the next chunk's issue, carried by its tag.

Layout
------
One component per file under ``hw/rtl/``, each with its own tests. The
latencies named in capitals are :mod:`hw.spec.timing`'s (the cycle model in
:mod:`hw.spec.capacity` sums them); the block's tests measure each one:

* ``csr.ControlRegisters``: the AXI4-Lite registers (:mod:`hw.spec.regmap`);
  a read takes two cycles (accept, look-up), a write one.
* ``input_demux.InputDemux``: ``s_axis`` into one registered word, to the
  loader or the event input (``wiring.connect``); ``INPUT_WORD`` = 1.
* ``loader.ModelLoader``: the model image into parameters and memories; a
  word per cycle, always ready.
* ``event_input.EventInput``: the double-buffered event lists (step t + 1's
  events arrive while step t computes); a step is ready ``EVENT_STEP`` = 4
  cycles after its marker.
* ``sequencer.LayerSequencer``: the state machine, wave counter, layer
  set-up, drain countdowns, wave and chunk ends, status and counters;
  ``SETUP`` = 2, ``SKIP`` = 1, ``INIT`` = 1 cycles, set-ups wait ``DRAIN`` =
  10 after the writer's last issue.
* ``walker.SegmentWalker``: one queued event per cycle over a chunk's
  segments, no bubbles; the first from the cycle after ``enter``.
* ``issue_pipe.IssuePipeline``: I0-I4, event to accumulate; ``ISSUE`` = 4.
* ``accumulators.SynapseAccumulators``: the P accumulators behind the
  registered weight row (stages I3, I4 of the issue pipeline's 4).
* ``update_tags.UpdateTags``: each chunk's update tag, read at the membrane
  read (stage ``UPDATE_READ_STAGE`` = 3) and at write-back (stage
  ``WRITE_BACK_STAGE`` = 8); ``TAG_ENTRY + WRITE_BACK_STAGE`` = 9.
* ``lif_array.LIFArray``: the P pipelined LIF lanes (``lif_pipe``); ``LIF`` = 4.
* ``spike_queues.SpikeQueues``: the spike-routing fabric, a double-buffered
  spike queue per layer in P lane banks; read synchronously, a write
  readable (and counted) from the next cycle (``MEM_WRITE`` = 1).
* ``result_writer.ResultWriter``: readout scan, argmax and result record
  (stream I/O after the sample, not counted).
* ``exit_monitor.ExitMonitor``: the early-exit rule on the readout's
  write-backs (image v4); decides ``timing.exit_monitor(P)`` =
  ``1 + ceil(log2 min(P, EXIT_LANES)) + 2`` cycles after a step's last write-back.

A chunk's last issue in cycle ``i``: its last accumulate is in ``i + 4``,
its membranes are read then, the lanes take it in ``i + 5``, it is written
back in ``i + 9`` and a set-up may read what it wrote from ``i + DRAIN``.

Spike queues are double-buffered per layer (buffer ``t mod 2`` holds step
t); a delay-1 source replays the other buffer, i.e. step t-1's spikes.
Membranes need no clearing pass: at step 0 the update reads them as 0.

Cycle model (hw.spec.capacity, the one definition; the RTL's counter matches it
on every simulated sample): R_INIT (1), per layer run ``SETUP_CYCLES`` (2)
plus ``max(events, 1)`` per chunk after any drain wait, per skipped layer
``SKIP_CYCLES`` (1), the early-exit waits (R_EXIT) and discarded input
steps of a model with an exit rule, and the final flush. Cycles that wait for input words,
drain a bad stream, scan the readout and write results are stream I/O, not
compute, and are not counted.

Bad input never corrupts state: out-of-range or malformed event words are
dropped, words after the T-th marker are drained, a TLAST before it ends the
sample early; each sets its own sticky bit in ``ERROR`` and in the sample's
result record, and the next sample is accepted as usual.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.rtl.accumulators import SynapseAccumulators
from hw.rtl.axi import AXI4LiteSignature, AXIStreamSignature
from hw.rtl.csr import ControlRegisters
from hw.rtl.event_input import EventInput
from hw.rtl.exit_monitor import ExitMonitor
from hw.rtl.input_demux import InputDemux
from hw.rtl.issue_pipe import IssuePipeline
from hw.rtl.lif_array import LIFArray
from hw.rtl.loader import DECAY_LANE_BITS, ModelLoader
from hw.rtl.result_writer import ResultWriter
from hw.rtl.sequencer import EVENT_CAUSES, LAYER_PARAMS, SOURCE_PARAMS, LayerSequencer
from hw.rtl.spike_queues import SpikeQueues
from hw.rtl.update_tags import UpdateTags
from hw.rtl.walker import SegmentWalker
from hw.spec import protocol, regmap, timing
from hw.spec.capacity import Capacity, require_capacity
from hw.spec.lif import acc_bits

__all__ = ["EAVSCore"]


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

    def elaborate(self, platform):
        cap = self.capacity
        P, S = cap.lanes, cap.max_sources
        m = Module()
        mem = self._memories(m)
        m.submodules.csr = csr = ControlRegisters(cap)
        m.submodules.demux = demux = InputDemux()
        m.submodules.loader = loader = ModelLoader(cap)
        m.submodules.events = ev = EventInput(cap)
        m.submodules.sequencer = seq = LayerSequencer(cap)
        m.submodules.walker = walker = SegmentWalker(S, P, seq.seg_bits)
        m.submodules.issue = issue = IssuePipeline(cap)
        acc = acc_bits(cap.v_bits, cap.weight_bits, issue.rows_max)
        m.submodules.accumulators = accs = SynapseAccumulators(P, cap.weight_bits, cap.v_bits, acc)
        m.submodules.tags = tags = UpdateTags(cap)
        m.submodules.lif = lif = LIFArray(cap)
        m.submodules.queues = queues = SpikeQueues(cap)  # the spike-routing fabric
        m.submodules.result_writer = rw = ResultWriter(cap)
        assert lif.LATENCY == timing.LIF and issue.LATENCY == timing.ISSUE, "a block's latency differs from hw.spec.timing"
        assert lif.acc_width == acc and len(rw.c_data) == len(mem.c_rd.data), "a width differs between the core's blocks"

        self._wire_input(m, seq, demux, loader, ev, mem)
        self._wire_issue(m, seq, walker, issue, accs, ev, queues, mem)
        self._wire_update(m, seq, tags, accs, lif, queues, loader, rw, mem)
        self._wire_registers(m, csr, seq, loader, ev, rw)
        self._wire_exit(m, seq, tags, lif, loader, ev, rw)
        return m

    def _wire_exit(self, m, seq, tags, lif, loader, ev, rw):
        """The early-exit monitor (hw.rtl.exit_monitor) on the readout's
        write-backs; the sequencer waits for its decision; the result record
        carries its exit step."""
        m.submodules.exit_monitor = mon = ExitMonitor(self.capacity)
        wb = tags.wb
        m.d.comb += [
            mon.begin.eq(seq.ev_begin), mon.timesteps.eq(loader.m_T), mon.rspk.eq(loader.m_rspk),
            mon.min_step.eq(loader.m_exit_min), mon.margin.eq(loader.m_exit_margin),
            mon.i_valid.eq(wb.valid & wb.ro), mon.i_first.eq(wb.first), mon.i_last.eq(wb.last), mon.i_lanes.eq(wb.lanes),
            mon.i_v.eq(lif.v_word_out), mon.i_c.eq(lif.c_word_out),
            mon.expect.eq(seq.exit_expect), seq.exit_wait.eq(mon.wait), seq.exit_now.eq(mon.exit),
            seq.ev_front.eq(ev.front), rw.exit_step.eq(mon.exit_step),
        ]  # fmt: skip

    def _memories(self, m):
        """The weight, membrane, bias, decay and spike-count memories (block
        RAM, read synchronously), one word of P lanes each."""
        cap = self.capacity
        P, V, MD = cap.lanes, cap.v_bits, protocol.membrane_depth(cap)
        DW, CB = DECAY_LANE_BITS, bits_for(cap.max_timesteps)  # CB: a spike count over a sample
        m.submodules.wmem = wmem = Memory(shape=unsigned(P * cap.weight_bits), depth=cap.weight_depth, init=[])
        m.submodules.vmem = vmem = Memory(shape=unsigned(P * V), depth=MD, init=[])
        m.submodules.bmem = bmem = Memory(shape=unsigned(P * V), depth=MD, init=[])
        m.submodules.dmem = dmem = Memory(shape=unsigned(P * DW), depth=MD, init=[])
        m.submodules.cmem = cmem = Memory(shape=unsigned(P * CB), depth=MD, init=[])
        return SimpleNamespace(
            w_wr=wmem.write_port(), w_rd=wmem.read_port(),
            v_wr=vmem.write_port(), v_rd=vmem.read_port(),
            b_wr=bmem.write_port(granularity=V), b_rd=bmem.read_port(),
            d_wr=dmem.write_port(granularity=DW), d_rd=dmem.read_port(),
            c_wr=cmem.write_port(), c_rd=cmem.read_port(),
        )  # fmt: skip

    def _wire_input(self, m, seq, demux, loader, ev, mem):
        """``s_axis`` through the demultiplexer to the loader (model images,
        into the memories and the sequencer's parameters) or the event
        input (events, whose step lists and causes the sequencer reads)."""
        S, L = self.capacity.max_sources, self.capacity.max_layers
        wiring.connect(m, wiring.flipped(self.s_axis), demux.s_axis)
        wiring.connect(m, demux.o_load, loader.words)
        wiring.connect(m, demux.o_events, ev.words)
        for ours, theirs in ((loader.w_wr, mem.w_wr), (loader.b_wr, mem.b_wr), (loader.d_wr, mem.d_wr)):
            wiring.connect(m, ours, theirs)
        m.d.comb += [
            demux.load.eq(seq.loading),
            loader.begin.eq(seq.load_begin),
            seq.load_finished.eq(loader.finished), seq.load_model_valid.eq(loader.model_valid),
            seq.load_error.eq(loader.error),
            seq.m_T.eq(loader.m_T), seq.m_layers.eq(loader.m_layers),
            *[seq.g_off[g].eq(loader.g_off[g]) for g in range(S)],
            *[getattr(seq, n)[i].eq(getattr(loader, n)[i]) for n in LAYER_PARAMS for i in range(L)],
            *[getattr(seq, n)[i][s].eq(getattr(loader, n)[i][s]) for n in SOURCE_PARAMS for i in range(L)
              for s in range(S)],
        ]  # fmt: skip
        m.d.comb += [
            ev.n_inputs.eq(loader.m_inputs), ev.n_groups.eq(loader.m_groups), ev.timesteps.eq(loader.m_T),
            *[ev.g_off[g].eq(loader.g_off[g]) for g in range(S)], *[ev.g_size[g].eq(loader.g_size[g]) for g in range(S)],
            ev.begin.eq(seq.ev_begin), ev.drain_tail.eq(seq.ev_drain_tail), ev.release.eq(seq.ev_release),
            ev.abort.eq(seq.abort),
            seq.ev_step_valid.eq(ev.step_valid), seq.ev_done.eq(ev.done),
            *[seq.ev_count[g].eq(ev.count[g]) for g in range(S)],
            *[getattr(seq, f"ev_{c}").eq(getattr(ev, f"raise_{c}")) for c in EVENT_CAUSES],
        ]  # fmt: skip

    def _wire_issue(self, m, seq, walker, issue, accs, ev, queues, mem):
        """The sequencer's segments into the walker, the walker's position
        and the running layer's source registers into the issue pipeline,
        which reads the event lists, the spike queues and the weight and
        bias memories and drives the accumulators."""
        cap = self.capacity
        P, S, L = cap.lanes, cap.max_sources, cap.max_layers
        m.d.comb += [
            walker.mask.eq(seq.w_mask), *[walker.counts[i].eq(seq.w_counts[i]) for i in range(S * P)],
            walker.enter.eq(seq.w_enter), walker.step.eq(seq.w_step),
            seq.w_any.eq(walker.any), seq.w_last.eq(walker.last),
            *[seq.q_count[q][j].eq(queues.count[q][j]) for q in range(2 * L) for j in range(P)],
            *[seq.q_nonzero[q][j].eq(queues.nonzero[q][j]) for q in range(2 * L) for j in range(P)],
            queues.clear.eq(seq.q_clear),
        ]  # fmt: skip
        m.d.comb += [
            issue.issue.eq(seq.issue), issue.enter.eq(seq.w_enter), issue.lanes.eq(seq.lanes),
            issue.maddr.eq(seq.maddr), issue.wptr.eq(seq.wptr), issue.abort.eq(seq.abort),
            issue.s.eq(walker.s), issue.j.eq(walker.j), issue.k.eq(walker.k),
            *[getattr(issue, n)[s].eq(getattr(seq, n)[s]) for n in ("s_off", "s_layer", "s_qbase", "s_gbase")
              for s in range(S)],
            ev.rd_addr.eq(issue.ev_addr), issue.ev_data.eq(ev.rd_data),
            queues.rd_addr.eq(issue.q_addr), *[issue.q_data[j].eq(queues.rd_data[j]) for j in range(P)],
            mem.w_rd.addr.eq(issue.w_addr), mem.b_rd.addr.eq(issue.b_addr),
        ]  # fmt: skip
        m.d.comb += [
            accs.w_word.eq(mem.w_rd.data), accs.bias_word.eq(mem.b_rd.data),
            accs.load.eq(issue.acc_load), accs.valid.eq(issue.acc_valid), accs.lanes.eq(issue.acc_lanes),
            seq.sops_inc.eq(accs.sops_inc),
        ]  # fmt: skip

    def _wire_update(self, m, seq, tags, accs, lif, queues, loader, rw, mem):
        """A chunk's tag from the sequencer through the update tags: its
        membranes and decays read at ``upd``, the LIF array from the next
        stage, its membranes, counts and spikes written at ``wb``; the
        result writer reads the same membrane and count ports after the
        sample."""
        P, L = self.capacity.lanes, self.capacity.max_layers
        wb = tags.wb
        m.d.comb += [tags.i_tag.eq(seq.tag), tags.abort.eq(seq.abort), mem.d_rd.addr.eq(tags.upd.maddr)]
        m.d.comb += [
            lif.i_valid.eq(tags.lanes.valid), lif.i_zero.eq(tags.lanes.zero), lif.i_lanes.eq(tags.lanes.lanes),
            lif.i_layer.eq(tags.lanes.layer),
            lif.v_word.eq(mem.v_rd.data), lif.d_word.eq(mem.d_rd.data), lif.c_word.eq(mem.c_rd.data),
            *[lif.acc[j].eq(accs.acc[j]) for j in range(P)],
            *[getattr(lif, n)[i].eq(getattr(loader, n)[i]) for n in ("ly_thr", "ly_sub", "ly_spk", "ly_vb")
              for i in range(L)],
        ]  # fmt: skip
        # write-back: membranes, spike counts, and lane j's spike into bank j
        # of the layer's queue (layer * 2 + parity; a run's first chunk restarts it)
        m.d.comb += [
            mem.v_wr.addr.eq(wb.maddr), mem.v_wr.data.eq(lif.v_word_out), mem.v_wr.en.eq(wb.valid),
            mem.c_wr.addr.eq(wb.maddr), mem.c_wr.data.eq(lif.c_word_out), mem.c_wr.en.eq(wb.valid),
            queues.wr_valid.eq(wb.valid), queues.wr_first.eq(wb.first), queues.wr_queue.eq(Cat(wb.par, wb.layer)),
            queues.wr_qbase.eq(tags.wb_qbase), queues.wr_chunk.eq(wb.c), queues.wr_spikes.eq(lif.spikes),
            seq.wb_valid.eq(wb.valid), seq.wb_spikes.eq(lif.spikes),
        ]  # fmt: skip
        m.d.comb += [
            rw.start.eq(seq.rw_start), seq.rw_done.eq(rw.done), rw.abort.eq(seq.abort),
            rw.n_out.eq(loader.m_outputs), rw.out_mbase.eq(loader.m_out_mbase), rw.rspk.eq(loader.m_rspk),
            rw.v_data.eq(mem.v_rd.data), rw.c_data.eq(mem.c_rd.data), rw.sample_errors.eq(seq.sample_err),
            rw.cycles.eq(seq.cycles),
        ]  # fmt: skip
        wiring.connect(m, rw.m_axis, wiring.flipped(self.m_axis))
        # the membrane and count read addresses: the chunk's rows while
        # computing (counts one stage before write-back), the readout while scanning
        with m.If(rw.scanning):
            m.d.comb += [mem.v_rd.addr.eq(rw.mem_addr), mem.c_rd.addr.eq(rw.mem_addr)]
        with m.Else():
            m.d.comb += [mem.v_rd.addr.eq(tags.upd.maddr), mem.c_rd.addr.eq(tags.pre_wb.maddr)]

    def _wire_registers(self, m, csr, seq, loader, ev, rw):
        """The AXI4-Lite registers (decoder generated from hw.spec.regmap):
        control into the sequencer, status and counters out."""
        wiring.connect(m, wiring.flipped(self.s_axil), csr.s_axil)
        m.d.comb += [
            seq.start.eq(csr.start), seq.abort.eq(csr.soft_reset), seq.clear_errors.eq(csr.clear_errors),
            seq.start_mode.eq(csr.start_mode), seq.batch.eq(csr.batch),
            rw.in_events.eq(ev.events), rw.spikes.eq(seq.spikes), rw.sops.eq(seq.sops),
        ]  # fmt: skip
        m.d.comb += csr.drive(
            status={"busy": seq.busy, "done": seq.done, "error": seq.error.any(), "model_valid": seq.model_valid},
            error=seq.error,
            samples=seq.samples,
            model_inputs=loader.m_inputs,
            model_timesteps=loader.m_T,
            model_layers=loader.m_layers,
            model_outputs=loader.m_outputs,
            cycles=seq.cycles,
            in_events=ev.events,
            spikes=seq.spikes,
            sops=seq.sops,
            prediction=rw.prediction,
            sample_errors=seq.sample_err,
        )
        # the READOUT window reads the readout membranes through the writer's own port
        m.d.comb += [rw.win_addr.eq(csr.readout_addr), csr.readout_data.eq(rw.win_data)]
