"""The frame engine: :mod:`hw.spec.link` frames in, AXI4-Lite and AXI4-Stream out.

:class:`LinkBridge` sits between a byte stream (the UART, :mod:`hw.rtl.uart`)
and the core's three buses. It receives a whole frame into its payload
memory while running the CRC, and acts only once the CRC has matched, so a
corrupted, truncated, oversize or unexpected frame changes nothing: it is
answered with an ``ERROR`` frame. Then it

* ``READ`` / ``WRITE``: makes one AXI4-Lite transaction on ``m_axil``;
* ``WORDS`` / ``EVENTS`` (``_LAST``): streams the payload's words into the
  core's ``s_axis`` (``m_axis`` here), TLAST on the last one for ``_LAST``;
  if the core takes no word for ``stall_cycles`` the push stops and a
  ``STALL`` error says how many words it took;
* ``RECV`` / ``FLUSH``: answers from (or empties) the result FIFO that the
  core's ``m_axis`` (``s_axis`` here) fills, TLAST kept beside every word;
* ``INFO``: the link version, payload limit and FIFO depth.

One request is handled at a time and every request gets exactly one reply
(stop-and-wait), so the host always knows what was applied.

Latency: a request is acted on 1 cycle after its last CRC byte; each stream
word takes 2 cycles plus the core's backpressure; the reply starts when the
action ends. The UART, 40+ cycles per byte, is the bottleneck by far.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.spec import link
from hw.rtl.axi import AXI4LiteSignature, AXIStreamSignature

__all__ = ["LinkBridge", "crc16_next"]

_POLY = 0x1021


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
        R, P, E = link.REQUESTS, link.REPLIES, link.ERR
        words = self.max_payload // 4
        m.submodules.mem = mem = Memory(shape=32, depth=words, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        m.submodules.results = results = fifo.SyncFIFOBuffered(width=33, depth=self.fifo_depth)
        m.d.comb += [
            results.w_data.eq(Cat(self.s_axis.tdata, self.s_axis.tlast)),
            results.w_en.eq(self.s_axis.tvalid),
            self.s_axis.tready.eq(results.w_rdy),
        ]

        rx = self.rx
        crc = Signal(16)
        ftype = Signal(8)
        length = Signal(16)
        count = Signal(16)  # header / payload / CRC byte counter
        word = Signal(32)  # payload bytes being assembled
        quiet = Signal(range(self.timeout_cycles + 1))
        err_code = Signal(8)
        err_detail = Signal(16)

        # reply: type, length, up to 8 fixed payload bytes, or `res_left` FIFO entries
        r_type = Signal(8)
        r_len = Signal(16)
        r_fixed = Signal(64)
        r_fixed_n = Signal(4)
        r_sh = Signal(40)
        r_sh_n = Signal(3)
        res_left = Signal(range(link.MAX_RESULT_WORDS + 1))
        tx_crc = Signal(16)

        idx = Signal(16)  # stream word / halfword being pushed
        n_items = Signal(16)
        stall = Signal(range(self.stall_cycles + 1))

        axil = self.m_axil
        axis = self.m_axis
        m.d.comb += [wr.data.eq(Cat(word[8:], rx.payload)), axil.wstrb.eq(0xF)]

        def reply(rtype, nbytes, fixed):
            m.d.sync += [r_type.eq(rtype), r_len.eq(nbytes), r_fixed.eq(fixed), r_fixed_n.eq(nbytes)]
            m.next = "TX_SOF"

        def error(code, detail=0):
            m.d.sync += [err_code.eq(code), err_detail.eq(detail)]
            m.next = "ERROR"

        is_events = (ftype == R["EVENTS"]) | (ftype == R["EVENTS_LAST"])
        is_last = (ftype == R["WORDS_LAST"]) | (ftype == R["EVENTS_LAST"])
        half = Mux(idx[0], rd.data[16:], rd.data[:16])
        event_word = Mux(half == link.EVENT_MARKER, Const(1 << 31, 32), half)
        level = results.level
        max_w = Signal(16)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [quiet.eq(0), crc.eq(0xFFFF), count.eq(0), ftype.eq(0), idx.eq(0), err_detail.eq(0)]
                    with m.If(rx.payload == link.SOF):
                        m.next = "HEADER"
                    with m.Else():
                        m.d.sync += err_code.eq(E["SYNC"])
                        m.next = "SKIP"
            with m.State("HEADER"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [quiet.eq(0), crc.eq(crc16_next(crc, rx.payload)), count.eq(count + 1)]
                    with m.Switch(count):
                        with m.Case(0):
                            m.d.sync += ftype.eq(rx.payload)
                        with m.Case(1):
                            m.d.sync += length[:8].eq(rx.payload)
                        with m.Case(2):
                            m.d.sync += [length[8:].eq(rx.payload), count.eq(0)]
                            with m.If(Cat(length[:8], rx.payload) > self.max_payload):
                                m.d.sync += err_code.eq(E["OVERSIZE"])
                                m.next = "SKIP"
                            with m.Elif(Cat(length[:8], rx.payload) == 0):
                                m.next = "CRC"
                            with m.Else():
                                m.next = "PAYLOAD"
                with m.Elif(quiet == self.timeout_cycles):
                    error(E["TRUNCATED"])
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
            with m.State("PAYLOAD"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [
                        quiet.eq(0),
                        crc.eq(crc16_next(crc, rx.payload)),
                        count.eq(count + 1),
                        word.eq(Cat(word[8:], rx.payload)),
                    ]
                    last_byte = count == length - 1
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
                with m.Elif(quiet == self.timeout_cycles):
                    error(E["TRUNCATED"])
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
            with m.State("CRC"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [quiet.eq(0), crc.eq(crc16_next(crc, rx.payload)), count.eq(count + 1)]
                    with m.If(count == 1):
                        m.next = "CHECK"
                with m.Elif(quiet == self.timeout_cycles):
                    error(E["TRUNCATED"])
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
            with m.State("CHECK"):
                # rd.addr is 0 here: word 0 of the payload is on rd.data next cycle
                with m.If(crc != 0):
                    error(E["CRC"])
                with m.Else():
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                m.d.sync += [idx.eq(0), stall.eq(0), max_w.eq(rd.data[:16])]
                with m.Switch(ftype):
                    with m.Case(R["READ"]):
                        with m.If(length == 4):
                            m.d.sync += [axil.araddr.eq(rd.data), axil.arvalid.eq(1)]
                            m.next = "AXI_AR"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["WRITE"]):
                        with m.If(length == 8):
                            m.d.sync += [axil.awaddr.eq(rd.data), idx.eq(1)]
                            m.next = "WRITE_WAIT"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["WORDS"], R["WORDS_LAST"]):
                        with m.If(length[:2] == 0):
                            m.d.sync += n_items.eq(length[2:])
                            m.next = "PUSH_READ"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["EVENTS"], R["EVENTS_LAST"]):
                        with m.If(length[0] == 0):
                            m.d.sync += n_items.eq(length[1:])
                            m.next = "PUSH_READ"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["RECV"]):
                        with m.If(length == 2):
                            m.next = "RECV"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["FLUSH"]):
                        with m.If(length == 0):
                            m.next = "FLUSH"
                        with m.Else():
                            error(E["LENGTH"])
                    with m.Case(R["INFO"]):
                        with m.If(length == 0):
                            reply(P["INFO"], 5, Cat(Const(link.VERSION, 8), Const(self.max_payload, 16), Const(self.fifo_depth, 16)))
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
                    reply(P["READ_DATA"], 5, Cat(axil.rdata, axil.rresp, Const(0, 6)))
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
                    reply(P["WRITE_DONE"], 1, axil.bresp)
            with m.State("PUSH_READ"):
                # rd.addr follows idx: the word (or halfword's word) is on rd.data next cycle
                m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += [
                    axis.tvalid.eq(1),
                    axis.tdata.eq(Mux(is_events, event_word, rd.data)),
                    axis.tlast.eq(is_last & (idx == n_items - 1)),
                ]
                with m.If(axis.tready):
                    m.d.sync += [idx.eq(idx + 1), stall.eq(0)]
                    with m.If(idx == n_items - 1):
                        reply(P["ACK"], 2, n_items)
                    with m.Else():
                        m.next = "PUSH_READ"
                with m.Elif(stall == self.stall_cycles):
                    error(E["STALL"], idx)
                with m.Else():
                    m.d.sync += stall.eq(stall + 1)
            with m.State("RECV"):
                k = Mux(level < max_w, level, max_w)
                k2 = Mux(k > link.MAX_RESULT_WORDS, link.MAX_RESULT_WORDS, k)
                m.d.sync += [res_left.eq(k2), r_type.eq(P["RESULT"]), r_len.eq(k2 * link.RESULT_ENTRY_BYTES), r_fixed_n.eq(0)]
                m.next = "TX_SOF"
            with m.State("FLUSH"):
                m.d.comb += results.r_en.eq(1)
                with m.If(results.r_rdy):
                    m.d.sync += idx.eq(idx + 1)
                with m.Else():
                    reply(P["ACK"], 2, idx)
            with m.State("SKIP"):
                # swallow bytes until the line is quiet, then report once
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += quiet.eq(0)
                with m.Elif(quiet == self.timeout_cycles):
                    m.next = "ERROR"
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
            with m.State("ERROR"):
                m.d.sync += [r_type.eq(P["ERROR"]), r_len.eq(4), r_fixed.eq(Cat(err_code, ftype, err_detail)), r_fixed_n.eq(4), res_left.eq(0)]
                m.next = "TX_SOF"

            # -- the reply -------------------------------------------------------------
            def send(value, nxt):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(value)]
                with m.If(self.tx.ready):
                    m.d.sync += tx_crc.eq(crc16_next(tx_crc, value))
                    m.next = nxt

            with m.State("TX_SOF"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(link.SOF)]
                with m.If(self.tx.ready):
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
                    with m.If(self.tx.ready):
                        m.d.sync += [r_fixed.eq(r_fixed >> 8), r_fixed_n.eq(r_fixed_n - 1)]
                with m.Elif(r_sh_n != 0):
                    send(r_sh[:8], "TX_BODY")
                    with m.If(self.tx.ready):
                        m.d.sync += [r_sh.eq(r_sh >> 8), r_sh_n.eq(r_sh_n - 1)]
                with m.Elif(res_left != 0):
                    m.d.comb += results.r_en.eq(1)
                    m.d.sync += [r_sh.eq(Cat(results.r_data[:32], results.r_data[32], Const(0, 7))), r_sh_n.eq(5), res_left.eq(res_left - 1)]
                with m.Else():
                    m.next = "TX_CRC0"
            with m.State("TX_CRC0"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_crc[8:])]
                with m.If(self.tx.ready):
                    m.next = "TX_CRC1"
            with m.State("TX_CRC1"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_crc[:8])]
                with m.If(self.tx.ready):
                    m.next = "IDLE"

        # payload memory read address: word 0 in CHECK, the data word for WRITE, the push index
        with m.If(is_events):
            m.d.comb += rd.addr.eq(idx[1:])
        with m.Else():
            m.d.comb += rd.addr.eq(idx)
        return m
