"""The LIF neuron array: P pipelined lanes, their layer parameters, the
lane-count mask and the spike-count update of one chunk per cycle.

A chunk is P neurons of one layer: one wide membrane word, one wide decay
word and P accumulators enter together, and ``LATENCY`` cycles later the
chunk's P new membranes, its P spike bits and its P updated spike counts
come out together, ready to be written back in one cycle. A new chunk may
enter every cycle, and consecutive chunks may belong to different layers
(the core's wave schedule sets up a layer while the previous one drains),
so nothing here is "held while in flight": every per-chunk fact travels
with the chunk.

Why the layer parameters are registered here and not pipelined per lane:
:class:`hw.rtl.lif_pipe.LIFPipeLane` reads ``threshold``, ``lo``, ``hi``,
``subtract`` and ``spiking`` only in its last stage. So the array carries
the chunk's layer index (a few bits) ``LATENCY - 2`` stages, selects that
layer's parameters from the loader's per-layer registers and registers them
once, shared by all P lanes, exactly in time for that stage: one set of
registers for the whole array instead of ``3 * v_bits + 2`` flip-flops per
stage per lane, and the wide multiplexer over layers is off the lanes'
paths.

The membrane of a layer with ``v_bits = b`` narrower than the datapath is
clamped to ``-2**(b-1) .. 2**(b-1)-1`` (a ``v_bits`` outside 2..V clamps to
the datapath's own V bits).

Lanes past the chunk's lane count (the last chunk of a layer whose size is
not a multiple of P) still compute, on whatever their memory words hold, but
their spike bits are masked to 0, so they are never queued nor counted; their
membranes are written back and never read as a neuron.

The spike counts (per neuron, over a sample) are read by the core one cycle
before the chunk's write-back, so ``c_word`` arrives in the ``o_valid``
cycle; ``c_word_out`` is that count plus the chunk's spike, or just the
spike at a sample's step 0 (``i_zero``: the count memory is never cleared,
exactly as membranes read as 0 at step 0).

Latency: ``LATENCY`` = ``LIFPipeLane.LATENCY`` = 4 cycles from ``i_valid``
to ``o_valid``; ``hw.spec.capacity.DRAIN`` counts these cycles.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.spec.capacity import Capacity, require_capacity
from hw.spec.lif import acc_bits
from hw.rtl.lif_pipe import LIFPipeLane, layer_outcomes
from hw.rtl.loader import DECAY_LANE_BITS

__all__ = ["LIFArray", "VB_BITS"]

#: Width of a layer's ``v_bits`` as the loader holds it (``ly_vb``).
VB_BITS = 6


class LIFArray(wiring.Component):
    """P LIF lanes updating one chunk per cycle, ``LATENCY`` cycles deep.

    Parameters
    ----------
    capacity : Capacity
        ``lanes`` (P), ``v_bits`` (V), ``max_layers`` (L) and
        ``max_timesteps`` (the spike-count width) set the port widths; the
        accumulator width is :func:`hw.spec.lif.acc_bits` of the capacity's
        largest layer fan-in, as in the core.

    Members
    -------
    i_valid : In(1)
        A chunk enters this cycle.
    i_zero : In(1)
        It is the sample's step 0: its membranes and spike counts read as 0.
    i_lanes : In(range(P + 1))
        Its neurons (1..P); lanes ``j >= i_lanes`` never spike.
    i_layer : In(range(L + 1))
        Its layer: which of the ``ly_*`` parameters apply.
    v_word : In(P * V)
        Its membranes after the previous step, lane j at bits ``[j*V, (j+1)*V)``.
    d_word : In(P * DECAY_LANE_BITS)
        Its decays, lane j's ``d`` in the low 13 bits of its field and the
        extra product shift in the top 2 (:mod:`hw.rtl.loader`).
    acc : In(signed(acc_width)).array(P)
        Its synaptic currents (bias plus this step's weights).
    ly_thr : In(signed(V)).array(L)
    ly_sub, ly_spk : In(1).array(L)
    ly_vb : In(VB_BITS).array(L)
        The loaded layers' threshold, subtract reset, spiking flag and
        ``v_bits`` (the loader's registers, static while a sample runs).
    c_word : In(P * count_bits)
        The chunk's spike counts, presented in its ``o_valid`` cycle.
    o_valid : Out(1)
        The chunk that entered ``LATENCY`` cycles ago is out. A soft reset
        does not clear it: the core writes a chunk back under its own update
        tag's valid bit, which the soft reset clears, and uses this output
        only through the other members' timing.
    v_word_out : Out(P * V)
        Its new membranes, packed like ``v_word``.
    spikes : Out(P)
        Its spikes, masked by its lane count.
    c_word_out : Out(P * count_bits)
        Its spike counts plus its spikes (just its spikes at step 0).
    """

    LATENCY = LIFPipeLane.LATENCY

    def __init__(self, capacity: Capacity):
        require_capacity(self, capacity)
        self.capacity = capacity
        P, V, L = capacity.lanes, capacity.v_bits, capacity.max_layers
        rows_max = capacity.max_sources * max(capacity.max_inputs, capacity.max_neurons)
        self.acc_width = acc_bits(V, capacity.weight_bits, rows_max)
        self.count_bits = bits_for(capacity.max_timesteps)
        super().__init__(
            {
                "i_valid": In(1),
                "i_zero": In(1),
                "i_lanes": In(bits_for(P)),
                "i_layer": In(bits_for(L)),
                "v_word": In(P * V),
                "d_word": In(P * DECAY_LANE_BITS),
                "acc": In(signed(self.acc_width)).array(P),
                "ly_thr": In(signed(V)).array(L),
                "ly_sub": In(1).array(L),
                "ly_spk": In(1).array(L),
                "ly_vb": In(VB_BITS).array(L),
                "c_word": In(P * self.count_bits),
                "o_valid": Out(1),
                "v_word_out": Out(P * V),
                "spikes": Out(P),
                "c_word_out": Out(P * self.count_bits),
            }
        )

    def elaborate(self, platform):
        m = Module()
        tag = self._chunk_pipeline(m)
        params = self._layer_params(m, tag["layer"][self.LATENCY - 2])
        spikes = self._lanes(m, params, tag["lanes"][-1])
        self._counts(m, spikes, tag["zero"][-1])
        m.d.comb += [self.o_valid.eq(tag["valid"][-1]), self.spikes.eq(spikes)]
        return m

    def _chunk_pipeline(self, m):
        """Shift registers carrying each chunk's valid, zero, lane count and
        layer beside the lanes: entry ``i`` of each list is the chunk that
        entered ``i`` cycles ago (entry 0 is the input itself)."""
        tag = {}
        for name in ("valid", "zero", "lanes", "layer"):
            port = getattr(self, f"i_{name}")
            chain = [port]
            for i in range(1, self.LATENCY + 1):
                reg = Signal.like(port, name=f"{name}_d{i}")
                m.d.sync += reg.eq(chain[-1])
                chain.append(reg)
            tag[name] = chain
        return tag

    def _layer_params(self, m, layer):
        """The parameters of ``layer`` (the chunk two stages before leaving),
        registered so that they are valid in the lanes' last stage, with the
        outcome of a value clamped to either bound (:func:`layer_outcomes`),
        formed here once instead of in every lane."""
        V = self.capacity.v_bits
        thr, lo, hi = Signal(signed(V)), Signal(signed(V)), Signal(signed(V))
        sub, spk = Signal(), Signal()
        m.d.comb += [
            thr.eq(Array(self.ly_thr)[layer]),
            sub.eq(Array(self.ly_sub)[layer]),
            spk.eq(Array(self.ly_spk)[layer]),
        ]
        with m.Switch(Array(self.ly_vb)[layer]):
            for b in range(2, V + 1):
                with m.Case(b):
                    m.d.comb += [hi.eq((1 << (b - 1)) - 1), lo.eq(-(1 << (b - 1)))]
            with m.Default():
                m.d.comb += [hi.eq((1 << (V - 1)) - 1), lo.eq(-(1 << (V - 1)))]
        comb = {"threshold": thr, "subtract": sub, "spiking": spk, "lo": lo, "hi": hi,
                **layer_outcomes(hi, lo, thr, sub, spk)}  # fmt: skip
        regs = {k: Signal(v.shape(), name=f"lp_{k}") for k, v in comb.items()}
        m.d.sync += [regs[k].eq(v) for k, v in comb.items()]
        return regs

    def _lanes(self, m, params, lanes_out):
        """The P lanes; returns their spike bits masked by the lane count of
        the chunk leaving them."""
        P, V, DW = self.capacity.lanes, self.capacity.v_bits, DECAY_LANE_BITS
        spikes = Signal(P)
        v_out = []
        for j in range(P):
            lane = LIFPipeLane(V, self.acc_width)
            m.submodules[f"lif{j}"] = lane
            m.d.comb += [
                lane.i_valid.eq(self.i_valid),
                lane.v_in.eq(self.v_word[j * V : (j + 1) * V].as_signed()),
                lane.zero_v.eq(self.i_zero),
                lane.acc.eq(self.acc[j]),
                lane.decay.eq(self.d_word[j * DW : j * DW + 13]),
                lane.shift.eq(self.d_word[j * DW + 13 : (j + 1) * DW]),
                *[getattr(lane, k).eq(v) for k, v in params.items()],
                spikes[j].eq(lane.spike & (j < lanes_out)),
            ]
            v_out.append(lane.v_out)
        m.d.comb += self.v_word_out.eq(Cat(*v_out))
        return spikes

    def _counts(self, m, spikes, zero_out):
        """Each lane's count plus its spike, cut to its own field (a
        ``count_bits + 1``-bit sum would shift every later lane's count)."""
        P, CB = self.capacity.lanes, self.count_bits
        m.d.comb += self.c_word_out.eq(
            Cat((Mux(zero_out, 0, self.c_word[j * CB : (j + 1) * CB]) + spikes[j])[:CB] for j in range(P))
        )
