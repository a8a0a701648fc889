"""8N1 UART receiver and transmitter as stream components.

The ULX3S's FT231X carries the host link (:mod:`hw.spec.link`); these two blocks
turn its RX/TX pins into byte streams. The bit period is a whole number of
clock cycles (``divisor``; :func:`hw.spec.boards` checks that the board's clock
and baud rate give one within 2 %).
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "check_divisor"]


def check_divisor(divisor) -> int:
    if not isinstance(divisor, int) or divisor < 4:
        raise TypeError(f"UART divisor (clock cycles per bit) must be an integer >= 4, not {divisor!r}")
    return divisor


class UARTRx(wiring.Component):
    """Receive 8N1 bytes from ``rx`` (asynchronous: two synchronising flip-flops).

    The start bit is checked at its middle, then each bit is sampled
    ``divisor`` cycles apart; a byte whose stop bit reads 0 (framing error,
    or a break) is dropped and ``framing_error`` pulses, and the receiver
    waits for the line to return high. A byte arrives ``o_stream`` with
    ``valid`` until taken; if the next one completes before that, it is lost
    and ``overrun`` pulses (the link's CRC then rejects the frame).

    Members
    -------
    rx : In(1)
    o_stream : Out(stream.Signature(8))
    framing_error, overrun : Out(1)
    """

    rx: In(1, init=1)
    o_stream: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        meta, rx = Signal(init=1), Signal(init=1)
        m.d.sync += [meta.eq(self.rx), rx.eq(meta)]
        count = Signal(range(2 * d))
        bit = Signal(range(9))
        shreg = Signal(8)
        with m.If(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += count.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(count == 0):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [count.eq(d - 1), bit.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("DATA"):
                with m.If(count == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), count.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("STOP"):
                with m.If(count == 0):
                    with m.If(rx):
                        m.d.sync += [self.o_stream.payload.eq(shreg), self.o_stream.valid.eq(1)]
                        with m.If(self.o_stream.valid & ~self.o_stream.ready):
                            m.d.sync += self.overrun.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += count.eq(count - 1)
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Send each byte of ``i_stream`` as 8N1 on ``tx`` (idle high).

    Members
    -------
    i_stream : In(stream.Signature(8))
    tx : Out(1)
    """

    i_stream: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        count = Signal(range(d))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        m.d.comb += self.tx.eq(shreg[0])
        m.d.comb += self.i_stream.ready.eq(bits == 0)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            m.d.sync += [shreg.eq(Cat(0, self.i_stream.payload, 1)), bits.eq(10), count.eq(d - 1)]
        with m.Elif(bits != 0):
            with m.If(count == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1), count.eq(d - 1)]
            with m.Else():
                m.d.sync += count.eq(count - 1)
        return m
