"""``ModelLoader``: parses a model image into the core's parameters and memories.

The core runs any model that fits its :class:`hw.spec.capacity.Capacity`; the
model arrives at run time as an image of uint32 words (:mod:`hw.spec.protocol`,
"Model image layout"). This component reads that image one word per cycle
from a stream, writes the model parameters into registers (its ``Out``
members, which the execution reads) and drives the write ports of the
weight, bias and decay memories (the memories stay in the core, because
the execution reads them every cycle).

Why a separate component: the image format is one contract with
:func:`hw.spec.protocol.pack_model`, and it is tested here, word by word, against
images that ``pack_model`` builds, without running a sample.

Checks (all before the model is marked valid, none of them a long stage):

- ``bad_model``: wrong magic, lane count other than P, zero layers, zero
  input groups, a layer without sources, a malformed decay word (d above
  4096 or reserved bits set), a wrong checksum or total word count, a TLAST
  before the trailer, or a trailer without TLAST (the rest of the packet is
  then drained up to its TLAST);
- ``over_capacity``: inputs, timesteps, layers, groups, neurons, chunks,
  sources, membrane base, bias or weight words above the capacity, or
  ``v_bits`` outside 2..capacity ``v_bits``.

Both bits are reported in ``error`` in the cycle ``finished`` pulses; the
model is valid only when neither is set. Parameters past the capacity's
arrays are not written (the image is refused anyway).

Latency: none. ``words.ready`` is always 1: every word is consumed in the
cycle it is valid; ``finished`` pulses in the cycle of the image's last
word (its TLAST), combinationally with ``error`` and ``model_valid``.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from hw.rtl.axi import STREAM_WORD
from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity, require_capacity

__all__ = ["DECAY_LANE_BITS", "LAYER_FLAGS", "ModelLoader"]

#: Bits per lane of the decay memory: d [12:0], extra product shift [14:13].
DECAY_LANE_BITS = protocol.DECAY_BITS + 1 + 2

#: The layer ``flags`` word (:func:`hw.spec.protocol.flags_word`), parsed here
#: and nowhere else.
LAYER_FLAGS = data.StructLayout(
    {
        "reserved": 4,  # v1's leak shift; the leak is in the decay words now
        "subtract": 1,
        "spiking": 1,
        "readout_spikes": 1,
        "reserved7": 1,
        "v_bits": 6,
        "reserved14": 2,
        "stage": 4,  # hw.spec.schedule: the layer's wave offset
    }
)

# the stage field is where hw.spec.protocol packs it (one definition of the bit)
assert LAYER_FLAGS["stage"].offset == protocol.FLAG_STAGE_LSB

# Image sections, in stream order (bias, decay and weights are skipped when empty).
L_HDR, L_GRP, L_LAY, L_SRC, L_BIAS, L_WGT, L_TRL, L_DRAIN, L_DEC = range(9)


def _err(name: str) -> int:
    return regmap.field("ERROR", name).mask


def parse_flags(word) -> data.View:
    """The layer flags word as a :data:`LAYER_FLAGS` view (the one place it is parsed)."""
    return data.View(LAYER_FLAGS, word[: LAYER_FLAGS.size])


class ModelLoader(wiring.Component):
    """Loads one model image per ``begin``.

    Parameters
    ----------
    capacity : Capacity
        The core's limits: widths of every member, and the bounds checked.

    Members
    -------
    words : In(stream.Signature(STREAM_WORD))
        The image words; ``ready`` is always 1.
    begin : In(1)
        A load starts: the parser returns to the header and forgets the
        previous image's position, checksum and error flags.
    finished : Out(1)
        Pulse: the image ended (its TLAST) in this cycle.
    error : Out(8)
        With ``finished``: ``hw.spec.regmap`` ``ERROR`` bits ``bad_model`` and
        ``over_capacity`` (0 for a good image).
    model_valid : Out(1)
        With ``finished``: the image is good and fits (``error`` is 0).
    w_wr, b_wr, d_wr : Out(WritePort.Signature(...).flip())
        Write ports of the weight memory (one word of P weights), the bias
        and the decay memories (P lanes, one lane enable each).
    m_inputs, m_T, m_layers, m_groups, m_outputs, m_out_mbase, m_rspk : Out
        Model totals; ``m_outputs``, ``m_out_mbase`` and ``m_rspk`` are the
        last layer's n, mbase and readout-by-spikes flag.
    m_exit_margin, m_exit_min : Out(32)
        The early-exit rule, header words 9 and 10 (:mod:`hw.spec.protocol`).
    g_off, g_size, g_end : Out(...).array(max_sources)
        Each input group's offset, size and offset + size.
    ly_n, ly_chunks, ly_thr, ly_sub, ly_spk, ly_vb, ly_stage, ly_nsrc, ly_wbase, ly_rows, ly_mbase : Out(...).array(max_layers)
        Each layer's header.
    sr_idx, sr_delay, sr_layer, sr_off : Out(...).array(max_layers, max_sources)
        Each layer's sources.
    """

    def __init__(self, capacity: Capacity):
        require_capacity(self, capacity)
        self.capacity = cap = capacity
        P, V, WB = cap.lanes, cap.v_bits, cap.weight_bits
        L, S = cap.max_layers, cap.max_sources
        NI, NN, WD, TMAX = cap.max_inputs, cap.max_neurons, cap.weight_depth, cap.max_timesteps
        QD = protocol.queue_depth(cap)
        MD = protocol.membrane_depth(cap)
        nb = bits_for(NN)
        rows_bits = bits_for(S * max(NI, NN))
        DW = DECAY_LANE_BITS

        def port(depth, shape, granularity=None):
            return Out(WritePort.Signature(addr_width=ceil_log2(depth), shape=shape, granularity=granularity).flip())

        super().__init__(
            {
                "words": In(stream.Signature(STREAM_WORD)),
                "begin": In(1),
                "finished": Out(1),
                "error": Out(8),
                "model_valid": Out(1),
                "w_wr": port(WD, P * WB),
                "b_wr": port(MD, P * V, V),
                "d_wr": port(MD, P * DW, DW),
                "m_inputs": Out(bits_for(NI)),
                "m_T": Out(bits_for(TMAX)),
                "m_layers": Out(bits_for(L)),
                "m_groups": Out(bits_for(S)),
                "m_outputs": Out(nb),
                "m_out_mbase": Out(bits_for(MD)),
                "m_rspk": Out(1),
                "m_exit_margin": Out(32),
                "m_exit_min": Out(32),
                "g_off": Out(bits_for(NI)).array(S),
                "g_size": Out(bits_for(NI)).array(S),
                "g_end": Out(bits_for(NI) + 1).array(S),
                "ly_n": Out(nb).array(L),
                "ly_chunks": Out(bits_for(QD)).array(L),
                "ly_thr": Out(signed(V)).array(L),
                "ly_sub": Out(1).array(L),
                "ly_spk": Out(1).array(L),
                "ly_vb": Out(6).array(L),
                "ly_stage": Out(4).array(L),
                "ly_nsrc": Out(bits_for(S)).array(L),
                "ly_wbase": Out(bits_for(WD)).array(L),
                "ly_rows": Out(rows_bits).array(L),
                "ly_mbase": Out(bits_for(MD)).array(L),
                "sr_idx": Out(8).array(L, S),
                "sr_delay": Out(1).array(L, S),
                "sr_layer": Out(1).array(L, S),
                "sr_off": Out(rows_bits).array(L, S),
            }
        )

        # Parser state (not ports): section, word within a record, group/layer/source index.
        self.sec = Signal(range(9))
        self.k = Signal(4)
        self.g = Signal(bits_for(cap.max_sources) + 8)
        self.l = Signal(bits_for(cap.max_layers) + 8)
        self.s = Signal(bits_for(cap.max_sources) + 8)
        self.cnt = Signal(32)  # words of the current bias/decay/weight section
        self.lane = Signal(range(max(2, cap.lanes)))
        self.row = Signal(32)
        self.sub = Signal(range(max(2, protocol.weight_stream_words(cap))))
        self.pos = Signal(32)
        self.sum = Signal(32)
        self.total = Signal(32)
        self.bias_words = Signal(32)
        self.weight_words = Signal(32)
        self.cap_err = Signal()  # over capacity
        self.bad = Signal()  # malformed
        self.nsrc_cur = Signal(32)
        self.wshift = Signal(max(32, protocol.weight_stream_words(cap) * 32))

    # ------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        word, is_last = self.words.payload.data, self.words.payload.last
        m.d.comb += self.words.ready.eq(1)
        with m.If(self.begin):
            m.d.sync += [self.sec.eq(L_HDR), self.k.eq(0), self.pos.eq(0), self.sum.eq(0), self.cap_err.eq(0), self.bad.eq(0)]
        with m.Elif(self.words.valid & self.words.ready):
            m.d.sync += [self.pos.eq(self.pos + 1), self.sum.eq(self.sum + word)]
            with m.If(is_last & (self.sec != L_TRL) & (self.sec != L_DRAIN)):
                self._finish(m, _err("bad_model"))  # the packet ended before the image did
            with m.Else():
                with m.Switch(self.sec):
                    with m.Case(L_HDR):
                        self._header(m, word)
                    with m.Case(L_GRP):
                        self._group(m, word)
                    with m.Case(L_LAY):
                        self._layer(m, word)
                    with m.Case(L_SRC):
                        self._source(m, word)
                    with m.Case(L_BIAS):
                        self._bias(m, word)
                    with m.Case(L_DEC):
                        self._decay(m, word)
                    with m.Case(L_WGT):
                        self._weights(m, word)
                    with m.Case(L_TRL):
                        self._trailer(m, word, is_last)
                    with m.Case(L_DRAIN):
                        with m.If(is_last):
                            self._finish(m, _err("bad_model"))
        return m

    # -- helpers: each parses one section of the image ------------------------

    def _finish(self, m, err, valid=0):
        """The image ended: report ``err`` (plus over_capacity if flagged)."""
        m.d.comb += [
            self.finished.eq(1),
            self.error.eq(err | Mux(self.cap_err, _err("over_capacity"), 0)),
            self.model_valid.eq(valid & ~self.cap_err),
        ]

    def _refuse(self, m):
        """A malformed image: drain the rest of the packet, then report bad_model."""
        m.d.sync += [self.bad.eq(1), self.sec.eq(L_DRAIN)]

    def _header(self, m, word):
        cap = self.capacity
        m.d.sync += self.k.eq(self.k + 1)
        with m.Switch(self.k):
            with m.Case(0):
                with m.If(word != protocol.MODEL_MAGIC):
                    self._refuse(m)
            with m.Case(1):
                m.d.sync += self.total.eq(word)
            with m.Case(2):
                with m.If(word != cap.lanes):
                    self._refuse(m)
            with m.Case(3):
                m.d.sync += self.m_inputs.eq(word)
                with m.If((word > cap.max_inputs) | (word == 0)):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(4):
                m.d.sync += self.m_T.eq(word)
                with m.If((word > cap.max_timesteps) | (word == 0)):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(5):
                m.d.sync += self.m_layers.eq(word)
                with m.If(word == 0):
                    self._refuse(m)
                with m.If(word > cap.max_layers):
                    m.d.sync += [self.cap_err.eq(1), self.m_layers.eq(cap.max_layers)]
            with m.Case(6):
                m.d.sync += self.bias_words.eq(word)
                with m.If(word > protocol.membrane_depth(cap) * cap.lanes):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(7):
                m.d.sync += self.weight_words.eq(word)
                with m.If(word > cap.weight_depth):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(8):
                m.d.sync += [self.m_groups.eq(word), self.g.eq(0)]
                with m.If(word == 0):
                    self._refuse(m)
                with m.Elif(word > cap.max_sources):
                    m.d.sync += [self.cap_err.eq(1), self.m_groups.eq(cap.max_sources)]
            with m.Case(9):
                m.d.sync += self.m_exit_margin.eq(word)
            with m.Case(10):
                m.d.sync += [self.m_exit_min.eq(word), self.k.eq(0), self.sec.eq(L_GRP)]

    def _group(self, m, word):
        g = self.g
        g_off, g_size, g_end = Array(self.g_off), Array(self.g_size), Array(self.g_end)
        ok = g < self.capacity.max_sources
        with m.If(self.k == 0):
            with m.If(ok):
                m.d.sync += g_off[g].eq(word)
            m.d.sync += self.k.eq(1)
        with m.Else():
            with m.If(ok):
                m.d.sync += [g_size[g].eq(word), g_end[g].eq(g_off[g] + word)]
            m.d.sync += self.k.eq(0)
            with m.If(g + 1 < self.m_groups):
                m.d.sync += g.eq(g + 1)
            with m.Else():
                m.d.sync += [self.sec.eq(L_LAY), self.l.eq(0)]

    def _layer(self, m, word):
        cap, li = self.capacity, self.l
        ok = li < cap.max_layers

        def set_(member, value):
            with m.If(ok):
                m.d.sync += Array(member)[li].eq(value)

        m.d.sync += self.k.eq(self.k + 1)
        with m.Switch(self.k):
            with m.Case(0):
                set_(self.ly_n, word)
                m.d.sync += self.m_outputs.eq(word)
                with m.If((word > cap.max_neurons) | (word == 0)):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(1):
                set_(self.ly_chunks, word)
                with m.If(word > protocol.queue_depth(cap)):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(2):
                set_(self.ly_thr, word)
            with m.Case(3):
                flags = parse_flags(word)
                set_(self.ly_sub, flags.subtract)
                set_(self.ly_spk, flags.spiking)
                set_(self.ly_vb, flags.v_bits)
                set_(self.ly_stage, flags.stage)
                m.d.sync += self.m_rspk.eq(flags.readout_spikes)  # the last layer's flag stays
                with m.If((flags.v_bits > cap.v_bits) | (flags.v_bits < 2)):
                    m.d.sync += self.cap_err.eq(1)
            with m.Case(4):
                m.d.sync += self.nsrc_cur.eq(word)
                set_(self.ly_nsrc, Mux(word > cap.max_sources, cap.max_sources, word))
                with m.If(word > cap.max_sources):
                    m.d.sync += self.cap_err.eq(1)
                with m.If(word == 0):
                    m.d.sync += self.bad.eq(1)
            with m.Case(5):
                set_(self.ly_wbase, word)
            with m.Case(6):
                set_(self.ly_rows, word)
            with m.Case(7):
                set_(self.ly_mbase, word)
                m.d.sync += self.m_out_mbase.eq(word)
                with m.If(word >= protocol.membrane_depth(cap)):
                    m.d.sync += self.cap_err.eq(1)
                with m.If(self.nsrc_cur != 0):
                    m.d.sync += [self.sec.eq(L_SRC), self.s.eq(0), self.k.eq(0)]
                with m.Else():
                    self._next_layer(m)

    def _source(self, m, word):
        cap, li, si = self.capacity, self.l, self.s
        ok = (li < cap.max_layers) & (si < cap.max_sources)

        def set_(member, value):
            with m.If(ok):
                m.d.sync += Array(Array(row) for row in member)[li][si].eq(value)

        m.d.sync += self.k.eq(self.k + 1)
        with m.Switch(self.k):
            with m.Case(0):
                set_(self.sr_idx, word[0:8])
                set_(self.sr_delay, word[8])
                set_(self.sr_layer, word[9])
            with m.Case(2):  # word 1, the source's size, is implied by the rows
                set_(self.sr_off, word)
                m.d.sync += self.k.eq(0)
                with m.If(si + 1 < self.nsrc_cur):
                    m.d.sync += si.eq(si + 1)
                with m.Else():
                    self._next_layer(m)

    def _next_layer(self, m):
        with m.If(self.l + 1 < self.m_layers):
            m.d.sync += [self.l.eq(self.l + 1), self.k.eq(0), self.sec.eq(L_LAY)]
        with m.Else():
            self._after_layers(m)

    def _after_layers(self, m):
        with m.If(self.bias_words != 0):
            m.d.sync += [self.sec.eq(L_BIAS), self.cnt.eq(0), self.lane.eq(0), self.row.eq(0)]
        with m.Elif(self.weight_words != 0):
            self._to_weights(m)
        with m.Else():
            m.d.sync += self.sec.eq(L_TRL)

    def _to_weights(self, m):
        m.d.sync += [self.sec.eq(L_WGT), self.cnt.eq(0), self.sub.eq(0)]

    def _lane_word(self, m, port, lane_value):
        """Write ``lane_value`` into lane ``lane`` of row ``row`` of a P-lane
        memory (every lane gets the value, the enable picks one), then step
        to the next lane/row; return whether this was the section's last word."""
        P = self.capacity.lanes
        with m.If(self.row < protocol.membrane_depth(self.capacity)):
            m.d.comb += [
                port.addr.eq(self.row),
                port.data.eq(Cat(lane_value for _ in range(P))),
                port.en.eq(Const(1, P) << self.lane),
            ]
        m.d.sync += self.cnt.eq(self.cnt + 1)
        with m.If(self.lane == P - 1):
            m.d.sync += [self.lane.eq(0), self.row.eq(self.row + 1)]
        with m.Else():
            m.d.sync += self.lane.eq(self.lane + 1)
        return self.cnt + 1 == self.bias_words

    def _bias(self, m, word):
        with m.If(self._lane_word(m, self.b_wr, word[: self.capacity.v_bits])):
            # the decay words follow, as many as bias words
            m.d.sync += [self.sec.eq(L_DEC), self.cnt.eq(0), self.lane.eq(0), self.row.eq(0)]

    def _decay(self, m, word):
        lsb, db = protocol.DECAY_SHIFT_LSB, protocol.DECAY_BITS
        last = self._lane_word(m, self.d_wr, Cat(word[0 : db + 1], word[lsb : lsb + 2]))
        with m.If((word[0 : db + 1] > protocol.DECAY_ONE) | (word[db + 1 : lsb] != 0) | (word[lsb + 2 :] != 0)):
            m.d.sync += self.bad.eq(1)  # malformed decay word: the trailer check fails
        with m.If(last):
            with m.If(self.weight_words != 0):
                self._to_weights(m)
            with m.Else():
                m.d.sync += self.sec.eq(L_TRL)

    def _weights(self, m, word):
        cap = self.capacity
        wpw = protocol.weight_stream_words(cap)
        full = Cat(self.wshift[32:], word)
        m.d.sync += self.wshift.eq(full)
        with m.If(self.sub == wpw - 1):
            m.d.sync += [self.sub.eq(0), self.cnt.eq(self.cnt + 1)]
            with m.If(self.cnt < cap.weight_depth):
                m.d.comb += [
                    self.w_wr.addr.eq(self.cnt),
                    self.w_wr.data.eq(full[: cap.lanes * cap.weight_bits]),
                    self.w_wr.en.eq(1),
                ]
            with m.If(self.cnt + 1 == self.weight_words):
                m.d.sync += self.sec.eq(L_TRL)
        with m.Else():
            m.d.sync += self.sub.eq(self.sub + 1)

    def _trailer(self, m, word, is_last):
        good = (word == self.sum) & (self.pos + 1 == self.total) & is_last & ~self.bad
        with m.If(is_last):
            self._finish(m, Mux(good, 0, _err("bad_model")), valid=good)
        with m.Else():
            self._refuse(m)
