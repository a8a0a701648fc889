"""The spike-routing fabric: each layer's double-buffered spike queues.

Why a component: the queues were a block of :class:`hw.rtl.core.EAVSCore`'s one
long ``elaborate`` (issue 12); here they are one block with a Python model
to test against (``tests/test_hw_spike_queues.py``).

Organisation (docs/design.md section 5, "spike-routing fabric"):

* P lane banks. Lane ``j`` of the LIF array only ever produces spikes of
  neurons ``c * P + j``, so its spikes go to bank ``j`` and a bank entry
  holds just the chunk index ``c`` (``slot_bits`` wide). All P spikes of a
  chunk are queued in the one cycle its update is written back, one write
  port per bank, no arbitration.
* Queue ``q = layer * 2 + parity``: every layer has two buffers, the one of
  step t's parity is written at step t, so a delay-1 (recurrent) source
  reads the other, step t-1's spikes. Queue q occupies bank addresses
  ``[q * QD, (q + 1) * QD)``, ``QD = protocol.queue_depth`` (the chunks of
  the largest layer: one spike per lane per chunk at most).
* ``count[q][j]``: the entries of lane ``j``'s bank of queue ``q``, a
  register, so the core's set-up can latch a source's segment counts;
  ``nonzero[q][j]`` is ``count[q][j] != 0`` as a register of its own
  (updated with the count, from the spike bit and the old flag), so the
  set-up's segment mask needs no wide compare after its queue mux.
* ``own_at[j]``: the next free address of bank ``j``. A run (one layer at
  one step) writes its chunks in order; its first chunk writes from the
  queue's base (``wr_qbase``) and restarts the counts, so no count of the
  queue is muxed in front of the write address.

Write side (the LIF array's write-back; no back-pressure, so plain signals
rather than a stream): while ``wr_valid``, lane ``j``'s ``wr_spikes[j]``
writes ``wr_chunk`` at ``Mux(wr_first, wr_qbase, own_at[j])`` of bank ``j``,
and ``own_at[j]`` / ``count[wr_queue][j]`` advance by that bit. The entry
is readable from the next cycle; the count and pointer are registers, so
they show the write from the next cycle too. ``wr_qbase`` must equal
``wr_queue * QD``; it is an input so the caller can register the product
one stage ahead (the core does), keeping the multiply off this path.

Read side (the issue unit): ``rd_addr`` (``s_qbase + w_k``, common to all
banks) is presented in one cycle and ``rd_data[j]`` is bank ``j``'s entry
in the next (synchronous, not transparent: a read in the cycle of a write
to the same address returns the old entry; the core never reads a queue
with write-backs in flight).

``clear`` (the core's ``R_INIT``): every count becomes 0 in the next cycle;
it wins over a write-back count in the same cycle. Bank contents and
``own_at`` are not cleared: a run's first chunk restarts them.

Latency: 0 added cycles; the block is the registers and memories the core
had, with the same cycle behaviour.
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from hw.spec import protocol
from hw.spec.capacity import Capacity, require_capacity

__all__ = ["SpikeQueues"]


class SpikeQueues(wiring.Component):
    """P lane banks holding every layer's two spike-queue buffers.

    Parameters
    ----------
    capacity : Capacity
        ``lanes`` (P) banks; ``max_layers`` (L) layers, so ``2 * L`` queues;
        ``QD = protocol.queue_depth(capacity)`` entries per queue and bank.

    Members
    -------
    wr_valid : In(1)
        A chunk's update is written back this cycle.
    wr_first : In(1)
        It is its run's first chunk: bank writes start at ``wr_qbase`` and
        the queue's counts restart from 0.
    wr_queue : In(range(2 * L))
        The written queue, ``layer * 2 + parity``.
    wr_qbase : In(unsigned)
        ``wr_queue * QD``, the queue's base address (used when ``wr_first``).
    wr_chunk : In(unsigned)
        The chunk index ``c`` (``< QD``) stored for each spiking lane.
    wr_spikes : In(P)
        Bit ``j``: lane ``j`` spiked (and is a neuron of the layer).
    rd_addr : In(unsigned)
        Bank address to read (``q * QD + k``), the same in every bank.
    rd_data : Out(slot_bits).array(P)
        Bank ``j``'s entry at the previous cycle's ``rd_addr``.
    count : Out(unsigned).array(2 * L, P)
        ``count[q][j]``: entries in lane ``j``'s bank of queue ``q``.
    nonzero : Out(1).array(2 * L, P)
        ``count[q][j] != 0``, a register updated in the same cycle.
    clear : In(1)
        All counts to 0 (a sample's start).
    """

    def __init__(self, capacity: Capacity):
        require_capacity(self, capacity)
        self.capacity = capacity
        P, L = capacity.lanes, capacity.max_layers
        self.qd = QD = protocol.queue_depth(capacity)
        self.depth = 2 * L * QD
        self.slot_bits = max(1, ceil_log2(QD))
        self.cnt_bits = bits_for(QD)
        addr_bits = bits_for(self.depth)
        super().__init__(
            {
                "wr_valid": In(1),
                "wr_first": In(1),
                "wr_queue": In(range(2 * L)),
                "wr_qbase": In(addr_bits),
                "wr_chunk": In(bits_for(QD)),
                "wr_spikes": In(P),
                "rd_addr": In(addr_bits),
                "rd_data": Out(self.slot_bits).array(P),
                "count": Out(self.cnt_bits).array(2 * L, P),
                "nonzero": Out(1).array(2 * L, P),
                "clear": In(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        P, L = self.capacity.lanes, self.capacity.max_layers
        banks = self._banks(m)
        own_at = [Signal(bits_for(self.depth), name=f"own_at{j}") for j in range(P)]
        count = Array(Array(self.count[q][j] for j in range(P)) for q in range(2 * L))
        nonzero = Array(Array(self.nonzero[q][j] for j in range(P)) for q in range(2 * L))
        with m.If(self.wr_valid):
            for j, (wr, _) in enumerate(banks):
                at = Mux(self.wr_first, self.wr_qbase, own_at[j])
                spike = self.wr_spikes[j]
                with m.If(spike):
                    m.d.comb += [wr.addr.eq(at), wr.data.eq(self.wr_chunk), wr.en.eq(1)]
                cnt, nz = count[self.wr_queue][j], nonzero[self.wr_queue][j]
                m.d.sync += [own_at[j].eq(at + spike), cnt.eq(Mux(self.wr_first, 0, cnt) + spike),
                             nz.eq(spike | (~self.wr_first & nz))]  # fmt: skip
        with m.If(self.clear):  # after the write-back above: clear wins
            m.d.sync += [self.count[q][j].eq(0) for q in range(2 * L) for j in range(P)]
            m.d.sync += [self.nonzero[q][j].eq(0) for q in range(2 * L) for j in range(P)]
        return m

    def _banks(self, m):
        """One block RAM per lane (``qbank{j}``), read with the common address."""
        ports = []
        for j in range(self.capacity.lanes):
            qm = Memory(shape=unsigned(self.slot_bits), depth=self.depth, init=[])
            m.submodules[f"qbank{j}"] = qm
            wr, rd = qm.write_port(), qm.read_port()
            m.d.comb += [rd.addr.eq(self.rd_addr), self.rd_data[j].eq(rd.data)]
            ports.append((wr, rd))
        return ports
