"""The issue unit's walker: one queued event per cycle, with no bubbles.

A layer's chunk replays every event of the layer's sources. The events sit
in *segments*: an input group's event list, or one lane bank of a layer's
spike queue (``S`` sources x ``P`` banks). The set-up latches which
segments are non-empty (``mask``, bit ``s*P + j``) and how many entries
each holds (``counts``); the walker then visits the non-empty segments in
order, one entry per cycle. The next segment, the lowest of the *remaining*
ones, is picked in the cycle that issues the current segment's last entry,
so segments follow each other without a gap, and
``last`` tells the sequencer that this cycle's issue is the chunk's last,
so it can enter the next chunk in the same cycle (``enter`` wins over
``step``).

Each output is a register, or a pick over registers (the lowest set bit
as a one-hot, its segment's constants as ORs of its bits): no count or
queue memory is on the path into ``s``, ``j`` and ``k``.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Signal
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

    def _lowest(self, m: Module, x, is_one, name: str):
        """The lowest set bit of ``x``, one-hot (``x & -x``: a carry chain, no
        priority mux chain), and its segment's s, j and index as ORs of the
        one-hot's bits; its count by that index, and whether the count is 1
        as an AND-OR with ``is_one`` (each segment's ``count == 1``: the counts
        are stable for the chunk). The walker's critical path on the ULX3S (``rest``
        through a priority encoder, a count mux and a compare into
        ``at_end``) is then a carry chain and a few LUT levels."""
        S, P = self.sources, self.lanes
        n = S * P
        oh = Signal(n, name=f"{name}_oh")
        m.d.comb += oh.eq(x & (~x + 1))

        def pick(values: list[int], width: int):
            """The one-hot's segment's constant: bit b is the OR of the one-hot
            bits of the segments whose ``values`` have bit b set."""
            return Cat(*[Cat(*[oh[i] for i in range(n) if values[i] >> b & 1]).any() for b in range(width)])

        s_o = Signal(range(max(2, S)), name=f"{name}_s")
        j_o = Signal(range(max(2, P)), name=f"{name}_j")
        seg = Signal(range(max(2, n)), name=f"{name}_seg")
        one = Signal(name=f"{name}_one")
        m.d.comb += [
            s_o.eq(pick([i // P for i in range(n)], len(s_o))),
            j_o.eq(pick([i % P for i in range(n)], len(j_o))),
            seg.eq(pick(list(range(n)), len(seg))),
            one.eq((oh & is_one).any()),
        ]
        # the count by the binary index: a wide core's many segments make an
        # AND-OR over every count bit larger than this mux (Yosys xc7, P = 32)
        return x.any(), s_o, j_o, Array(self.counts)[seg], one, x & ~oh

    def elaborate(self, platform):
        m = Module()
        cnt = Signal(self.count_bits)  # entries of the current segment
        rest = Signal(len(self.mask))  # non-empty segments not yet visited
        # "entry k is its segment's last", kept as a register (computed with
        # the move to k), so ``last`` is a register and an OR, not a compare:
        # the sequencer's chunk-end decision hangs off it
        at_end = Signal()

        def go(low):
            """Issue the lowest segment of the set ``low`` was picked from, from its entry 0."""
            _, s, j, count, one, others = low
            m.d.sync += [self.s.eq(s), self.j.eq(j), self.k.eq(0), cnt.eq(count), rest.eq(others), at_end.eq(one)]

        is_one = Cat(*[c == 1 for c in self.counts])  # one compare per segment, shared by both picks
        first = self._lowest(m, self.mask, is_one, "first")
        nxt = self._lowest(m, rest, is_one, "next")
        first_any, next_any = first[0], nxt[0]
        m.d.comb += [self.any.eq(first_any), self.last.eq(at_end & ~next_any)]
        with m.If(self.enter):
            go(first)
        with m.Elif(self.step):
            with m.If(~at_end):
                m.d.sync += [self.k.eq(self.k + 1), at_end.eq(self.k + 2 == cnt)]
            with m.Else():
                go(nxt)
        return m
