"""The synapse accumulator array: P accumulators that sum a chunk's input.

docs/design.md section 5: for each input spike of a step, the P weights of that
spike's row for the chunk (one wide weight-memory word) are added into P
accumulators held in registers, so there is no accumulator memory and no
read-modify-write hazard. This module is that block, stages I3 and I4 of
the core's issue pipeline (:mod:`hw.rtl.core`):

* **I3, the weight row.** ``w_word`` is the weight memory's read data (the
  memory is read synchronously, so it is valid the cycle after the row
  address); it is registered unconditionally as P signed weights. The
  register keeps the memory's clock-to-output delay and the wide adders
  of I4 in different cycles.
* **I4, the accumulate.** With ``load`` (the chunk's first accumulate, or
  the lone one of a chunk without events) each accumulator becomes
  ``bias + weight`` (``bias`` alone when ``valid`` is low); otherwise, with
  ``valid``, ``acc += weight``; otherwise it holds. One adder a lane does
  both: its first operand is the bias on a load, else the accumulator
  (two adders and a mux after them cost about 20 more LUTs a lane).
  ``bias_word`` is the bias memory's read data in the same cycle as ``load``.
* **The SOP count.** ``sops_inc`` is ``lanes`` in a cycle with ``valid`` (a
  partial chunk's padded lanes are not synaptic operations), else 0. It is
  combinational, so the core's counter adds it in the accumulate's cycle.

Timing (what the core's cycle model relies on): ``w_word`` in cycle k is
accumulated by the ``load``/``valid`` of cycle k + 1 and is in ``acc`` in
cycle k + 2; ``load``, ``valid`` and ``bias_word`` in cycle k are in
``acc`` in cycle k + 1. The chunk's update reads ``acc`` in the cycle its
next chunk's first accumulate reloads it; that write lands a cycle later.

Why plain ports and not :mod:`amaranth.lib.stream`: the issue pipeline
never stalls (no ready), and the weight and its ``valid`` arrive at two
different stages (I3 and I4), so a single payload/valid pair would need
the core to re-time one of them. A fixed-latency pipeline with valid bits
is what the core's cycle model counts.

The accumulator width comes from the caller (:func:`hw.spec.lif.acc_bits` in
the core), wide enough that a layer's worst case never wraps; the array
itself wraps modulo ``2**acc_bits`` like any register.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SynapseAccumulators"]


class SynapseAccumulators(wiring.Component):
    """P accumulators behind a registered weight row.

    Parameters
    ----------
    lanes : int
        P, the number of lanes (accumulators).
    weight_bits : int
        Width of one signed weight; lane ``j`` is ``w_word[j*WB:(j+1)*WB]``.
    v_bits : int
        Width of one signed bias; lane ``j`` is ``bias_word[j*V:(j+1)*V]``.
    acc_bits : int
        Width of one signed accumulator, at least ``max(v_bits,
        weight_bits) + 1`` so that ``bias + weight`` fits.

    Members
    -------
    w_word : In(lanes * weight_bits)
        The weight row as read from the weight memory (stage I3 input).
    bias_word : In(lanes * v_bits)
        The chunk's biases, read in the cycle of ``load``.
    load : In(1)
        Start a chunk: ``acc = bias (+ weight if valid)``.
    valid : In(1)
        The registered row is an event's: add it (or, with ``load``, load it).
    lanes : In(range(lanes + 1))
        Lanes of the chunk that are neurons (the SOPs of one accumulate).
    acc : Out(signed(acc_bits)).array(lanes)
        The accumulators (registers).
    sops_inc : Out(range(lanes + 1))
        ``lanes`` when ``valid``, else 0 (combinational).
    """

    def __init__(self, lanes: int, weight_bits: int, v_bits: int, acc_bits: int):
        self._MustUse__silence = True  # a rejected instance is not an unused one
        for name, value, low in (("Lane count", lanes, 1), ("Weight width", weight_bits, 1), ("Bias width", v_bits, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        need = max(v_bits, weight_bits) + 1
        if not isinstance(acc_bits, int) or isinstance(acc_bits, bool) or acc_bits < need:
            raise TypeError(f"Accumulator width must be an integer >= {need} (bias + weight), not {acc_bits!r}")
        self._MustUse__silence = False
        self.n_lanes, self.weight_bits, self.v_bits, self.acc_bits = lanes, weight_bits, v_bits, acc_bits
        super().__init__(
            {
                "w_word": In(lanes * weight_bits),
                "bias_word": In(lanes * v_bits),
                "load": In(1),
                "valid": In(1),
                "lanes": In(range(lanes + 1)),
                "acc": Out(signed(acc_bits)).array(lanes),
                "sops_inc": Out(range(lanes + 1)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        P, WB, V = self.n_lanes, self.weight_bits, self.v_bits
        # I3: the row, registered
        wgt = [Signal(signed(WB), name=f"wgt{j}") for j in range(P)]
        m.d.sync += [wgt[j].eq(self.w_word[j * WB : (j + 1) * WB].as_signed()) for j in range(P)]
        # I4: load (bias, plus the row if it is an event's) or add: one adder a
        # lane, its first operand the bias on a load, else the accumulator
        bias = [self.bias_word[j * V : (j + 1) * V].as_signed() for j in range(P)]
        with m.If(self.load | self.valid):
            m.d.sync += [self.acc[j].eq(Mux(self.load, bias[j], self.acc[j]) + Mux(self.valid, wgt[j], 0)) for j in range(P)]
        m.d.comb += self.sops_inc.eq(Mux(self.valid, self.lanes, 0))
        return m
