"""A tiny Amaranth component that proves the verification stack on its own.

The accelerator core is large and its build takes the longest of all our
simulations; when a cocotb run fails it helps to know whether the *stack*
(Amaranth -> Verilog -> Verilator/Icarus -> cocotb 2 -> cocotbext-axi, port
naming with ``__``, pause generators, the runner helpers of
:mod:`sim.build`) works at all. This component has exactly the interfaces of
the core, in miniature:

- ``s_axil``: an AXI4-Lite slave with two registers: ``SCRATCH`` (offset 0,
  read/write) and ``COUNT`` (offset 4, read-only: words passed so far).
- ``s_axis`` -> ``m_axis``: an AXI4-Stream pass-through that adds
  ``SCRATCH`` to every word (so a register write visibly changes the
  stream), with ``tlast`` passed along.

It is never part of the accelerator; ``tests/test_sim_selftest.py`` builds it
into a temporary directory on both simulators.
"""

from __future__ import annotations

from pathlib import Path

from amaranth import Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SCRATCH", "COUNT", "axi_lite_signature", "axi_stream_signature", "Loopback", "write_loopback_verilog"]

#: Register offsets of the self-test component (not the core's: those live in hw.spec.regmap).
SCRATCH = 0x0
COUNT = 0x4


def axi_lite_signature(addr_width: int = 8) -> wiring.Signature:
    """AXI4-Lite from the master's side, with the standard signal names."""
    if not isinstance(addr_width, int) or not 2 <= addr_width <= 32:
        raise ValueError(f"AXI-Lite address width must be an integer in 2..32, not {addr_width!r}")
    return wiring.Signature(
        {
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1), "awprot": Out(3),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1), "arprot": Out(3),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        }
    )


def axi_stream_signature(width: int = 32) -> wiring.Signature:
    """AXI4-Stream from the source's side (``tdata``, ``tvalid``, ``tready``, ``tlast``)."""
    if not isinstance(width, int) or width < 8 or width % 8:
        raise ValueError(f"AXI-Stream width must be a positive multiple of 8, not {width!r}")
    return wiring.Signature({"tdata": Out(width), "tvalid": Out(1), "tready": In(1), "tlast": Out(1)})


class Loopback(wiring.Component):
    """Stream pass-through (+``SCRATCH``) with a two-register AXI-Lite slave.

    Members
    -------
    s_axil : In(axi_lite_signature(8))
    s_axis : In(axi_stream_signature(32))
    m_axis : Out(axi_stream_signature(32))
    """

    def __init__(self) -> None:
        super().__init__(
            {
                "s_axil": In(axi_lite_signature(8)),
                "s_axis": In(axi_stream_signature(32)),
                "m_axis": Out(axi_stream_signature(32)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        scratch = Signal(32)
        count = Signal(32)
        bus = self.s_axil

        # One-deep skid-free output register: accept when empty or draining.
        with m.If(self.m_axis.tvalid & self.m_axis.tready):
            m.d.sync += self.m_axis.tvalid.eq(0)
        m.d.comb += self.s_axis.tready.eq(~self.m_axis.tvalid | self.m_axis.tready)
        with m.If(self.s_axis.tvalid & self.s_axis.tready):
            m.d.sync += [
                self.m_axis.tdata.eq(self.s_axis.tdata + scratch),
                self.m_axis.tlast.eq(self.s_axis.tlast),
                self.m_axis.tvalid.eq(1),
                count.eq(count + 1),
            ]

        # Write: take address and data together, answer OKAY once.
        aw_ok = bus.awvalid & bus.wvalid & ~bus.bvalid
        m.d.comb += [bus.awready.eq(aw_ok), bus.wready.eq(aw_ok)]
        with m.If(aw_ok):
            m.d.sync += bus.bvalid.eq(1)
            with m.If(bus.awaddr[2:] == SCRATCH >> 2):
                m.d.sync += scratch.eq(bus.wdata)
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        # Read: one outstanding read.
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                with m.Case(SCRATCH >> 2):
                    m.d.sync += bus.rdata.eq(scratch)
                with m.Case(COUNT >> 2):
                    m.d.sync += bus.rdata.eq(count)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        return m


def write_loopback_verilog(out_dir: str | Path, name: str = "loopback") -> Path:
    """Write the self-test component as ``<out_dir>/<name>.v`` (top ``name``)."""
    top = Loopback()
    text = verilog.convert(top, name=name, ports=None, emit_src=False)
    path = Path(out_dir) / f"{name}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
