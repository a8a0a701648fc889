"""A pipelined LIF lane with a per-neuron multiplicative decay.

DESIGN.md section 3's update with the general decay of the v2 contract::

    v'     = v - ((v * d) >> 12) + I        (d in 0..4096, >> floors)
    v'     = clamp(v', -2**(vb-1), 2**(vb-1) - 1)
    spike  = spiking and v' >= threshold
    v_next = spike ? (subtract ? v' - threshold : 0) : v'

With ``d = 4096 >> k`` this is today's ``v - (v >> k)`` bit for bit (and
``d = 0`` is the IF neuron), so the shift-leak lane :class:`hw.lif.LIFLane`
and this one agree on every v1 model.

Why a pipeline: the combinational lane puts a membrane-memory read, a
three-input add, a clamp and a threshold compare in one cycle, which is the
critical path the issue measured (43 ns on ECP5). Here every stage holds at
most one multiplier, one adder or one comparator/mux level between
registers, so the lane is never the slowest path of the core.

Stages (one register each; ``LATENCY`` = 5 cycles from ``i_valid`` to
``o_valid``; a new neuron may enter every cycle):

1. ``v1 = zero_v ? 0 : v_in``; latch ``I`` and ``d``.
2. ``p2 = v1 * d`` (the one registered multiplier: a DSP/MULT18 for
   ``v_bits`` <= 18), ``s2 = v1 + I``.
3. ``t3 = s2 - (p2 >> 12)`` (exact, no overflow: width ``acc_width + 2``).
4. ``c4 = clamp(t3, lo, hi)``.
5. ``spike = spiking & (c4 >= threshold)``; ``v_out`` per the reset rule.

The layer parameters ``lo``, ``hi``, ``threshold``, ``subtract`` and
``spiking`` are not pipelined: they are read by stages 4 and 5 and must be
held while a value is in flight (the core changes them only at a layer's
set-up, after the lane has drained). Pipelining them per lane would cost
``3 * v_bits + 2`` flip-flops per stage per lane for nothing.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DECAY_BITS", "DECAY_ONE", "LIFPipeLane", "decay_from_shift"]

#: Fractional bits of the decay constant (the v2 ``.qnet`` contract).
DECAY_BITS = 12
#: ``d = DECAY_ONE`` empties the membrane each step; ``d = 0`` never leaks.
DECAY_ONE = 1 << DECAY_BITS


def decay_from_shift(k: int) -> int:
    """The decay that equals a v1 shift leak ``k`` (0: no leak).

    Exact only for k <= 12: ``(v * (4096 >> k)) >> 12 == v >> k`` needs
    ``4096 >> k`` to be a power of two; for k = 13..15 it is 0, which never
    leaks, while ``v >> k`` is -1 for every small negative v. Those shifts
    are refused rather than silently changed.
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= DECAY_BITS:
        raise ValueError(f"leak shift {k!r} has no exact {DECAY_BITS}-bit decay (exact for 0..{DECAY_BITS})")
    return DECAY_ONE >> k if k else 0


class LIFPipeLane(wiring.Component):
    """One neuron update per cycle, ``LATENCY`` cycles deep.

    Parameters
    ----------
    v_bits : int
        Width of the membrane datapath (the capacity's ``v_bits``).
    acc_width : int
        Width of the synaptic current ``acc`` (:func:`hw.lif.acc_bits`).

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
    lo, hi, threshold : In(signed(v_bits))
        The layer's clamp bounds and threshold (held while in flight).
    subtract, spiking : In(1)
        Reset by subtraction; 0 for a non-spiking readout layer (held).
    o_valid : Out(1)
        ``v_out`` and ``spike`` hold the result of the neuron that entered
        ``LATENCY`` cycles ago.
    v_out : Out(signed(v_bits))
    spike : Out(1)
    """

    LATENCY = 5

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
                "lo": In(signed(v_bits)),
                "hi": In(signed(v_bits)),
                "threshold": In(signed(v_bits)),
                "subtract": In(1),
                "spiking": In(1),
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

        v1 = Signal(signed(V))
        a1 = Signal(signed(A))
        d1 = Signal(unsigned(DECAY_BITS + 1))
        m.d.sync += [v1.eq(Mux(self.zero_v, 0, self.v_in)), a1.eq(self.acc), d1.eq(self.decay)]

        p2 = Signal(signed(V + DECAY_BITS + 2))
        s2 = Signal(signed(W))
        m.d.sync += [p2.eq(v1 * d1), s2.eq(v1 + a1)]

        t3 = Signal(signed(W))
        m.d.sync += t3.eq(s2 - (p2 >> DECAY_BITS))

        c4 = Signal(signed(V))
        m.d.sync += c4.eq(Mux(t3 > self.hi, self.hi, Mux(t3 < self.lo, self.lo, t3)))

        spike = self.spiking & (c4 >= self.threshold)
        v5 = Signal(signed(V))
        s5 = Signal()
        m.d.sync += [s5.eq(spike), v5.eq(Mux(spike, Mux(self.subtract, c4 - self.threshold, 0), c4))]
        m.d.comb += [self.o_valid.eq(valid[-1]), self.v_out.eq(v5), self.spike.eq(s5)]
        return m
