"""8N1 UART receiver and transmitter as stream components.

The ULX3S's FT231X carries the host link (:mod:`hw.spec.link`); these two blocks
turn its RX/TX pins into byte streams.

Bit timing. The bit period is an exact ratio of clock cycles,
``period = num / den`` (:func:`hw.spec.ecp5_pll.uart_period`: 65 MHz at
3 Mbaud is 65/3 = 21.67 cycles), so the board's clock need not be a whole
multiple of the baud rate. :class:`BitTicker` places each bit edge on the
first cycle at or after its ideal time (a phase accumulator, the Bresenham
way): bits last 21 or 22 cycles, the average is exact, and no edge is more
than one cycle late however long the byte. A whole period (``den = 1``)
gives exactly the old fixed divisor.
"""

from fractions import Fraction

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "BitTicker", "check_period"]


def check_period(period) -> Fraction:
    """``period`` (cycles per bit: an int or a :class:`~fractions.Fraction`) as a Fraction >= 4."""
    if isinstance(period, bool) or not isinstance(period, (int, Fraction)) or period < 4:
        raise TypeError(f"UART bit period must be an int or Fraction of at least 4 clock cycles, not {period!r}")
    return Fraction(period)


class BitTicker(wiring.Component):
    """Pulses ``tick`` at the bit edges of a ``num / den``-cycle period.

    ``load`` starts a bit sequence: with ``load_half`` the first tick comes
    ``floor(num / 2) / den`` cycles later (rounded up to a cycle: the middle
    of a start bit), otherwise one period later; each later tick one period
    after the previous one's ideal time. Tick ``k`` (from 1) is on cycle
    ``ceil((offset + (k - 1) * num) / den)`` after the load, ``offset`` being
    ``num`` or ``floor(num / 2)``, so the k-th edge is less than one cycle
    behind its ideal time, for any k.

    Latency: ``tick`` is combinational from the accumulator (a register).

    Members
    -------
    load, load_half : In(1)
    tick : Out(1)
    """

    load: In(1)
    load_half: In(1)
    tick: Out(1)

    def __init__(self, period):
        self.period = check_period(period)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        num, den = self.period.numerator, self.period.denominator
        # the time left to the next edge at this cycle's start, in 1/den cycles;
        # it stays in 0..num (num >= 4 den), so no sign is needed
        left = Signal(range(num + 1))
        m.d.comb += self.tick.eq(left <= den)
        with m.If(self.load):
            m.d.sync += left.eq(num)
            with m.If(self.load_half):
                m.d.sync += left.eq(num // 2)
        with m.Elif(self.tick):
            m.d.sync += left.eq(left + (num - den))
        with m.Else():
            m.d.sync += left.eq(left - den)
        return m


class UARTRx(wiring.Component):
    """Receive 8N1 bytes from ``rx`` (asynchronous: two synchronising flip-flops).

    The start bit is checked at its middle, then each bit is sampled one bit
    period later (:class:`BitTicker`); a byte whose stop bit reads 0 (framing
    error, or a break) is dropped and ``framing_error`` pulses, and the
    receiver waits for the line to return high. A byte arrives ``o_stream``
    with ``valid`` until taken; if the next one completes before that, it is
    lost and ``overrun`` pulses (the link's CRC then rejects the frame).

    Parameters
    ----------
    period : int or Fraction
        Clock cycles per bit (:func:`hw.spec.ecp5_pll.uart_period`).

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

    def __init__(self, period):
        self.period = check_period(period)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.ticker = ticker = BitTicker(self.period)
        meta, rx = Signal(init=1), Signal(init=1)
        m.d.sync += [meta.eq(self.rx), rx.eq(meta)]
        bit = Signal(range(9))
        shreg = Signal(8)
        with m.If(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):  # a falling edge: sample the start bit at its middle
                    m.d.comb += [ticker.load.eq(1), ticker.load_half.eq(1)]
                    m.next = "START"
            with m.State("START"):
                with m.If(ticker.tick):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += bit.eq(0)
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(ticker.tick):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(ticker.tick):
                    with m.If(rx):
                        m.d.sync += [self.o_stream.payload.eq(shreg), self.o_stream.valid.eq(1)]
                        with m.If(self.o_stream.valid & ~self.o_stream.ready):
                            m.d.sync += self.overrun.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Send each byte of ``i_stream`` as 8N1 on ``tx`` (idle high).

    Parameters
    ----------
    period : int or Fraction
        Clock cycles per bit (:func:`hw.spec.ecp5_pll.uart_period`).

    Members
    -------
    i_stream : In(stream.Signature(8))
    tx : Out(1)
    """

    i_stream: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, period):
        self.period = check_period(period)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.ticker = ticker = BitTicker(self.period)
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        m.d.comb += self.tx.eq(shreg[0])
        m.d.comb += self.i_stream.ready.eq(bits == 0)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            m.d.sync += [shreg.eq(Cat(0, self.i_stream.payload, 1)), bits.eq(10)]
            m.d.comb += ticker.load.eq(1)
        with m.Elif((bits != 0) & ticker.tick):
            m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1)]
        return m
