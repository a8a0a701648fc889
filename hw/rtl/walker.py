"""The issue unit's walker: one queued event per cycle, with no bubbles.

A layer's chunk replays every event of the layer's sources. The events sit
in *segments*: an input group's event list, or one lane bank of a layer's
spike queue (``S`` sources x ``P`` banks). The set-up latches which
segments are non-empty (``mask``, bit ``s*P + j``) and how many entries
each holds (``counts``); the walker then visits the non-empty segments in
order, one entry per cycle. The next segment is picked by a priority
encoder over the *remaining* mask in the cycle that issues the current
segment's last entry, so segments follow each other without a gap, and
``last`` tells the sequencer that this cycle's issue is the chunk's last,
so it can enter the next chunk in the same cycle (``enter`` wins over
``step``).

Each output is a register, or a priority encoder over registers: no count
or queue memory is on the path into ``s``, ``j`` and ``k``.
"""

from __future__ import annotations

from amaranth import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SegmentWalker"]


class SegmentWalker(wiring.Component):
    """Walks the non-empty segments of a chunk, one entry per cycle.

    Parameters
    ----------
    sources, lanes : int
        ``S`` and ``P``: segment ``s*P + j`` is source ``s``, lane bank ``j``.
    count_bits : int
        Width of a segment's entry count.

    Members
    -------
    mask : In(S*P)
        Non-empty segments (stable from ``enter`` to the chunk's last issue).
    counts : In(count_bits).array(S*P)
        Entries per segment (stable likewise).
    enter : In(1)
        Start a chunk: the first entry of the lowest non-empty segment is
        issued from the next cycle. Wins over ``step``.
    step : In(1)
        The current entry was issued: move to the next.
    any : Out(1)
        ``mask`` has a non-empty segment (combinational: whether the chunk
        ``enter`` starts has any event).
    s, j, k : Out
        The entry being issued: source, lane bank and index in the segment.
    last : Out(1)
        The entry being issued is the chunk's last.
    """

    def __init__(self, sources: int, lanes: int, count_bits: int):
        for name, v in (("sources", sources), ("lanes", lanes), ("count_bits", count_bits)):
            if not isinstance(v, int) or v < 1:
                raise TypeError(f"SegmentWalker {name} must be a positive integer, not {v!r}")
        self.sources, self.lanes, self.count_bits = sources, lanes, count_bits
        n = sources * lanes
        super().__init__(
            {
                "mask": In(n),
                "counts": In(count_bits).array(n),
                "enter": In(1),
                "step": In(1),
                "any": Out(1),
                "s": Out(range(max(2, sources))),
                "j": Out(range(max(2, lanes))),
                "k": Out(count_bits),
                "last": Out(1),
            }
        )

    def _lowest(self, m: Module, x, name: str):
        """(any, s, j, s*P + j) of the lowest set bit of ``x`` (a priority
        encoder with constant outputs per bit: no divider for s and j)."""
        S, P = self.sources, self.lanes
        s_o = Signal(range(max(2, S)), name=f"{name}_s")
        j_o = Signal(range(max(2, P)), name=f"{name}_j")
        seg = Signal(range(max(2, S * P)), name=f"{name}_seg")
        for i in reversed(range(S * P)):
            with m.If(x[i]):
                m.d.comb += [s_o.eq(i // P), j_o.eq(i % P), seg.eq(i)]
        return x.any(), s_o, j_o, seg

    def elaborate(self, platform):
        m = Module()
        counts = Array(self.counts)
        cnt = Signal(self.count_bits)  # entries of the current segment
        rest = Signal(len(self.mask))  # non-empty segments not yet visited
        # "entry k is its segment's last", kept as a register (computed with
        # the move to k), so ``last`` is a register and an OR, not a compare:
        # the sequencer's chunk-end decision hangs off it
        at_end = Signal()

        def go(x, low):
            """Issue the lowest segment of ``x`` from its entry 0."""
            _, s, j, seg = low
            m.d.sync += [self.s.eq(s), self.j.eq(j), self.k.eq(0), cnt.eq(counts[seg]), rest.eq(x & (x - 1)),
                         at_end.eq(counts[seg] == 1)]  # fmt: skip

        first = self._lowest(m, self.mask, "first")
        nxt = self._lowest(m, rest, "next")
        first_any, next_any = first[0], nxt[0]
        m.d.comb += [self.any.eq(first_any), self.last.eq(at_end & ~next_any)]
        with m.If(self.enter):
            go(self.mask, first)
        with m.Elif(self.step):
            with m.If(~at_end):
                m.d.sync += [self.k.eq(self.k + 1), at_end.eq(self.k + 2 == cnt)]
            with m.Else():
                go(rest, nxt)
        return m
