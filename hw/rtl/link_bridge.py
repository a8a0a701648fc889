"""The frame engine: :mod:`hw.spec.link` frames in, AXI4-Lite and AXI4-Stream out.

:class:`LinkBridge` sits between a byte stream (the UART, :mod:`hw.rtl.uart`)
and the core's three buses. It only wires three blocks and two memories:

* :class:`~hw.rtl.link_rx.FrameReceiver` takes a whole frame into the
  payload memory while running the CRC, and passes it on only once the CRC
  has matched, so a corrupted, truncated, oversize or unexpected frame
  changes nothing: it is answered with an ``ERROR`` frame;
* :class:`~hw.rtl.link_commands.CommandDecoder` acts on it:

  * ``READ`` / ``WRITE``: one AXI4-Lite transaction on ``m_axil``;
  * ``WORDS`` / ``EVENTS`` (``_LAST``): the payload's words into the core's
    ``s_axis`` (``m_axis`` here), TLAST on the last one for ``_LAST``; if the
    core takes no word for ``stall_cycles`` the push stops and a ``STALL``
    error says how many words it took;
  * ``INFO``: the link version, payload limit and FIFO depth;

* :class:`~hw.rtl.link_tx.ResultFramer` sends the one reply, and answers
  ``RECV`` / ``FLUSH`` from (or empties) the result FIFO that the core's
  ``m_axis`` (``s_axis`` here) fills, TLAST kept beside every word.

One request is handled at a time and every request gets exactly one reply
(stop-and-wait), so the host always knows what was applied.

Latency: a request is acted on in the 3rd cycle after its last CRC byte; each
stream word takes 2 cycles plus the core's backpressure; the reply starts 2
cycles after the action ends (4 for ``RECV``). The UART, 40+ cycles per
byte, is the bottleneck by far.
"""

from __future__ import annotations

from amaranth import Cat, Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.rtl.axi import AXI4LiteSignature, AXIStreamSignature
from hw.rtl.link_commands import CommandDecoder
from hw.rtl.link_rx import FrameReceiver, crc16_next
from hw.rtl.link_tx import ResultFramer
from hw.spec import link

__all__ = ["LinkBridge", "crc16_next"]


class LinkBridge(wiring.Component):
    """Frames (:mod:`hw.spec.link`) on a byte stream <-> the core's AXI buses.

    Parameters
    ----------
    addr_bits : int
        Width of the core's AXI4-Lite addresses (the frame carries 32 bits;
        the low ``addr_bits`` are used).
    timeout_cycles : int
        Inter-byte timeout: a frame whose next byte does not come within
        this many cycles is dropped as ``TRUNCATED``; bytes outside a frame
        are swallowed until the line is this quiet.
    stall_cycles : int
        How long a stream push waits for the core to take a word.
    fifo_depth : int
        Result words the bridge holds for ``RECV`` (a whole record at least).
    max_payload : int
        Payload memory, in bytes (:data:`hw.spec.link.MAX_PAYLOAD` by default).

    Members
    -------
    rx : In(stream.Signature(8))
        Received bytes.
    tx : Out(stream.Signature(8))
        Bytes to send.
    m_axil : Out(AXI4LiteSignature(addr_bits))
        To the core's ``s_axil``.
    m_axis : Out(AXIStreamSignature(32))
        To the core's ``s_axis``.
    s_axis : In(AXIStreamSignature(32))
        From the core's ``m_axis``.
    """

    def __init__(self, addr_bits: int, *, timeout_cycles: int, stall_cycles: int, fifo_depth: int = 512, max_payload: int = link.MAX_PAYLOAD):
        for name, v, lo in (("timeout_cycles", timeout_cycles, 16), ("stall_cycles", stall_cycles, 16), ("fifo_depth", fifo_depth, 16)):
            if not isinstance(v, int) or v < lo:
                raise TypeError(f"LinkBridge {name} must be an integer >= {lo}, not {v!r}")
        if not isinstance(max_payload, int) or not 8 <= max_payload <= link.MAX_PAYLOAD or max_payload % 4:
            raise TypeError(f"LinkBridge max_payload must be a multiple of 4 in 8..{link.MAX_PAYLOAD}, not {max_payload!r}")
        self.addr_bits = addr_bits
        self.timeout_cycles = timeout_cycles
        self.stall_cycles = stall_cycles
        self.fifo_depth = fifo_depth
        self.max_payload = max_payload
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "m_axil": Out(AXI4LiteSignature(addr_bits)),
                "m_axis": Out(AXIStreamSignature(32)),
                "s_axis": In(AXIStreamSignature(32)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=32, depth=self.max_payload // 4, init=[])
        m.submodules.results = results = fifo.SyncFIFOBuffered(width=33, depth=self.fifo_depth)
        m.submodules.receiver = rx = FrameReceiver(timeout_cycles=self.timeout_cycles, max_payload=self.max_payload)
        m.submodules.decoder = dec = CommandDecoder(
            self.addr_bits, stall_cycles=self.stall_cycles, fifo_depth=self.fifo_depth, max_payload=self.max_payload
        )
        m.submodules.framer = framer = ResultFramer(fifo_depth=self.fifo_depth)
        wiring.connect(m, wiring.flipped(self.rx), rx.rx)
        wiring.connect(m, rx.wr, mem.write_port())
        wiring.connect(m, rx.o_frame, dec.i_frame)
        wiring.connect(m, dec.rd, mem.read_port())
        wiring.connect(m, dec.o_reply, framer.i_reply)
        wiring.connect(m, framer.tx, wiring.flipped(self.tx))
        wiring.connect(m, dec.m_axil, wiring.flipped(self.m_axil))
        wiring.connect(m, dec.m_axis, wiring.flipped(self.m_axis))
        m.d.comb += [
            results.w_data.eq(Cat(self.s_axis.tdata, self.s_axis.tlast)),
            results.w_en.eq(self.s_axis.tvalid),
            self.s_axis.tready.eq(results.w_rdy),
            framer.results.payload.eq(results.r_data),
            framer.results.valid.eq(results.r_rdy),
            results.r_en.eq(framer.results.ready),
            framer.level.eq(results.level),
        ]
        return m
