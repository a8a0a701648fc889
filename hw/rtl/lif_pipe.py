"""A pipelined LIF lane with a per-neuron multiplicative decay.

docs/design.md section 3's update with the general decay of the v2 contract::

    v'     = v - ((v * d) >> 12) + I        (d in 0..4096, >> floors)
    v'     = clamp(v', -2**(vb-1), 2**(vb-1) - 1)
    spike  = spiking and v' >= threshold
    v_next = spike ? (subtract ? v' - threshold : 0) : v'

With ``d = 4096 >> k`` this is v1's ``v - (v >> k)`` bit for bit for
k <= 12 (and ``d = 0`` is the IF neuron); k = 13..15 use ``shift`` below.

Why a pipeline: the combinational lane puts a membrane-memory read, a
three-input add, a clamp and a threshold compare in one cycle, which is the
critical path the issue measured (43 ns on ECP5). Here every stage holds at
most one multiplier, one adder or one comparator/mux level between
registers, so the lane is never the slowest path of the core.

Stages (one register each; ``LATENCY`` = 4 cycles from ``i_valid`` to
``o_valid``; a new neuron may enter every cycle):

0. ``v = zero_v ? 0 : v_in``, ``I``, ``d`` and ``shift`` registered: the
   membrane comes straight out of a block RAM, whose clock-to-output delay
   leaves no room for a multiplier in the same cycle (ECP5: 16 ns path).
1. ``p1 = v * d`` (the one registered multiplier: a DSP/MULT18 for
   ``v_bits`` <= 18) and ``s1 = v + I``.
2. ``t2 = s1 - (p1 >> (12 + shift))``: exact, width ``acc_width + 2``.
3. Clamp, threshold and reset in one level: ``t2`` is compared with ``hi``
   and ``lo``, and ``t2 - threshold`` formed, in parallel (its sign is
   ``t2 >= threshold``), then a mux picks the result. A value above ``hi``
   or below ``lo`` has the layer's own outcome, spike and membrane alike
   (:func:`layer_outcomes`: ``hi_spike``/``hi_result``, ``lo_spike``/
   ``lo_result``), which the array forms once for all lanes; so no
   comparator waits for the clamp.

``shift`` (0..3, per neuron like ``d``) widens the multiplier's right shift for the v1
shift leaks k = 13..15, which have no exact 12-bit decay (see
:func:`decay_from_shift`): ``v >> k == (v * 1) >> (12 + (k - 12))``. A v2
model with per-neuron decays uses ``shift = 0``.

The layer parameters ``lo``, ``hi``, ``threshold``, ``subtract`` and
``spiking`` are not pipelined: they are read by the last stage and must be held while a value is in flight (the core changes them only
at a layer's set-up, after the lane has drained). Pipelining them per lane
would cost ``3 * v_bits + 2`` flip-flops per stage per lane for nothing.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

# The decay format is part of the model image (numpy-only hw.spec.protocol); the
# lane reads DECAY_BITS from its own module so a test can mutate it here.
from hw.spec import timing
from hw.spec.protocol import DECAY_BITS, DECAY_ONE, decay_and_shift, decay_from_shift

__all__ = ["DECAY_BITS", "DECAY_ONE", "LIFPipeLane", "layer_outcomes", "decay_from_shift", "decay_and_shift"]

def layer_outcomes(hi, lo, threshold, subtract, spiking) -> dict:
    """What a lane's last stage makes of a value clamped to ``hi`` or ``lo``:
    whether it spikes (``hi_spike``: ``spiking and hi >= threshold``) and the
    membrane it leaves (``hi_result``: ``hi - threshold`` after a subtracting
    spike, 0 after a zeroing one, else ``hi``), and the same for ``lo``.

    They depend on the layer only, so :class:`hw.rtl.lif_array.LIFArray`
    forms them once for all P lanes (Amaranth values in, Amaranth values
    out): per lane they were two subtractors, two comparators and a wider
    mux (29 of a lane's 169 LUTs, Yosys xc7, V = 16)."""
    out = {}
    for name, bound in (("hi", hi), ("lo", lo)):
        fires = spiking & (bound >= threshold)
        out[f"{name}_spike"] = fires
        out[f"{name}_result"] = Mux(fires, Mux(subtract, bound - threshold, 0), bound)
    return out


class LIFPipeLane(wiring.Component):
    """One neuron update per cycle, ``LATENCY`` cycles deep.

    Parameters
    ----------
    v_bits : int
        Width of the membrane datapath (the capacity's ``v_bits``).
    acc_width : int
        Width of the synaptic current ``acc`` (:func:`hw.spec.lif.acc_bits`).

    Members
    -------
    i_valid : In(1)
        A neuron enters stage 1 this cycle.
    v_in : In(signed(v_bits))
        Its membrane after the previous step.
    zero_v : In(1)
        Read ``v_in`` as 0 (the first step of a sample).
    acc : In(signed(acc_width))
        Its bias plus the weights of this step's input spikes.
    decay : In(unsigned(13))
        Its decay ``d`` in 0..4096.
    shift : In(2)
        Its extra right shift of the product (v1 leaks k = 13..15).
    lo, hi, threshold : In(signed(v_bits))
        The layer's clamp bounds and threshold (held while in flight).
    subtract, spiking : In(1)
        Reset by subtraction; 0 for a non-spiking readout layer (held).
    hi_spike, lo_spike : In(1); hi_result, lo_result : In(signed(v_bits))
        :func:`layer_outcomes` of the above (held).
    o_valid : Out(1)
        ``v_out`` and ``spike`` hold the result of the neuron that entered
        ``LATENCY`` cycles ago.
    v_out : Out(signed(v_bits))
    spike : Out(1)
    """

    LATENCY = timing.LIF  # the stages below; tests measure it

    def __init__(self, v_bits: int, acc_width: int):
        self._MustUse__silence = True  # a rejected instance is not an unused one
        if not isinstance(v_bits, int) or not 4 <= v_bits <= 32:
            raise TypeError(f"Membrane width must be an integer in 4..32, not {v_bits!r}")
        if not isinstance(acc_width, int) or acc_width < v_bits:
            raise TypeError(f"Accumulator width must be an integer >= v_bits {v_bits}, not {acc_width!r}")
        self._MustUse__silence = False
        self.v_bits = v_bits
        self.acc_width = acc_width
        super().__init__(
            {
                "i_valid": In(1),
                "v_in": In(signed(v_bits)),
                "zero_v": In(1),
                "acc": In(signed(acc_width)),
                "decay": In(unsigned(DECAY_BITS + 1)),
                "shift": In(2),
                "lo": In(signed(v_bits)),
                "hi": In(signed(v_bits)),
                "threshold": In(signed(v_bits)),
                "subtract": In(1),
                "spiking": In(1),
                "hi_spike": In(1),
                "lo_spike": In(1),
                "hi_result": In(signed(v_bits)),
                "lo_result": In(signed(v_bits)),
                "o_valid": Out(1),
                "v_out": Out(signed(v_bits)),
                "spike": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        V, A = self.v_bits, self.acc_width
        # |v * d >> 12| <= |v|, so v + I - that fits in acc_width + 2 bits.
        W = A + 2
        valid = [Signal(name=f"valid{i}") for i in range(1, self.LATENCY + 1)]
        m.d.sync += valid[0].eq(self.i_valid)
        for a, b in zip(valid, valid[1:]):
            m.d.sync += b.eq(a)

        v = Signal(signed(V))
        a0 = Signal(signed(A))
        d0 = Signal(unsigned(DECAY_BITS + 1))
        e0 = Signal(2)
        m.d.sync += [v.eq(Mux(self.zero_v, 0, self.v_in)), a0.eq(self.acc), d0.eq(self.decay), e0.eq(self.shift)]
        p1 = Signal(signed(V + DECAY_BITS + 2))
        s1 = Signal(signed(W))
        e1 = Signal(2)
        m.d.sync += [p1.eq(v * d0), s1.eq(v + a0), e1.eq(e0)]

        leak = Signal(signed(V + 1))
        with m.Switch(e1):
            for e in range(4):
                with m.Case(e):
                    m.d.comb += leak.eq(p1 >> (DECAY_BITS + e))
        t2 = Signal(signed(W))
        m.d.sync += t2.eq(s1 - leak)

        gt_hi, lt_lo = t2 > self.hi, t2 < self.lo
        # t2 - thr once: its sign is t2 >= thr (no second comparator). A clamped
        # value's whole outcome is the layer's (hi_spike / hi_result, lo_...),
        # formed once for all lanes (hw.rtl.lif_array, layer_outcomes)
        diff = Signal(signed(W + 1))
        m.d.comb += diff.eq(t2 - self.threshold)
        fires = self.spiking & ~diff[-1]
        inside = Mux(fires, Mux(self.subtract, diff, 0), t2)
        v3 = Signal(signed(V))
        s3 = Signal()
        m.d.sync += [
            s3.eq(Mux(gt_hi, self.hi_spike, Mux(lt_lo, self.lo_spike, fires))),
            v3.eq(Mux(gt_hi, self.hi_result, Mux(lt_lo, self.lo_result, inside))),
        ]
        m.d.comb += [self.o_valid.eq(valid[-1]), self.v_out.eq(v3), self.spike.eq(s3)]
        return m
