"""The link's frame receiver: bytes in, a checked frame (or an error) out.

:class:`FrameReceiver` is the first of the link bridge's three blocks
(:mod:`hw.rtl.link_bridge`). It takes the :mod:`hw.spec.link` framing off a
byte stream: ``SOF``, type, 16-bit length, payload, CRC-16. Payload bytes go
into the bridge's payload memory as little-endian 32-bit words while the
CRC runs; only once the whole frame is in and its CRC residue is zero does
it offer the frame on ``o_frame`` (type, length, ``error = 0``). Anything
else is offered as an error with the frame type seen so far: ``SYNC``
(bytes outside a frame, swallowed until the line is quiet for
``timeout_cycles``), ``TRUNCATED`` (a frame whose next byte does not come
within ``timeout_cycles``), ``OVERSIZE`` (a length over ``max_payload``;
its bytes are swallowed the same way) and ``CRC``.

While a frame is offered it takes no byte, so the payload memory holds the
frame until the command decoder (:mod:`hw.rtl.link_commands`) has taken it.

Latency: the frame (or error) is offered in the 2nd cycle after the one
that takes its last CRC byte (the cycle between tests the CRC residue);
every byte is taken in the cycle it is offered.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.spec import link

__all__ = ["FrameLayout", "FrameReceiver", "crc16_next"]

_POLY = 0x1021

#: A received frame: its type, payload length in bytes, and 0 or an ``ERR`` code.
FrameLayout = data.StructLayout({"ftype": 8, "length": 16, "error": 8})


def _crc16_matrix() -> list[int]:
    """For each bit of the next CRC register, the mask of the 24 inputs it is
    the XOR of (bits 0..15: the register, 16..23: the byte), found by running
    the bit-serial CRC symbolically over GF(2)."""
    c = [1 << i for i in range(16)]
    for i in range(8):
        fb = c[15] ^ (1 << (16 + 7 - i))
        shifted = [0] + c[:15]
        c = [b ^ (fb if (_POLY >> k) & 1 else 0) for k, b in enumerate(shifted)]
    return c


_CRC_MATRIX = _crc16_matrix()


def crc16_next(crc, byte):
    """The CRC-16/CCITT-FALSE register after shifting in ``byte`` (MSB first):
    16 XORs of at most 24 inputs each (a flat expression, not 8 chained steps)."""
    inputs = Cat(crc, byte)
    bits = []
    for mask in _CRC_MATRIX:
        terms = [inputs[k] for k in range(24) if (mask >> k) & 1]
        acc = terms[0]
        for t in terms[1:]:
            acc = acc ^ t
        bits.append(acc)
    return Cat(*bits)


def payload_addr_bits(max_payload: int) -> int:
    """Address width of a payload memory of ``max_payload`` bytes (32-bit words)."""
    return ceil_log2(max_payload // 4)


class FrameReceiver(wiring.Component):
    """Bytes -> payload memory + one checked frame descriptor.

    Parameters
    ----------
    timeout_cycles : int
        Inter-byte timeout (cycles), and the quiet time that ends a ``SYNC``
        or ``OVERSIZE`` skip.
    max_payload : int
        Payload memory in bytes; a longer frame is ``OVERSIZE``.

    Members
    -------
    rx : In(stream.Signature(8))
        Received bytes.
    wr : In(WritePort.Signature(...))
        The payload memory's write port (word ``i`` holds payload bytes
        ``4i..4i+3``, little-endian; a partial last word at the bottom).
    o_frame : Out(stream.Signature(FrameLayout))
        The frame (``error = 0``) or the error; held until taken.
    """

    def __init__(self, *, timeout_cycles: int, max_payload: int = link.MAX_PAYLOAD):
        self._MustUse__silence = True  # a rejected instance is not an unused one
        if not isinstance(timeout_cycles, int) or timeout_cycles < 16:
            raise TypeError(f"FrameReceiver timeout_cycles must be an integer >= 16, not {timeout_cycles!r}")
        if not isinstance(max_payload, int) or not 8 <= max_payload <= link.MAX_PAYLOAD or max_payload % 4:
            raise TypeError(f"FrameReceiver max_payload must be a multiple of 4 in 8..{link.MAX_PAYLOAD}, not {max_payload!r}")
        self._MustUse__silence = False
        self.timeout_cycles = timeout_cycles
        self.max_payload = max_payload
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "wr": In(WritePort.Signature(addr_width=payload_addr_bits(max_payload), shape=32)),
                "o_frame": Out(stream.Signature(FrameLayout)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        E = link.ERR
        rx, wr, out = self.rx, self.wr, self.o_frame.payload
        crc = Signal(16)
        count = Signal(16)  # header / payload / CRC byte counter
        word = Signal(32)  # payload bytes being assembled
        quiet = Signal(range(self.timeout_cycles + 1))
        timed_out = quiet == self.timeout_cycles
        m.d.comb += wr.data.eq(Cat(word[8:], rx.payload))

        def take_byte():
            """Accept a byte; count the quiet cycles while none comes."""
            m.d.comb += rx.ready.eq(1)
            with m.If(rx.valid):
                m.d.sync += [quiet.eq(0), crc.eq(crc16_next(crc, rx.payload)), count.eq(count + 1)]
            with m.Elif(~timed_out):
                m.d.sync += quiet.eq(quiet + 1)

        def offer(error):
            m.d.sync += out.error.eq(error)
            m.next = "OFFER"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [quiet.eq(0), crc.eq(0xFFFF), count.eq(0), out.ftype.eq(0)]
                    with m.If(rx.payload == link.SOF):
                        m.next = "HEADER"
                    with m.Else():
                        m.d.sync += out.error.eq(E["SYNC"])
                        m.next = "SKIP"
            with m.State("HEADER"):
                take_byte()
                with m.If(rx.valid):
                    with m.Switch(count):
                        with m.Case(0):
                            m.d.sync += out.ftype.eq(rx.payload)
                        with m.Case(1):
                            m.d.sync += out.length[:8].eq(rx.payload)
                        with m.Case(2):
                            n = Cat(out.length[:8], rx.payload)
                            m.d.sync += [out.length[8:].eq(rx.payload), count.eq(0)]
                            with m.If(n > self.max_payload):
                                m.d.sync += out.error.eq(E["OVERSIZE"])
                                m.next = "SKIP"
                            with m.Elif(n == 0):
                                m.next = "CRC"
                            with m.Else():
                                m.next = "PAYLOAD"
                with m.Elif(timed_out):
                    offer(E["TRUNCATED"])
            with m.State("PAYLOAD"):
                take_byte()
                with m.If(rx.valid):
                    m.d.sync += word.eq(Cat(word[8:], rx.payload))
                    last_byte = count == out.length - 1
                    # a word is written when its 4th byte (or the payload's last) arrives,
                    # shifted down so a partial last word's bytes sit at the bottom
                    m.d.comb += wr.addr.eq(count[2:])
                    with m.If(count[:2] == 3):
                        m.d.comb += wr.en.eq(1)
                    with m.Elif(last_byte):
                        m.d.comb += wr.en.eq(1)
                        with m.Switch(count[:2]):
                            with m.Case(0):
                                m.d.comb += wr.data.eq(rx.payload)
                            with m.Case(1):
                                m.d.comb += wr.data.eq(Cat(word[24:], rx.payload))
                            with m.Case(2):
                                m.d.comb += wr.data.eq(Cat(word[16:], rx.payload))
                    with m.If(last_byte):
                        m.d.sync += count.eq(0)
                        m.next = "CRC"
                with m.Elif(timed_out):
                    offer(E["TRUNCATED"])
            with m.State("CRC"):
                take_byte()
                with m.If(rx.valid & (count == 1)):
                    m.next = "CHECK"
                with m.Elif(~rx.valid & timed_out):
                    offer(E["TRUNCATED"])
            with m.State("CHECK"):
                offer(Mux(crc != 0, E["CRC"], 0))
            with m.State("SKIP"):
                # swallow bytes until the line is quiet, then report once
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += quiet.eq(0)
                with m.Elif(timed_out):
                    m.next = "OFFER"
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
            with m.State("OFFER"):
                m.d.comb += self.o_frame.valid.eq(1)
                with m.If(self.o_frame.ready):
                    m.next = "IDLE"
        return m
