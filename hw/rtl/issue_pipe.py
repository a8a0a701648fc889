"""The issue pipeline: one queued event per cycle into the P synapse accumulators.

The walker (:class:`hw.rtl.walker.SegmentWalker`) names the event being
issued: source ``s``, lane bank ``j``, entry ``k`` of its segment. Four
registered stages turn it into an accumulate, block RAM read synchronously
throughout:

* **I0** (the issue cycle): the event-list (input source) or spike-queue
  (layer source) read address ``base[s] + k``; the segment's weight-row
  base (``wptr + off[s]``) and source kind are registered.
* **I1**: the queue entry gives the row index within the source: an input
  event's flat index, or ``entry * P + j`` for a spike of lane bank ``j``
  (registered).
* **I2**: row base + row index addresses the row of P weights (one wide
  weight-memory word).
* **I3**: the weight row is registered (in the accumulator array).
* **I4**: the accumulators add it (``acc_valid``); the chunk's first
  accumulate also loads its bias (``acc_load``), read at the chunk's
  membrane row ``maddr`` delayed to match (``b_addr``).

A chunk without events still gets one ``acc_load`` (its bias alone):
``enter`` marks a chunk's start whatever follows.

Latency: ``LATENCY`` = :data:`hw.spec.timing.ISSUE` = 4 cycles from
``issue`` (or ``enter`` + 1) to ``acc_valid`` (``acc_load``); one issue per
cycle. ``abort`` (soft reset) drops every issue in flight.
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from hw.spec import protocol, timing
from hw.spec.capacity import Capacity, require_capacity
from sw.events import INDEX_BITS

__all__ = ["IssuePipeline"]


class IssuePipeline(wiring.Component):
    """I0-I4: from a walker position to an accumulate, ``LATENCY`` cycles deep.

    Parameters
    ----------
    capacity : Capacity
        Sets P, the sources and every address width.

    Members
    -------
    issue : In(1)
        An event is issued this cycle (walker ``s``, ``j``, ``k``).
    enter : In(1)
        A chunk starts next cycle: its first accumulate loads the bias.
    lanes : In(bits_for(P))
        Neurons in the chunk being issued.
    maddr : In(bits_for(membrane_depth))
        The membrane (and bias) row of the chunk being issued.
    wptr : In
        The first weight word of the chunk being issued.
    s, j, k : In
        The walker's position.
    s_off, s_layer, s_qbase, s_gbase : In().array(S)
        Per source of the running layer (latched at its set-up): its first
        weight row, whether it is a layer (else an input group), its spike
        queue's base and its event list's base.
    ev_addr, ev_data : Out / In
        The event-list read port (:class:`hw.rtl.event_input.EventInput`).
    q_addr : Out
        The spike-queue read address (:class:`hw.rtl.spike_queues.SpikeQueues`).
    q_data : In().array(P)
        The entries read, one per lane bank.
    w_addr : Out
        The weight-memory read address.
    b_addr : Out
        The bias-memory read address (the row of the chunk whose first
        accumulate is next cycle).
    acc_valid, acc_load, acc_lanes : Out
        To :class:`hw.rtl.accumulators.SynapseAccumulators`.
    abort : In(1)
        Soft reset.
    """

    LATENCY = timing.ISSUE

    def __init__(self, capacity: Capacity):
        self.capacity = require_capacity(self, capacity)
        cap = capacity
        P, S, L = cap.lanes, cap.max_sources, cap.max_layers
        QD, MD = protocol.queue_depth(cap), protocol.membrane_depth(cap)
        self.rows_max = S * max(cap.max_inputs, cap.max_neurons)
        rows_bits = bits_for(self.rows_max)
        seg_w = max(bits_for(QD), bits_for(cap.max_inputs))  # hw.rtl.walker counts
        super().__init__(
            {
                "issue": In(1),
                "enter": In(1),
                "lanes": In(bits_for(P)),
                "maddr": In(bits_for(MD)),
                "wptr": In(bits_for(cap.weight_depth) + 1),
                "s": In(range(max(2, S))),
                "j": In(range(max(2, P))),
                "k": In(seg_w),
                "s_off": In(rows_bits).array(S),
                "s_layer": In(1).array(S),
                "s_qbase": In(bits_for(2 * L * QD)).array(S),
                "s_gbase": In(bits_for(cap.max_inputs)).array(S),
                "ev_addr": Out(bits_for(cap.max_inputs) + 1),
                "ev_data": In(INDEX_BITS + 1),
                "q_addr": Out(bits_for(2 * L * QD) + 1),
                "q_data": In(max(1, ceil_log2(QD))).array(P),
                "w_addr": Out(bits_for(cap.weight_depth) + 1),
                "b_addr": Out(bits_for(MD)),
                "acc_valid": Out(1),
                "acc_load": Out(1),
                "acc_lanes": Out(bits_for(P)),
                "abort": In(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        P = self.capacity.lanes
        s_off, s_layer = Array(self.s_off), Array(self.s_layer)
        s_qbase, s_gbase = Array(self.s_qbase), Array(self.s_gbase)
        n = self.LATENCY  # I0 .. I4
        # shift registers whose last stages are the output ports themselves (I4)
        valid = [Signal(name=f"p{i}_valid") for i in range(1, n)] + [self.acc_valid]  # issue seen i cycles ago
        first = [Signal(name=f"c{i}") for i in range(n)] + [self.acc_load]  # chunk entered i + 1 cycles ago
        lanes = [Signal.like(self.lanes, name=f"p{i}_lanes") for i in range(1, n)] + [self.acc_lanes]
        m.d.sync += [valid[0].eq(self.issue), first[0].eq(self.enter), lanes[0].eq(self.lanes)]
        for a, b in ((valid, valid), (first, first), (lanes, lanes)):
            m.d.sync += [y.eq(x) for x, y in zip(a, b[1:])]
        # I0: read addresses; the segment's row base and kind
        p1_j = Signal.like(self.j)
        p1_layer = Signal()
        p1_base = Signal(len(self.wptr))
        m.d.comb += [
            self.ev_addr.eq(s_gbase[self.s] + self.k),
            self.q_addr.eq(s_qbase[self.s] + self.k),
        ]
        m.d.sync += [p1_j.eq(self.j), p1_layer.eq(s_layer[self.s]), p1_base.eq(self.wptr + s_off[self.s])]
        # I1: the entry read gives the row within the source (registered)
        local = Signal(bits_for(self.rows_max) + 1)
        p2_local = Signal.like(local)
        p2_base = Signal.like(p1_base)
        m.d.comb += local.eq(Mux(p1_layer, Array(self.q_data)[p1_j] * P + p1_j, self.ev_data))
        m.d.sync += [p2_local.eq(local), p2_base.eq(p1_base)]
        # I2: the weight row's address
        m.d.comb += self.w_addr.eq(p2_base + p2_local)
        # I3 registers the row (in the accumulators); I4 accumulates: acc_valid, acc_load, acc_lanes
        # the bias of the chunk whose first accumulate is next cycle: maddr,
        # LATENCY - 1 cycles late (its last issue may have moved maddr on)
        maddr_d = [Signal.like(self.maddr, name=f"maddr_d{i}") for i in range(n - 2)] + [self.b_addr]
        m.d.sync += [maddr_d[0].eq(self.maddr), *[b.eq(a) for a, b in zip(maddr_d, maddr_d[1:])]]
        with m.If(self.abort):
            m.d.sync += [x.eq(0) for x in valid + first]
        return m
