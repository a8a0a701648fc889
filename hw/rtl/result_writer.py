"""``ResultWriter``: the end-of-sample readout scan and the result record.

After a sample's last step the core hands the sample to this component: it
reads the readout layer's values (membranes, or spike counts when the layer
is read out by ``readout = "spikes"``), keeps the argmax (the lowest index
wins ties, as in :mod:`sw.golden`), copies the values into the ``READOUT``
window memory for the register block, then writes one result record
(:mod:`hw.spec.protocol`: ``RESULT_HEADER_WORDS`` header words, then ``n_out``
values, TLAST on the last) to ``m_axis``.

Why a separate component: the scan and the record are stream I/O at the
edge of the core; nothing in the execution pipeline depends on them except
the membrane/count memories' read address, which the core hands over to
``mem_addr`` while ``scanning`` is high.

Timing (kept exactly as in the monolithic core, the whole-sample cycle
tests see it): ``start`` is asserted in the cycle the core enters its scan
state; the scan then takes ``n_out + 1`` cycles (one address per neuron,
neuron ``i`` at lane ``i mod P`` of word ``out_mbase + i // P``, plus one),
and the record's first word is offered in the cycle after. The memories are
read synchronously (data one cycle after the address); the read words are
registered as they come (the memories' outputs are unregistered block-RAM
outputs, and the lane select straight after them was the ULX3S build's
critical path), the selected lane's value once more, then compared, so the
last compare lands in the record's second cycle, still before the
prediction word (header word 2) can be sent. ``done`` is combinational: high in the cycle the record's last
word is accepted, so the core moves on in that same cycle.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.spec import protocol
from hw.rtl.axi import AXIStreamSignature
from hw.spec.capacity import Capacity, require_capacity

__all__ = ["ResultWriter"]

# Phases.
_IDLE, _SCAN, _EMIT = range(3)
_H = protocol.RESULT_HEADER_WORDS


class ResultWriter(wiring.Component):
    """Readout scan, argmax, READOUT window memory and result record.

    Parameters
    ----------
    capacity : Capacity
        Sets the lanes P, membrane width V, spike-count width (holds
        ``max_timesteps``), the readout memory's depth (``max_neurons``) and
        the membrane memory's depth (:func:`hw.spec.protocol.membrane_depth`).

    Members
    -------
    start : In(1)
        Pulse: begin the scan (the core's config inputs are stable by then).
    abort : In(1)
        Soft reset: back to idle at once (wins over ``start``).
    busy, scanning : Out(1)
        The writer holds a sample; ``scanning``: it owns ``mem_addr``.
    done : Out(1)
        The record's last word is accepted this cycle (combinational).
    n_out, out_mbase, rspk : In
        The readout layer's size, first membrane word, and whether it is read
        out by spike count.
    mem_addr : Out
        Read address for the membrane and spike-count memories.
    v_data, c_data : In
        Their read data, one cycle after the address (P lanes each).
    sample_errors, cycles, in_events, spikes, sops, exit_step : In
        Header words 1 and 3..7, sent as they are when their word goes out.
    prediction : Out(32)
        The argmax of the last scan (the PREDICTION register, header word 2).
    m_axis : Out(AXIStreamSignature(32))
        Result records.
    win_addr : In, win_data : Out(32)
        READOUT window: neuron index in, its value (sign-extended) out one
        cycle later.
    """

    def __init__(self, capacity: Capacity):
        require_capacity(self, capacity)
        self.capacity = capacity
        P, V, NN = capacity.lanes, capacity.v_bits, capacity.max_neurons
        #: Bits of one lane's spike count (a count over a sample of up to T steps).
        self.count_bits = bits_for(capacity.max_timesteps)
        #: Bits of a readout value: a membrane, or a spike count as a signed value.
        self.value_bits = max(V, self.count_bits + 1)
        md = protocol.membrane_depth(capacity)
        super().__init__(
            {
                "start": In(1),
                "abort": In(1),
                "busy": Out(1),
                "scanning": Out(1),
                "done": Out(1),
                "n_out": In(bits_for(NN)),
                "out_mbase": In(bits_for(md)),
                "rspk": In(1),
                "mem_addr": Out(bits_for(md)),
                "v_data": In(P * V),
                "c_data": In(P * self.count_bits),
                "sample_errors": In(8),
                "cycles": In(32),
                "in_events": In(32),
                "spikes": In(32),
                "sops": In(32),
                "exit_step": In(32),
                "prediction": Out(32),
                "m_axis": Out(AXIStreamSignature(32)),
                "win_addr": In(range(NN)),
                "win_data": Out(32),
            }
        )

    def elaborate(self, platform):
        m = Module()
        NN = self.capacity.max_neurons
        m.submodules.rmem = rmem = Memory(shape=signed(self.value_bits), depth=NN, init=[])
        phase = Signal(range(3))
        m.d.comb += [self.busy.eq(phase != _IDLE), self.scanning.eq(phase == _SCAN)]
        self._scan(m, phase, rmem.write_port())
        self._emit(m, phase, rmem.read_port())
        win = rmem.read_port()
        m.d.comb += [win.addr.eq(self.win_addr), self.win_data.eq(win.data)]  # sign-extends
        with m.If(self.start):
            m.d.sync += phase.eq(_SCAN)
        with m.If(self.abort):
            m.d.sync += phase.eq(_IDLE)
        return m

    def _scan(self, m, phase, r_wr):
        """Address neuron ``sc_i`` (word ``sc_c``, lane ``sc_j``); one cycle
        later register the read words, one more later pick its lane, one more
        later write it to ``rmem`` and compare."""
        P, V, CB = self.capacity.lanes, self.capacity.v_bits, self.count_bits
        nb = len(self.n_out)
        sc_i = Signal(nb + 1)
        sc_c = Signal(len(self.mem_addr))
        sc_j = Signal(range(max(2, P)))
        m.d.comb += self.mem_addr.eq(self.out_mbase + sc_c)
        with m.If(self.start):
            m.d.sync += [sc_i.eq(0), sc_c.eq(0), sc_j.eq(0)]
        with m.If(phase == _SCAN):
            m.d.sync += sc_i.eq(sc_i + 1)
            with m.If(sc_j == P - 1):
                m.d.sync += [sc_j.eq(0), sc_c.eq(sc_c + 1)]
            with m.Else():
                m.d.sync += sc_j.eq(sc_j + 1)
            with m.If(sc_i == self.n_out):
                m.d.sync += phase.eq(_EMIT)

        # stage 1: the read data of the address above, registered
        dv0, di0, dj0 = Signal(), Signal(nb + 1), Signal(range(max(2, P)))
        m.d.sync += [dv0.eq((phase == _SCAN) & (sc_i < self.n_out)), di0.eq(sc_i), dj0.eq(sc_j)]
        dv, di, dj = Signal(), Signal(nb + 1), Signal(range(max(2, P)))
        c_word, v_word = Signal.like(self.c_data), Signal.like(self.v_data)
        m.d.sync += [dv.eq(dv0), di.eq(di0), dj.eq(dj0), c_word.eq(self.c_data), v_word.eq(self.v_data)]
        # stage 2: select the lane
        val = Signal(signed(self.value_bits))
        cnt = Array(c_word[j * CB : (j + 1) * CB] for j in range(P))[dj]
        mem = Array(v_word[j * V : (j + 1) * V] for j in range(P))[dj].as_signed()
        m.d.comb += val.eq(Mux(self.rspk, cnt, mem))
        # stage 3: registered value; keep it and compare (lowest index wins ties)
        dv2, di2, val2 = Signal(), Signal(nb + 1), Signal(signed(self.value_bits))
        best = Signal(signed(self.value_bits))
        m.d.sync += [dv2.eq(dv), di2.eq(di), val2.eq(val)]
        with m.If(dv2):
            m.d.comb += [r_wr.addr.eq(di2), r_wr.data.eq(val2), r_wr.en.eq(1)]
            with m.If((di2 == 0) | (val2 > best)):
                m.d.sync += [best.eq(val2), self.prediction.eq(di2)]

    def _emit(self, m, phase, r_emit):
        """Send the header, then the values from ``rmem`` (its read address
        runs one word ahead of the word on the bus)."""
        axis = self.m_axis
        widx = Signal(len(self.n_out) + 4)
        fire = Signal()
        m.d.comb += fire.eq(axis.tvalid & axis.tready)
        header = Array(
            [
                Const(protocol.RESULT_MAGIC << 16, 32) | self.n_out,
                self.sample_errors,
                self.prediction,
                self.cycles,
                self.in_events,
                self.spikes,
                self.sops,
                self.exit_step,
            ]
        )
        assert len(header) == _H == 8  # header[widx[:3]] below indexes 0..7
        with m.If(self.start):
            m.d.sync += widx.eq(0)
        with m.If(phase == _EMIT):
            m.d.comb += [
                axis.tvalid.eq(1),
                axis.tdata.eq(Mux(widx < _H, header[widx[:3]], r_emit.data.as_signed())),
                axis.tlast.eq(widx == _H + self.n_out - 1),
                r_emit.addr.eq(Mux(fire, widx + 1, widx) - _H),
                self.done.eq(fire & axis.tlast),
            ]
            with m.If(fire):
                m.d.sync += widx.eq(widx + 1)
                with m.If(axis.tlast):
                    m.d.sync += phase.eq(_IDLE)
