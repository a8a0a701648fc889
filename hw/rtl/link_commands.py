"""The link's command decoder: a checked frame in, bus transactions and a reply out.

:class:`CommandDecoder` is the middle block of the link bridge
(:mod:`hw.rtl.link_bridge`). It takes one frame from the frame receiver
(:mod:`hw.rtl.link_rx`), reads its payload from the payload memory, acts on
it, and hands exactly one reply to the result framer (:mod:`hw.rtl.link_tx`):

* a receiver error: an ``ERROR`` reply (code, frame type, detail 0);
* ``READ`` / ``WRITE``: one AXI4-Lite transaction on ``m_axil``;
* ``WORDS`` / ``EVENTS`` (``_LAST``): the payload's words (or halfwords,
  ``EVENT_MARKER`` widened to bit 31) into ``m_axis``, TLAST on the last one
  for ``_LAST``; if the core takes no word for ``stall_cycles``, a ``STALL``
  error with the number of words taken;
* ``RECV`` / ``FLUSH``: passed to the framer, which owns the result FIFO;
* ``INFO``: the link version, payload limit and result FIFO depth;
* a wrong length (an empty push included): ``LENGTH``; an unknown type: ``TYPE``.

It takes the next frame only once its reply has been taken, so the payload
memory is never overwritten under it (stop-and-wait).

Latency: dispatch 1 cycle after the frame is taken; each stream word takes
2 cycles plus the core's backpressure; the reply is offered in the cycle
after the action ends.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from hw.rtl.axi import AXI4LiteSignature, AXIStreamSignature
from hw.rtl.link_rx import FrameLayout, payload_addr_bits
from hw.spec import link

__all__ = ["CommandDecoder", "ReplyKind", "ReplyLayout"]


class ReplyKind(enum.Enum, shape=2):
    """What the framer sends: ``FIXED`` (type, ``length`` <= 8 bytes of ``body``),
    ``RESULTS`` (up to ``length`` result FIFO entries) or ``FLUSH`` (empty the
    FIFO, then ``ACK`` with the count)."""

    FIXED = 0
    RESULTS = 1
    FLUSH = 2


#: One reply for the result framer.
ReplyLayout = data.StructLayout({"kind": ReplyKind, "rtype": 8, "length": 16, "body": 64})


class CommandDecoder(wiring.Component):
    """Frame descriptor + payload memory -> AXI transactions + one reply.

    Parameters
    ----------
    addr_bits : int
        Width of the core's AXI4-Lite addresses.
    stall_cycles : int
        How long a stream push waits for the core to take a word.
    fifo_depth : int
        The result FIFO's depth (reported by ``INFO``).
    max_payload : int
        The payload memory in bytes (reported by ``INFO``).

    Members
    -------
    i_frame : In(stream.Signature(FrameLayout))
        From the frame receiver.
    rd : In(ReadPort.Signature(...))
        The payload memory's (synchronous) read port.
    m_axil : Out(AXI4LiteSignature(addr_bits))
        To the core's ``s_axil``.
    m_axis : Out(AXIStreamSignature(32))
        To the core's ``s_axis``.
    o_reply : Out(stream.Signature(ReplyLayout))
        To the result framer.
    """

    def __init__(self, addr_bits: int, *, stall_cycles: int, fifo_depth: int, max_payload: int = link.MAX_PAYLOAD):
        if not isinstance(stall_cycles, int) or stall_cycles < 16:
            raise TypeError(f"CommandDecoder stall_cycles must be an integer >= 16, not {stall_cycles!r}")
        self.addr_bits = addr_bits
        self.stall_cycles = stall_cycles
        self.fifo_depth = fifo_depth
        self.max_payload = max_payload
        super().__init__(
            {
                "i_frame": In(stream.Signature(FrameLayout)),
                "rd": In(ReadPort.Signature(addr_width=payload_addr_bits(max_payload), shape=32)),
                "m_axil": Out(AXI4LiteSignature(addr_bits)),
                "m_axis": Out(AXIStreamSignature(32)),
                "o_reply": Out(stream.Signature(ReplyLayout)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        R, P, E = link.REQUESTS, link.REPLIES, link.ERR
        rd, axil, axis, rep = self.rd, self.m_axil, self.m_axis, self.o_reply.payload
        ftype = Signal(8)
        length = Signal(16)
        idx = Signal(16)  # stream word / halfword being pushed; 0 between frames
        n_items = Signal(16)
        stall = Signal(range(self.stall_cycles + 1))
        m.d.comb += [axil.wstrb.eq(0xF), rd.en.eq(1)]

        def reply(kind, rtype=0, nbytes=0, body=0):
            m.d.sync += [rep.kind.eq(kind), rep.rtype.eq(rtype), rep.length.eq(nbytes), rep.body.eq(body)]
            m.next = "REPLY"

        def fixed(rtype, nbytes, body):
            reply(ReplyKind.FIXED, rtype, nbytes, body)

        def error(code, detail=0):
            fixed(P["ERROR"], 4, Cat(Const(code, 8), ftype, Const(detail, 16) if isinstance(detail, int) else detail))

        is_events = (ftype == R["EVENTS"]) | (ftype == R["EVENTS_LAST"])
        is_last = (ftype == R["WORDS_LAST"]) | (ftype == R["EVENTS_LAST"])
        # no payload word goes from the block RAM's output into logic: IDLE registers
        # word 0 for DISPATCH; PUSH_READ registers each pushed word (read one
        # cycle ahead, see rd.addr below) and PUSH selects and expands it there
        word_q = Signal(32)
        primed = Signal()  # a cycle after reset: rd.data holds word 0 from then on in IDLE
        m.d.sync += primed.eq(1)
        half = Mux(idx[0], word_q[16:], word_q[:16])
        event_word = Mux(half == link.EVENT_MARKER, Const(1 << 31, 32), half)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                # rd.addr is 0 here: word 0 of the payload (long written: the frame is
                # offered only after its CRC) is registered for DISPATCH
                m.d.sync += word_q.eq(rd.data)
                m.d.comb += self.i_frame.ready.eq(primed)
                with m.If(self.i_frame.valid & primed):
                    f = self.i_frame.payload
                    m.d.sync += [ftype.eq(f.ftype), length.eq(f.length)]
                    with m.If(f.error != 0):
                        m.d.sync += [rep.kind.eq(ReplyKind.FIXED), rep.rtype.eq(P["ERROR"]), rep.length.eq(4),
                                     rep.body.eq(Cat(f.error, f.ftype, Const(0, 16)))]  # fmt: skip
                        m.next = "REPLY"
                    with m.Else():
                        m.next = "DISPATCH"
            with m.State("DISPATCH"):
                m.d.sync += [idx.eq(0), stall.eq(0)]
                with m.Switch(ftype):
                    with m.Case(R["READ"]):
                        with m.If(length == 4):
                            m.d.sync += [axil.araddr.eq(word_q), axil.arvalid.eq(1)]
                            m.next = "AXI_AR"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["WRITE"]):
                        with m.If(length == 8):
                            m.d.sync += [axil.awaddr.eq(word_q), idx.eq(1)]
                            m.next = "WRITE_WAIT"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["WORDS"], R["WORDS_LAST"]):
                        with m.If((length[:2] == 0) & (length != 0)):
                            m.d.sync += n_items.eq(length[2:])
                            m.next = "PUSH_READ"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["EVENTS"], R["EVENTS_LAST"]):
                        with m.If((length[0] == 0) & (length != 0)):
                            m.d.sync += n_items.eq(length[1:])
                            m.next = "PUSH_READ"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["RECV"]):
                        with m.If(length == 2):
                            reply(ReplyKind.RESULTS, P["RESULT"], word_q[:16])
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["FLUSH"]):
                        with m.If(length == 0):
                            reply(ReplyKind.FLUSH, P["ACK"])
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["INFO"]):
                        with m.If(length == 0):
                            fixed(P["INFO"], 5, Cat(Const(link.VERSION, 8), Const(self.max_payload, 16), Const(self.fifo_depth, 16)))
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Default():
                        error(E["TYPE"])
            with m.State("AXI_AR"):
                with m.If(axil.arready):
                    m.d.sync += [axil.arvalid.eq(0), axil.rready.eq(1)]
                    m.next = "AXI_R"
            with m.State("AXI_R"):
                with m.If(axil.rvalid):
                    m.d.sync += axil.rready.eq(0)
                    fixed(P["READ_DATA"], 5, Cat(axil.rdata, axil.rresp, Const(0, 6)))
            with m.State("WRITE_WAIT"):
                # rd.addr = idx = 1 from here: the data word is on rd.data next cycle
                m.next = "WRITE_DATA"
            with m.State("WRITE_DATA"):
                m.d.sync += [axil.wdata.eq(rd.data), axil.awvalid.eq(1), axil.wvalid.eq(1)]
                m.next = "AXI_W"
            with m.State("AXI_W"):
                with m.If(axil.awready):
                    m.d.sync += axil.awvalid.eq(0)
                with m.If(axil.wready):
                    m.d.sync += axil.wvalid.eq(0)
                with m.If((~axil.awvalid | axil.awready) & (~axil.wvalid | axil.wready)):
                    m.d.sync += [axil.awvalid.eq(0), axil.wvalid.eq(0), axil.bready.eq(1)]
                    m.next = "AXI_B"
            with m.State("AXI_B"):
                with m.If(axil.bvalid):
                    m.d.sync += axil.bready.eq(0)
                    fixed(P["WRITE_DONE"], 1, axil.bresp)
            with m.State("PUSH_READ"):
                # the word (or halfword's word) at idx is on rd.data: its address went
                # out a cycle ahead (DISPATCH: word 0; PUSH: the next index)
                m.d.sync += word_q.eq(rd.data)
                m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += [
                    axis.tvalid.eq(1),
                    axis.tdata.eq(Mux(is_events, event_word, word_q)),
                    axis.tlast.eq(is_last & (idx == n_items - 1)),
                ]
                with m.If(axis.tready):
                    m.d.sync += [idx.eq(idx + 1), stall.eq(0)]
                    with m.If(idx == n_items - 1):
                        fixed(P["ACK"], 2, n_items)
                    with m.Else():
                        m.next = "PUSH_READ"
                with m.Elif(stall == self.stall_cycles):
                    error(E["STALL"], idx)
                with m.Else():
                    m.d.sync += stall.eq(stall + 1)
            with m.State("REPLY"):
                m.d.comb += self.o_reply.valid.eq(1)
                with m.If(self.o_reply.ready):
                    m.d.sync += idx.eq(0)
                    m.next = "IDLE"

        # read address: word 0 in REPLY and IDLE (IDLE's every cycle holds word 0), the
        # data word for WRITE; while pushing, the next index (PUSH_READ registers it)
        at = Signal(16)
        m.d.comb += [at.eq(Mux(fsm.ongoing("PUSH"), idx + 1, Mux(fsm.ongoing("REPLY"), 0, idx))),
                     rd.addr.eq(Mux(is_events, at[1:], at))]  # fmt: skip
        return m
