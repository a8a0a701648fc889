"""The link's result framer: a reply in, its frame's bytes out.

:class:`ResultFramer` is the last block of the link bridge
(:mod:`hw.rtl.link_bridge`). It takes one reply from the command decoder
(:mod:`hw.rtl.link_commands`) and sends it as a :mod:`hw.spec.link` frame:
``SOF``, type, 16-bit length, body, CRC-16 (high byte first). The body is

* ``FIXED``: up to 8 bytes given with the reply;
* ``RESULTS``: ``k = min(FIFO level, asked, MAX_RESULT_WORDS)`` entries of
  the result FIFO (``results``, which the core's ``m_axis`` fills), each the
  32-bit word little-endian and a TLAST byte;
* ``FLUSH``: the FIFO is emptied first; the reply is ``ACK`` with the count.

``k`` is latched one cycle before the frame's length ``5 k`` (two register
stages between the FIFO's level and the length, kept off the byte path).

Latency: ``SOF`` is offered 1 cycle after a ``FIXED`` reply is taken
(3 for ``RESULTS``, and 1 + the FIFO's words for ``FLUSH``); one byte per
cycle that ``tx`` is ready, plus 1 cycle per result entry fetched.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.rtl.link_commands import ReplyKind, ReplyLayout
from hw.rtl.link_rx import crc16_next
from hw.spec import link

__all__ = ["ResultFramer"]


class ResultFramer(wiring.Component):
    """Reply -> frame bytes, with the result FIFO's entries for ``RESULTS``.

    Parameters
    ----------
    fifo_depth : int
        The result FIFO's depth (the width of ``level``).

    Members
    -------
    i_reply : In(stream.Signature(ReplyLayout))
        From the command decoder.
    results : In(stream.Signature(33))
        The result FIFO's read side: the core's word and TLAST (bit 32).
    level : In(range(fifo_depth + 1))
        The result FIFO's fill level.
    tx : Out(stream.Signature(8))
        Bytes to send.
    """

    def __init__(self, *, fifo_depth: int):
        if not isinstance(fifo_depth, int) or fifo_depth < 16:
            raise TypeError(f"ResultFramer fifo_depth must be an integer >= 16, not {fifo_depth!r}")
        self.fifo_depth = fifo_depth
        super().__init__(
            {
                "i_reply": In(stream.Signature(ReplyLayout)),
                "results": In(stream.Signature(33)),
                "level": In(range(fifo_depth + 1)),
                "tx": Out(stream.Signature(8)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        tx, req = self.tx, self.i_reply.payload
        r_type = Signal(8)
        r_len = Signal(16)
        r_fixed = Signal(64)
        r_fixed_n = Signal(4)
        r_sh = Signal(40)  # one result entry being sent
        r_sh_n = Signal(3)
        max_w = Signal(16)
        k = Signal(range(link.MAX_RESULT_WORDS + 1))
        res_left = Signal(range(link.MAX_RESULT_WORDS + 1))
        flushed = Signal(16)
        tx_crc = Signal(16)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i_reply.ready.eq(1)
                with m.If(self.i_reply.valid):
                    m.d.sync += [r_type.eq(req.rtype), r_len.eq(req.length), r_fixed.eq(req.body), r_fixed_n.eq(req.length),
                                 max_w.eq(req.length), res_left.eq(0), flushed.eq(0)]  # fmt: skip
                    with m.Switch(req.kind):
                        with m.Case(ReplyKind.FIXED):
                            m.next = "TX_SOF"
                        with m.Case(ReplyKind.RESULTS):
                            m.next = "COUNT"
                        with m.Case(ReplyKind.FLUSH):
                            m.next = "FLUSH"
            with m.State("COUNT"):
                level = self.level
                lim = Mux(max_w > link.MAX_RESULT_WORDS, link.MAX_RESULT_WORDS, max_w)
                m.d.sync += [k.eq(Mux(level < lim, level, lim)), r_fixed_n.eq(0)]
                m.next = "LENGTH"
            with m.State("LENGTH"):
                m.d.sync += [res_left.eq(k), r_len.eq(k * link.RESULT_ENTRY_BYTES)]
                m.next = "TX_SOF"
            with m.State("FLUSH"):
                m.d.comb += self.results.ready.eq(1)
                with m.If(self.results.valid):
                    m.d.sync += flushed.eq(flushed + 1)
                with m.Else():
                    m.d.sync += [r_len.eq(2), r_fixed.eq(flushed), r_fixed_n.eq(2)]
                    m.next = "TX_SOF"

            def send(value, nxt):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
                with m.If(tx.ready):
                    m.d.sync += tx_crc.eq(crc16_next(tx_crc, value))
                    m.next = nxt

            with m.State("TX_SOF"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(link.SOF)]
                with m.If(tx.ready):
                    m.d.sync += [tx_crc.eq(0xFFFF), r_sh_n.eq(0)]
                    m.next = "TX_TYPE"
            with m.State("TX_TYPE"):
                send(r_type, "TX_LEN0")
            with m.State("TX_LEN0"):
                send(r_len[:8], "TX_LEN1")
            with m.State("TX_LEN1"):
                send(r_len[8:], "TX_BODY")
            with m.State("TX_BODY"):
                with m.If(r_fixed_n != 0):
                    send(r_fixed[:8], "TX_BODY")
                    with m.If(tx.ready):
                        m.d.sync += [r_fixed.eq(r_fixed >> 8), r_fixed_n.eq(r_fixed_n - 1)]
                with m.Elif(r_sh_n != 0):
                    send(r_sh[:8], "TX_BODY")
                    with m.If(tx.ready):
                        m.d.sync += [r_sh.eq(r_sh >> 8), r_sh_n.eq(r_sh_n - 1)]
                with m.Elif(res_left != 0):
                    m.d.comb += self.results.ready.eq(1)
                    m.d.sync += [r_sh.eq(Cat(self.results.payload, Const(0, 7))), r_sh_n.eq(5), res_left.eq(res_left - 1)]
                with m.Else():
                    m.next = "TX_CRC0"
            with m.State("TX_CRC0"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(tx_crc[8:])]
                with m.If(tx.ready):
                    m.next = "TX_CRC1"
            with m.State("TX_CRC1"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(tx_crc[:8])]
                with m.If(tx.ready):
                    m.next = "IDLE"
        return m
