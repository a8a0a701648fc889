"""The update tags: what a chunk's update needs, carried beside its data.

Why: a chunk's update (membrane read, LIF lanes, write-back) drains while
the next chunk, or the next layer, already issues. So everything the update
needs downstream (its membrane row, chunk index, lane count, layer, step
parity, whether its step is 0, whether it is its run's first chunk) travels
as a *tag* through a shift register, one stage per cycle, and every
consumer reads the stage it needs:

* stage :data:`~hw.spec.timing.UPDATE_READ_STAGE` (``upd``): the cycle of
  the chunk's last accumulate; its membranes and decays are read;
* the next stage (``lanes``): the chunk enters the LIF array;
* stage :data:`~hw.spec.timing.WRITE_BACK_STAGE` - 1 (``pre_wb``): its spike
  counts are read, and its queue's base is registered (``wb_qbase``);
* stage :data:`~hw.spec.timing.WRITE_BACK_STAGE` (``wb``): its membranes,
  counts and spikes are written back.

The tag given at ``i_tag`` in a cycle is stage 0 in the next
(:data:`~hw.spec.timing.TAG_ENTRY` = 1); ``i_tag.valid`` low is no chunk.

Latency: ``LATENCY`` = ``TAG_ENTRY + WRITE_BACK_STAGE`` = 9 cycles from
``i_tag`` to ``wb``; one tag may enter every cycle. ``abort`` (soft reset)
drops every tag in flight.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.spec import protocol, timing
from hw.spec.capacity import Capacity, require_capacity

__all__ = ["UpdateTags", "tag_layout"]


def tag_layout(capacity: Capacity) -> data.StructLayout:
    """The tag of one chunk's update for ``capacity``."""
    P, L = capacity.lanes, capacity.max_layers
    return data.StructLayout(
        {
            "valid": 1,
            "maddr": bits_for(protocol.membrane_depth(capacity)),  # its membrane row
            "c": bits_for(protocol.queue_depth(capacity)),  # its chunk index in the run
            "lanes": bits_for(P),  # neurons in the chunk (P but in a layer's last)
            "layer": bits_for(L),
            "par": 1,  # its step's parity: the buffer of its queue it writes
            "zero": 1,  # its step is 0: membranes and counts read as 0
            "first": 1,  # its run's first chunk: the queue restarts
            "last": 1,  # its run's last chunk (the exit monitor's step ends there)
            "ro": 1,  # its layer is the readout (the exit monitor watches it)
        }
    )


class UpdateTags(wiring.Component):
    """A shift register of chunk tags, read at the stages that need them.

    Parameters
    ----------
    capacity : Capacity
        Sets the tag's field widths (:func:`tag_layout`).

    Members
    -------
    i_tag : In(tag_layout(capacity))
        The tag of a chunk whose last issue is this cycle.
    abort : In(1)
        Soft reset: every tag in flight is dropped.
    upd, lanes, pre_wb, wb : Out(tag_layout(capacity))
        The tags at stages ``UPDATE_READ_STAGE``, ``+ 1``,
        ``WRITE_BACK_STAGE - 1`` and ``WRITE_BACK_STAGE``.
    wb_qbase : Out
        ``(layer * 2 + par) * queue_depth`` of ``wb``'s tag, registered from
        ``pre_wb`` (the written queue's base: no multiplier before the write).
    """

    LATENCY = timing.TAG_ENTRY + timing.WRITE_BACK_STAGE

    def __init__(self, capacity: Capacity):
        self.capacity = require_capacity(self, capacity)
        layout = tag_layout(capacity)
        self.queue_depth = protocol.queue_depth(capacity)
        super().__init__(
            {
                "i_tag": In(layout),
                "abort": In(1),
                "upd": Out(layout),
                "lanes": Out(layout),
                "pre_wb": Out(layout),
                "wb": Out(layout),
                "wb_qbase": Out(bits_for(2 * capacity.max_layers * self.queue_depth)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        layout = tag_layout(self.capacity)
        WBS = timing.WRITE_BACK_STAGE
        up = timing.UPDATE_READ_STAGE
        # the read stages are the output ports themselves (no copies)
        ports = {up: self.upd, up + 1: self.lanes, WBS - 1: self.pre_wb, WBS: self.wb}
        stages = [ports[i] if i in ports else Signal(layout, name=f"upd_tag{i}") for i in range(WBS + 1)]
        m.d.sync += stages[0].eq(self.i_tag)
        for a, b in zip(stages, stages[1:]):
            m.d.sync += b.eq(a)
        with m.If(self.abort):
            m.d.sync += [s.valid.eq(0) for s in stages]
        pre = stages[WBS - 1]
        m.d.sync += self.wb_qbase.eq(Cat(pre.par, pre.layer) * self.queue_depth)
        return m
