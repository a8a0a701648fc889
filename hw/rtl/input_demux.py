"""The input demultiplexer: one AXI4-Stream of words to the loader or the event input.

The core's ``s_axis`` carries model images (while loading) and AER event
words (while running), :mod:`hw.spec.protocol`. One registered word sits in
front of both consumers, so no consumer's logic starts at the bus: the bus
is ready when the selected consumer can take a word and the register is
free or being taken. ``load`` picks the consumer: the model loader
(:class:`hw.rtl.loader.ModelLoader`) while high, the event input
(:class:`hw.rtl.event_input.EventInput`) while low. Each output is a
``lib.stream`` joined to its consumer with ``wiring.connect``.

Latency: ``LATENCY`` = :data:`hw.spec.timing.INPUT_WORD` = 1 cycle from the
bus handshake to the word's ``valid`` at the consumer; with a consumer
always ready, one word per cycle.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.rtl.axi import STREAM_WORD, AXIStreamSignature
from hw.spec import timing

__all__ = ["InputDemux"]


class InputDemux(wiring.Component):
    """One registered input word, handed to the loader or the event input.

    Members
    -------
    s_axis : In(AXIStreamSignature(32))
        Model images and event words.
    load : In(1)
        The loader takes the words (the core is loading a model); otherwise
        the event input does.
    o_load : Out(stream.Signature(STREAM_WORD))
        Words to the loader; ``valid`` only while ``load``.
    o_events : Out(stream.Signature(STREAM_WORD))
        Words to the event input; ``valid`` only while not ``load``.
    """

    LATENCY = timing.INPUT_WORD

    def __init__(self):
        super().__init__(
            {
                "s_axis": In(AXIStreamSignature(32)),
                "load": In(1),
                "o_load": Out(stream.Signature(STREAM_WORD)),
                "o_events": Out(stream.Signature(STREAM_WORD)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        bus, ld, ev = self.s_axis, self.o_load, self.o_events
        full = Signal()  # the word register holds a word
        word = Signal(STREAM_WORD)
        take = Signal()  # the selected consumer takes the word this cycle
        consuming = Signal()  # a consumer could take a word
        m.d.comb += [
            consuming.eq(self.load | ev.ready),
            take.eq(Mux(self.load, ld.ready, ev.ready)),
            bus.tready.eq(consuming & (~full | take)),
            ld.payload.eq(word),
            ev.payload.eq(word),
            ld.valid.eq(full & self.load),
            ev.valid.eq(full & ~self.load),
        ]
        with m.If(bus.tvalid & bus.tready):
            m.d.sync += [full.eq(1), word.data.eq(bus.tdata), word.last.eq(bus.tlast)]
        with m.Elif(full & take):
            m.d.sync += full.eq(0)
        return m
