# amaranth: UnusedElaboratable=no
"""hw.rtl.csr.ControlRegisters alone, driven through AXI4-Lite handshakes.

The model is the frozen register table of tests/test_hw_regmap_frozen.py
(offsets and fields as literal numbers, not read from hw.spec.regmap), plus values
worked by hand below: a swapped offset, a field at the wrong bit, a pulse
that lasts two cycles or a read that returns the wrong word fails here,
before the whole core is simulated.
"""

from __future__ import annotations

import pytest
from amaranth import Elaboratable, Module, signed
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.spec import regmap
from hw.spec.capacity import Capacity
from hw.rtl.csr import ControlRegisters
from tests.test_hw_regmap_frozen import FROZEN

REGS = FROZEN[max(FROZEN)][0]  # name -> (offset, access, fields), literal numbers

#: Every field of this capacity is a literal: CAP_* registers must read them back.
CAP = Capacity(
    lanes=4, max_layers=3, max_neurons=6, max_sources=2, max_inputs=16,
    weight_depth=64, weight_bits=8, v_bits=16, max_timesteps=10,
)  # fmt: skip
CAP_LITERALS = {
    0x080: 4, 0x084: 3, 0x088: 6, 0x08C: 2, 0x090: 16, 0x094: 64, 0x098: 8, 0x09C: 16, 0x0A0: 10,
}  # fmt: skip
#: The READOUT window (0x400, 6 words) over a 12-bit signed memory; the
#: stand-in has two words more than the window, which must not be readable.
READOUT_MEM = [5, -1, 2047, -2048, 0, -300, 77, -77]
READOUT_WORDS = [0x00000005, 0xFFFFFFFF, 0x000007FF, 0xFFFFF800, 0x00000000, 0xFFFFFED4]
#: A distinct value per live read-only register (STATUS/ERROR/SAMPLE_ERRORS set below).
LIVE_VALUES = {
    "samples": 0x01020304, "model_inputs": 16, "model_timesteps": 9, "model_layers": 3, "model_outputs": 5,
    "cycles": 0xDEADBEEF, "in_events": 0x11, "spikes": 0x22, "sops": 0x12345678, "prediction": 4,
}  # fmt: skip
STATUS_FIELDS = {"busy": 1, "done": 0, "error": 1, "model_valid": 1}  # bits 0, 2, 3: 0b1101
ERROR_VALUE, SAMPLE_ERRORS_VALUE = 0xA5, 0x5A


class _Top(Elaboratable):
    """The registers plus a stand-in for the core's readout memory and its
    read port (synchronous, as rmem's ``r_axil`` port), wired as hw.rtl.core does."""

    def __init__(self):
        self.csr = ControlRegisters(CAP)

    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = self.csr
        m.submodules.mem = mem = Memory(shape=signed(12), depth=len(READOUT_MEM), init=READOUT_MEM)
        rd = mem.read_port()
        m.d.comb += [rd.addr.eq(csr.readout_addr), csr.readout_data.eq(rd.data.as_signed())]
        m.d.comb += csr.drive(
            status=STATUS_FIELDS, error=ERROR_VALUE, sample_errors=SAMPLE_ERRORS_VALUE, **LIVE_VALUES
        )
        return m


def _simulate(bench):
    top = _Top()
    sim = Simulator(top)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        await bench(ctx, top.csr)

    sim.add_testbench(testbench)
    sim.run()


async def write(ctx, csr, addr, value, b_wait=0):
    """One write; ``bready`` held low for ``b_wait`` cycles after ``bvalid``.
    Returns the cycles from asserting awvalid/wvalid to the handshake."""
    a = csr.s_axil
    ctx.set(a.awaddr, addr)
    ctx.set(a.wdata, value)
    ctx.set(a.wstrb, 0xF)
    ctx.set(a.awvalid, 1)
    ctx.set(a.wvalid, 1)
    ctx.set(a.bready, 0)
    waited = 0
    while not ctx.get(a.awready):
        await ctx.tick()
        waited += 1
    await ctx.tick()
    ctx.set(a.awvalid, 0)
    ctx.set(a.wvalid, 0)
    assert ctx.get(a.bvalid) == 1 and ctx.get(a.bresp) == 0
    for _ in range(b_wait):
        assert ctx.get(a.bvalid) == 1 and ctx.get(a.awready) == 0
        await ctx.tick()
    ctx.set(a.bready, 1)
    await ctx.tick()
    ctx.set(a.bready, 0)
    assert ctx.get(a.bvalid) == 0
    return waited


async def read(ctx, csr, addr, r_wait=0):
    """One read; ``rready`` held low for ``r_wait`` cycles after ``rvalid``.
    The address is scrambled right after the handshake: the target must have
    registered it. Checks the two-cycle latency."""
    a = csr.s_axil
    ctx.set(a.araddr, addr)
    ctx.set(a.arvalid, 1)
    ctx.set(a.rready, 0)
    assert ctx.get(a.arready) == 1
    await ctx.tick()
    ctx.set(a.arvalid, 0)
    ctx.set(a.araddr, 0x404 if addr != 0x404 else 0x008)
    assert ctx.get(a.rvalid) == 0 and ctx.get(a.arready) == 0  # pending
    await ctx.tick()
    assert ctx.get(a.rvalid) == 1 and ctx.get(a.rresp) == 0
    data = ctx.get(a.rdata)
    for _ in range(r_wait):
        assert ctx.get(a.rvalid) == 1 and ctx.get(a.rdata) == data and ctx.get(a.arready) == 0
        await ctx.tick()
    ctx.set(a.rready, 1)
    await ctx.tick()
    ctx.set(a.rready, 0)
    assert ctx.get(a.rvalid) == 0 and ctx.get(a.arready) == 1
    return data


def test_ctrl_write_pulses_for_one_cycle_and_latches_mode():
    pulses = ("start", "soft_reset", "clear_errors", "start_mode")
    seen = []

    async def bench(ctx, csr):
        a = csr.s_axil
        assert ctx.get(csr.mode) == 0
        for word in (0b1001, 0b0110, 0b0000):  # start + mode=1; soft_reset + clear_errors; nothing
            ctx.set(a.awaddr, 0x008)
            ctx.set(a.wdata, word)
            ctx.set(a.awvalid, 1)
            ctx.set(a.wvalid, 1)
            ctx.set(a.bready, 1)
            for _ in range(4):
                hs = ctx.get(a.awready)
                seen.append((word, hs, *(ctx.get(getattr(csr, p)) for p in pulses), ctx.get(csr.mode)))
                await ctx.tick()
                if hs:
                    ctx.set(a.awvalid, 0)
                    ctx.set(a.wvalid, 0)
            seen.append(("CTRL", await read(ctx, csr, 0x008)))

    _simulate(bench)
    # (word, awready, start, soft_reset, clear_errors, start_mode, mode), worked by hand:
    # the pulses are high in the handshake cycle only; mode follows the next cycle.
    assert seen == [
        (0b1001, 1, 1, 0, 0, 1, 0),
        (0b1001, 0, 0, 0, 0, 0, 1),
        (0b1001, 0, 0, 0, 0, 0, 1),
        (0b1001, 0, 0, 0, 0, 0, 1),
        ("CTRL", 0b1000),  # pulse bits read as 0, mode at bit 3
        (0b0110, 1, 0, 1, 1, 0, 1),
        (0b0110, 0, 0, 0, 0, 0, 0),
        (0b0110, 0, 0, 0, 0, 0, 0),
        (0b0110, 0, 0, 0, 0, 0, 0),
        ("CTRL", 0b0000),
        (0b0000, 1, 0, 0, 0, 0, 0),
        (0b0000, 0, 0, 0, 0, 0, 0),
        (0b0000, 0, 0, 0, 0, 0, 0),
        (0b0000, 0, 0, 0, 0, 0, 0),
        ("CTRL", 0b0000),
    ]


def test_batch_resets_to_one_and_reads_back_writes():
    got = []

    async def bench(ctx, csr):
        got.append((await read(ctx, csr, 0x014), ctx.get(csr.batch)))
        for value in (7, 0xFFFFFFFF, 0):
            await write(ctx, csr, 0x014, value)
            got.append((await read(ctx, csr, 0x014), ctx.get(csr.batch)))
        await write(ctx, csr, 0x018, 99)  # SAMPLES is read-only: ignored
        got.append((await read(ctx, csr, 0x014), await read(ctx, csr, 0x018)))

    _simulate(bench)
    assert got == [(1, 1), (7, 7), (0xFFFFFFFF, 0xFFFFFFFF), (0, 0), (0, 0x01020304)]


def test_every_register_reads_its_value_at_its_frozen_offset():
    expected = {
        "ID": 0x45415653,
        "VERSION": 0x00040000,
        "CTRL": 0,
        "STATUS": 0b1101,
        "ERROR": 0xA5,
        "BATCH": 1,
        "SAMPLE_ERRORS": 0x5A,
        **{name.upper(): v for name, v in LIVE_VALUES.items()},
        **{name: CAP_LITERALS[off] for name, (off, _, _) in REGS.items() if name.startswith("CAP_")},
    }
    assert set(expected) == set(REGS)
    got = {}

    async def bench(ctx, csr):
        for name, (off, _, _) in REGS.items():
            got[name] = await read(ctx, csr, off)

    _simulate(bench)
    assert got == expected


def test_unmapped_offsets_read_zero():
    holes = (0x01C, 0x048, 0x07C, 0x0A4, 0x3FC, 0x418, 0xFFC)  # 0x418: one past the 6-word window
    got = []

    async def bench(ctx, csr):
        for off in holes:
            await write(ctx, csr, off, 0xFFFFFFFF)  # acknowledged, ignored
            got.append(await read(ctx, csr, off))
        got.append(await read(ctx, csr, 0x014))  # BATCH untouched

    _simulate(bench)
    assert got == [0] * len(holes) + [1]


def test_readout_window_reads_the_memory_sign_extended():
    got, held = [], []

    async def bench(ctx, csr):
        a = csr.s_axil
        for i in (3, 0, 5, 1, 4, 2):  # out of order; read() scrambles araddr after each accept
            got.append(await read(ctx, csr, 0x400 + 4 * i))
        # the word index follows araddr in the accept cycle and is held while pending
        ctx.set(a.araddr, 0x414)
        ctx.set(a.arvalid, 1)
        held.append(ctx.get(csr.readout_addr))
        await ctx.tick()
        ctx.set(a.arvalid, 0)
        ctx.set(a.araddr, 0x404)
        held.append(ctx.get(csr.readout_addr))
        ctx.set(a.rready, 1)
        await ctx.tick().repeat(2)
        ctx.set(a.rready, 0)
        got.append(await read(ctx, csr, 0x418))  # past the window: not the memory's word 6

    _simulate(bench)
    assert got == [READOUT_WORDS[i] for i in (3, 0, 5, 1, 4, 2)] + [0]
    assert held == [5, 5]


def test_delayed_bready_and_rready():
    trace, got = [], []

    async def bench(ctx, csr):
        a = csr.s_axil
        ctx.set(a.awaddr, 0x014)
        ctx.set(a.wdata, 0x33)
        ctx.set(a.wstrb, 0xF)
        ctx.set(a.awvalid, 1)
        ctx.set(a.wvalid, 1)
        ctx.set(a.bready, 0)
        for cyc in range(8):
            if cyc == 1:
                ctx.set(a.wdata, 0x44)  # a second write offered back to back, B not yet taken
            if cyc == 5:
                ctx.set(a.bready, 1)
            hs = ctx.get(a.awready)
            trace.append((hs, ctx.get(a.bvalid), ctx.get(csr.batch)))
            await ctx.tick()
            if hs and cyc >= 1:
                ctx.set(a.awvalid, 0)
                ctx.set(a.wvalid, 0)
        ctx.set(a.bready, 0)
        got.append(await read(ctx, csr, 0x014, r_wait=4))
        got.append(await read(ctx, csr, 0x030, r_wait=7))
        got.append(await read(ctx, csr, 0x40C, r_wait=3))
        got.append(await write(ctx, csr, 0x014, 0x55, b_wait=2))  # accepted at once again
        got.append(await read(ctx, csr, 0x014))

    _simulate(bench)
    # (awready, bvalid, batch) per cycle, worked by hand: the first write is
    # taken at once; the second waits while bvalid is up, bready drops bvalid
    # at the cycle-5 edge, and the second write is taken in cycle 6.
    assert trace == [
        (1, 0, 1),
        (0, 1, 0x33),
        (0, 1, 0x33),
        (0, 1, 0x33),
        (0, 1, 0x33),
        (0, 1, 0x33),
        (1, 0, 0x33),
        (0, 1, 0x44),
    ]
    assert got == [0x44, 0xDEADBEEF, 0xFFFFF800, 0, 0x55]


def test_drive_refuses_a_missing_or_unknown_register():
    csr = ControlRegisters(CAP)
    full = dict(status=STATUS_FIELDS, error=0, sample_errors=0, **LIVE_VALUES)
    assert len(csr.drive(**full)) == 4 + 12
    with pytest.raises(AssertionError, match=r"lacks \['cycles'\]"):
        csr.drive(**{k: v for k, v in full.items() if k != "cycles"})
    with pytest.raises(AssertionError, match=r"\['bogus'\] missing from hw.spec.regmap"):
        csr.drive(bogus=1, **full)
    with pytest.raises(AssertionError, match=r"STATUS: fields \['busy'\] given"):
        csr.drive(**{**full, "status": {"busy": 1}})


def test_a_read_write_register_without_storage_fails_at_elaboration(monkeypatch):
    extra = regmap.Register("SCRATCH", 0x048, "rw", "a register nobody stores")
    monkeypatch.setattr(regmap, "REGISTERS", regmap.REGISTERS + (extra,))
    with pytest.raises(AssertionError, match="register SCRATCH .rw. has no storage in hw.rtl.csr"):
        ControlRegisters(CAP).elaborate(None)


def test_rejects_a_non_capacity():
    with pytest.raises(TypeError, match="needs a hw.spec.capacity.Capacity, not 4"):
        ControlRegisters(4)


def test_a_read_only_register_added_to_the_map_needs_a_source_in_the_core(monkeypatch):
    extra = regmap.Register("TEMPERATURE", 0x048, "ro", "a new status register")
    monkeypatch.setattr(regmap, "REGISTERS", regmap.REGISTERS + (extra,))
    full = dict(status=STATUS_FIELDS, error=0, sample_errors=0, **LIVE_VALUES)
    with pytest.raises(AssertionError, match=r"lacks \['temperature'\]"):
        ControlRegisters(CAP).drive(**full)
