"""The link bridge (hw.rtl.link_bridge) and UART (hw.rtl.uart) in the Amaranth simulator,
against a plain Python model of the bridge written from hw.spec.link's docstring.

The model (:class:`BridgeModel`) holds what the core would see: a register
file, the words pushed into s_axis (with TLAST) and the words waiting in the
result FIFO. Every request, good or bad, must give the same reply bytes and
the same core-side effects in the gateware as in the model; bad frames must
change nothing.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.spec import link
from hw.spec.link import ERR, REPLIES, REQUESTS, encode_frame

TIMEOUT = 64
STALL = 40


def frame(name: str, payload: bytes = b"") -> bytes:
    return encode_frame(REQUESTS[name], payload)


def error_frame(code: int, ftype: int, detail: int = 0) -> bytes:
    return encode_frame(REPLIES["ERROR"], struct.pack("<BBH", code, ftype, detail))


class BridgeModel:
    """What the bridge must do, from hw.spec.link's docstring (not from the gateware)."""

    def __init__(self, regs: dict[int, int], results: list[tuple[int, int]], accept: bool = True):
        self.regs = regs
        self.pushed: list[tuple[int, int]] = []
        self.results = results
        self.accept = accept

    def request(self, raw: bytes) -> bytes:
        """Reply bytes for one request's bytes (well-formed framing assumed: the
        malformed cases are listed by the tests with their expected errors)."""
        ftype, n = struct.unpack_from("<BH", raw, 1)
        payload = raw[4 : 4 + n]
        if link.crc16(raw[1:]) != 0:
            return error_frame(ERR["CRC"], ftype)
        R = REQUESTS
        if ftype == R["READ"] and n == 4:
            (a,) = struct.unpack("<I", payload)
            return encode_frame(REPLIES["READ_DATA"], struct.pack("<IB", self.regs.get(a, 0), 0))
        if ftype == R["WRITE"] and n == 8:
            a, v = struct.unpack("<II", payload)
            self.regs[a] = v
            return encode_frame(REPLIES["WRITE_DONE"], b"\0")
        if ftype in (R["WORDS"], R["WORDS_LAST"], R["EVENTS"], R["EVENTS_LAST"]):
            events = ftype in (R["EVENTS"], R["EVENTS_LAST"])
            if n == 0 or n % (2 if events else 4):
                return error_frame(ERR["LENGTH"], ftype)
            words = link.expand_events(payload) if events else np.frombuffer(payload, "<u4")
            if not self.accept:
                return error_frame(ERR["STALL"], ftype, 0)
            last = ftype in (R["WORDS_LAST"], R["EVENTS_LAST"])
            self.pushed += [(int(w), int(last and i == len(words) - 1)) for i, w in enumerate(words)]
            return encode_frame(REPLIES["ACK"], struct.pack("<H", len(words)))
        if ftype == R["RECV"] and n == 2:
            (mx,) = struct.unpack("<H", payload)
            k = min(mx, len(self.results), link.MAX_RESULT_WORDS)
            out, self.results[:] = self.results[:k], self.results[k:]
            return encode_frame(REPLIES["RESULT"], b"".join(struct.pack("<IB", w, t) for w, t in out))
        if ftype == R["FLUSH"] and n == 0:
            k = len(self.results)
            self.results.clear()
            return encode_frame(REPLIES["ACK"], struct.pack("<H", k))
        if ftype == R["INFO"] and n == 0:
            return encode_frame(REPLIES["INFO"], struct.pack("<BHH", link.VERSION, link.MAX_PAYLOAD, 32))
        if ftype in R.values():
            return error_frame(ERR["LENGTH"], ftype)
        return error_frame(ERR["TYPE"], ftype)


def run_bridge(requests, regs, results, accept=True, uart=False, divisor=4):
    """Send ``requests`` (each: bytes, then a quiet gap) to the gateware; return
    (reply bytes per request, register file, pushed words, words left in the FIFO)."""
    from hw.rtl.link_bridge import LinkBridge
    from hw.rtl.uart import UARTRx, UARTTx

    addr_bits = 12
    dut = LinkBridge(addr_bits, timeout_cycles=TIMEOUT * (divisor * 10 if uart else 1), stall_cycles=STALL, fifo_depth=32)
    top = Module()
    top.submodules.bridge = dut
    if uart:
        top.submodules.urx = urx = UARTRx(divisor)
        top.submodules.utx = utx = UARTTx(divisor)
        wiring.connect(top, urx.o_stream, dut.rx)
        wiring.connect(top, dut.tx, utx.i_stream)
    regs = dict(regs)
    pushed: list[tuple[int, int]] = []
    queue = list(results)
    replies: list[bytes] = []
    sim = Simulator(top)
    sim.add_clock(1e-8)
    axil, sink, src = dut.m_axil, dut.m_axis, dut.s_axis

    async def axil_target(ctx):
        ctx.set(axil.arready, 1)
        ctx.set(axil.awready, 1)
        ctx.set(axil.wready, 1)
        aw = w = None
        async for clk, _, arvalid, araddr, awvalid, awaddr, wvalid, wdata, rready, bready in ctx.tick().sample(
            axil.arvalid, axil.araddr, axil.awvalid, axil.awaddr, axil.wvalid, axil.wdata, axil.rready, axil.bready
        ):
            if arvalid:
                ctx.set(axil.rdata, regs.get(araddr, 0))
                ctx.set(axil.rvalid, 1)
            elif rready:
                ctx.set(axil.rvalid, 0)
            if awvalid:
                aw = awaddr
            if wvalid:
                w = wdata
            if aw is not None and w is not None:
                regs[aw] = w
                aw = w = None
                ctx.set(axil.bvalid, 1)
            elif bready:
                ctx.set(axil.bvalid, 0)

    async def core_input(ctx):
        ctx.set(sink.tready, int(accept))
        async for clk, _, valid, ready, data, last in ctx.tick().sample(sink.tvalid, sink.tready, sink.tdata, sink.tlast):
            if valid and ready:
                pushed.append((data, last))

    async def core_output(ctx):
        for w, t in queue:
            ctx.set(src.tdata, w)
            ctx.set(src.tlast, t)
            ctx.set(src.tvalid, 1)
            await ctx.tick().until(src.tready)
        ctx.set(src.tvalid, 0)

    async def host(ctx):
        bit = divisor
        for raw in requests:
            got = bytearray()
            if uart:
                async def send():
                    for b in raw:
                        for level in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                            ctx.set(urx.rx, level)
                            await ctx.tick().repeat(bit)
            else:
                async def send():
                    for b in raw:
                        ctx.set(dut.rx.payload, b)
                        ctx.set(dut.rx.valid, 1)
                        await ctx.tick().until(dut.rx.ready)
                        ctx.set(dut.rx.valid, 0)
            await send()
            # collect one reply frame (every request gets exactly one)
            waited, limit = 0, 4 * TIMEOUT * (bit * 10 if uart else 1) + 400

            def complete():
                return len(got) >= 4 and len(got) >= 6 + struct.unpack_from("<H", got, 2)[0]

            if uart:
                while not complete() and waited < limit:
                    if ctx.get(utx.tx) == 0:  # start bit: sample each bit in its middle
                        await ctx.tick().repeat(bit + bit // 2)
                        b = 0
                        for i in range(8):
                            b |= ctx.get(utx.tx) << i
                            await ctx.tick().repeat(bit)
                        got.append(b)
                    else:
                        await ctx.tick()
                        waited += 1
                await ctx.tick().repeat(2 * bit)
            else:
                ctx.set(dut.tx.ready, 1)
                while not complete() and waited < limit:
                    _, _, valid, payload = await ctx.tick().sample(dut.tx.valid, dut.tx.payload)
                    if valid:
                        got.append(payload)
                    waited += 1
            replies.append(bytes(got))

    sim.add_process(axil_target)
    sim.add_process(core_input)
    sim.add_process(core_output)
    sim.add_testbench(host)
    sim.run()
    return replies, regs, pushed


REGS = {0x0: 0x45415653, 0x4: 0x10000, 0x10: 7}
RESULTS = [(0x1000 + i, int(i % 5 == 4)) for i in range(12)]


def _good_requests():
    ev = link.compact_events(np.array([3, 1 << 31, 0, 5, 1 << 31], np.uint32))
    return [
        frame("INFO"),
        frame("READ", struct.pack("<I", 0x0)),
        frame("WRITE", struct.pack("<II", 0x10, 0xDEADBEEF)),
        frame("READ", struct.pack("<I", 0x10)),
        frame("WORDS", struct.pack("<3I", 1, 2, 0x80000000)),
        frame("WORDS_LAST", struct.pack("<I", 9)),
        frame("EVENTS", ev),
        frame("EVENTS_LAST", ev[:6]),  # odd number of halfwords: a partial last word
        frame("RECV", struct.pack("<H", 3)),
        frame("RECV", struct.pack("<H", 100)),
        frame("RECV", struct.pack("<H", 4)),  # empty
    ]


def test_good_requests_match_the_model():
    reqs = _good_requests()
    model = BridgeModel(dict(REGS), list(RESULTS))
    want = [model.request(r) for r in reqs]
    # INFO reports the gateware's FIFO depth (32 here) and max payload
    got, regs, pushed = run_bridge(reqs, REGS, RESULTS)
    assert got == want
    assert regs == model.regs and regs[0x10] == 0xDEADBEEF
    assert pushed == model.pushed
    # worked by hand: 3 words, one word with TLAST, events 3, marker, 0, 5, marker, then 3, marker, 0 (TLAST)
    M = 1 << 31
    assert pushed == [(1, 0), (2, 0), (M, 0), (9, 1), (3, 0), (M, 0), (0, 0), (5, 0), (M, 0), (3, 0), (M, 0), (0, 1)]
    assert got[0] == encode_frame(0x89, bytes([1]) + struct.pack("<HH", 2048, 32))
    assert got[1] == encode_frame(0x81, struct.pack("<IB", 0x45415653, 0))


def test_bad_frames_are_answered_and_change_nothing():
    good_write = frame("WRITE", struct.pack("<II", 0x10, 0x1234))
    corrupt = bytearray(good_write)
    corrupt[6] ^= 0x10  # one payload bit
    bad_crc = bytearray(good_write)
    bad_crc[-1] ^= 1
    oversize = bytes([link.SOF, REQUESTS["WORDS"]]) + struct.pack("<H", link.MAX_PAYLOAD + 4) + bytes(20)
    reqs = [
        bytes(corrupt),
        bytes(bad_crc),
        good_write[:7],  # truncated: the line goes quiet
        oversize,
        b"\x00\x17\x42",  # junk outside a frame
        encode_frame(0x42),  # unknown type
        frame("READ", b"\0\0"),  # wrong length
        frame("WORDS", b"\1\2\3"),
        frame("WORDS"),  # an empty push
        frame("EVENTS", b"\1"),
        frame("RECV"),
        frame("READ", struct.pack("<I", 0x10)),  # still the old value
        frame("RECV", struct.pack("<H", 2)),  # the FIFO is untouched
        frame("FLUSH"),
        frame("RECV", struct.pack("<H", 2)),
    ]
    want = [
        error_frame(ERR["CRC"], REQUESTS["WRITE"]),
        error_frame(ERR["CRC"], REQUESTS["WRITE"]),
        error_frame(ERR["TRUNCATED"], REQUESTS["WRITE"]),
        error_frame(ERR["OVERSIZE"], REQUESTS["WORDS"]),
        error_frame(ERR["SYNC"], 0),
        error_frame(ERR["TYPE"], 0x42),
        error_frame(ERR["LENGTH"], REQUESTS["READ"]),
        error_frame(ERR["LENGTH"], REQUESTS["WORDS"]),
        error_frame(ERR["LENGTH"], REQUESTS["WORDS"]),
        error_frame(ERR["LENGTH"], REQUESTS["EVENTS"]),
        error_frame(ERR["LENGTH"], REQUESTS["RECV"]),
        encode_frame(0x81, struct.pack("<IB", 7, 0)),
        encode_frame(0x87, struct.pack("<IBIB", 0x1000, 0, 0x1001, 0)),
        encode_frame(0x83, struct.pack("<H", len(RESULTS) - 2)),
        encode_frame(0x87, b""),
    ]
    # the model agrees on every frame it can parse
    model = BridgeModel(dict(REGS), list(RESULTS))
    for i in (0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14):
        assert model.request(reqs[i]) == want[i], i
    got, regs, pushed = run_bridge(reqs, REGS, RESULTS)
    assert got == want
    assert regs == REGS and pushed == []


def test_stall_reports_words_taken():
    reqs = [frame("WORDS_LAST", struct.pack("<2I", 1, 2)), frame("READ", struct.pack("<I", 0x0))]
    got, _, pushed = run_bridge(reqs, REGS, [], accept=False)
    assert got[0] == error_frame(ERR["STALL"], REQUESTS["WORDS_LAST"], 0)
    assert got[1] == encode_frame(0x81, struct.pack("<IB", 0x45415653, 0))  # and the link still works
    assert pushed == []


def test_through_the_uarts():
    reqs = [frame("READ", struct.pack("<I", 0x4)), frame("WORDS_LAST", struct.pack("<I", 0xCAFE)), bytes([0x00])]
    got, _, pushed = run_bridge(reqs, REGS, [], uart=True, divisor=5)
    assert got[0] == encode_frame(0x81, struct.pack("<IB", 0x10000, 0))
    assert got[1] == encode_frame(0x83, struct.pack("<H", 1))
    assert got[2] == error_frame(ERR["SYNC"], 0)
    assert pushed == [(0xCAFE, 1)]


def test_crc_catalogue_value():
    # CRC-16/CCITT-FALSE check value from the CRC catalogue (reveng): 0x29B1
    assert link.crc16(b"123456789") == 0x29B1
    f = encode_frame(0x01, b"\x01\x02")
    assert link.crc16(f[1:]) == 0  # residue over covered bytes + CRC is zero (what the gateware checks)


def test_host_parser_rejects_what_the_bridge_rejects():
    f = frame("WRITE", struct.pack("<II", 4, 5))
    assert link.decode_frame(f) == link.Frame(REQUESTS["WRITE"], struct.pack("<II", 4, 5))
    with pytest.raises(link.LinkError, match="CRC"):
        link.decode_frame(f[:-1] + bytes([f[-1] ^ 1]))
    with pytest.raises(link.LinkError, match="SOF"):
        link.decode_frame(b"\x00" + f)
    with pytest.raises(link.LinkError, match="payload bytes"):
        link.FrameParser().feed(bytes([link.SOF, 3]) + struct.pack("<H", 4000))
    words = np.array([0, 7, 1 << 31, 65534, 1 << 31], np.uint32)
    assert link.compact_events(words) == struct.pack("<5H", 0, 7, 0xFFFF, 65534, 0xFFFF)
    assert (link.expand_events(link.compact_events(words)) == words).all()
    assert link.compact_events(np.array([65535], np.uint32)) is None
