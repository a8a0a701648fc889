"""One lane's membrane update: DESIGN.md section 3's LIF equation in gateware.

Combinational, so the core can place it in the cycle after a chunk's last
accumulate without adding latency; a lane of the neuron array is one
:class:`LIFLane`, the core instantiates P of them.
"""

from __future__ import annotations

from amaranth import Module, Mux, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LIFLane", "acc_bits"]


def acc_bits(v_bits: int, weight_bits: int, max_events: int) -> int:
    """Accumulator width that never wraps: |bias| < 2**(v_bits-1) plus up to
    ``max_events`` weights of magnitude <= 2**(weight_bits-1), one sign bit and
    one bit of margin."""
    if max_events < 1:
        raise ValueError(f"max_events must be positive, not {max_events!r}")
    return max(v_bits, weight_bits + max(1, (max_events).bit_length())) + 2


class LIFLane(wiring.Component):
    """``v' = clamp(v - (v >> k) + I, lo, hi)``, spike and reset for one neuron.

    Parameters
    ----------
    v_bits : int
        Width of the membrane datapath (the capacity's ``v_bits``).
    acc_width : int
        Width of the synaptic current ``acc`` (see :func:`acc_bits`).

    Members
    -------
    v_in : In(signed(v_bits))
        Membrane after the previous step.
    zero_v : In(1)
        Treat ``v_in`` as 0 (the first step of a sample: membranes start at 0
        without a clearing pass over the memory).
    acc : In(signed(acc_width))
        Bias plus the weights of this step's input spikes.
    leak_shift : In(4)
        k; 0 is no leak (an IF neuron), not ``v - v``.
    lo, hi : In(signed(v_bits))
        The layer's clamp bounds ``-2**(vb-1)`` and ``2**(vb-1)-1``.
    threshold : In(signed(v_bits))
    subtract : In(1)
        Reset by subtraction (1) or to zero (0).
    spiking : In(1)
        0 for the readout layer: never spikes, never resets.
    v_out : Out(signed(v_bits))
        Membrane after update and reset.
    spike : Out(1)
    """

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
                "v_in": In(signed(v_bits)),
                "zero_v": In(1),
                "acc": In(signed(acc_width)),
                "leak_shift": In(unsigned(4)),
                "lo": In(signed(v_bits)),
                "hi": In(signed(v_bits)),
                "threshold": In(signed(v_bits)),
                "subtract": In(1),
                "spiking": In(1),
                "v_out": Out(signed(v_bits)),
                "spike": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        v = Mux(self.zero_v, 0, self.v_in)
        leak = Mux(self.leak_shift == 0, 0, v >> self.leak_shift)
        total = v - leak + self.acc
        clamped = Mux(total > self.hi, self.hi, Mux(total < self.lo, self.lo, total))
        spike = self.spiking & (clamped >= self.threshold)
        m.d.comb += [
            self.spike.eq(spike),
            self.v_out.eq(Mux(spike, Mux(self.subtract, clamped - self.threshold, 0), clamped)),
        ]
        return m
