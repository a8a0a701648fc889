"""AXI4-Lite and AXI4-Stream interface signatures with the standard AXI names.

Amaranth's ``lib.stream`` names its members ``payload/valid/ready``; Vivado's
IP packager, the Xilinx AXI DMA and cocotbext-axi expect ``tdata/tvalid/
tready/tlast`` and the AXI4-Lite channel names. These signatures give the
core's ports exactly those names: a member ``s_axis`` of a component becomes
Verilog ports ``s_axis__tdata``, ``s_axis__tvalid``..., which
``AxiStreamBus.from_prefix(dut, "s_axis", bus_separator="__")`` binds.

Both signatures are written from the initiator's (master's) side: a target
port is ``In(AXI4LiteSignature(...))``, a stream sink ``In(AXIStreamSignature(...))``.
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXI4LiteSignature", "AXIStreamSignature", "STREAM_WORD"]

#: One AXI4-Stream beat (``tdata``, ``tlast``) as the core's consumers take it
#: behind :class:`hw.rtl.input_demux.InputDemux`: model-image words for the
#: loader, event words for the event input (:mod:`hw.spec.protocol`).
STREAM_WORD = data.StructLayout({"data": 32, "last": 1})


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite, 32-bit data, ``addr_bits``-bit byte addresses.

    Members (initiator's view)
    --------------------------
    awaddr, awvalid, wdata, wstrb, wvalid, bready, araddr, arvalid, rready : Out
    awready, wready, bresp, bvalid, arready, rdata, rresp, rvalid : In
    """

    def __init__(self, addr_bits: int):
        if not isinstance(addr_bits, int) or not 2 <= addr_bits <= 32:
            raise TypeError(f"AXI4-Lite address width must be an integer in 2..32, not {addr_bits!r}")
        self.addr_bits = addr_bits
        super().__init__(
            {
                "awaddr": Out(addr_bits),
                "awvalid": Out(1),
                "awready": In(1),
                "wdata": Out(32),
                "wstrb": Out(4),
                "wvalid": Out(1),
                "wready": In(1),
                "bresp": In(2),
                "bvalid": In(1),
                "bready": Out(1),
                "araddr": Out(addr_bits),
                "arvalid": Out(1),
                "arready": In(1),
                "rdata": In(32),
                "rresp": In(2),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )

    def __eq__(self, other):
        return isinstance(other, AXI4LiteSignature) and other.addr_bits == self.addr_bits

    def __hash__(self):
        return hash(("AXI4Lite", self.addr_bits))

    def __repr__(self):
        return f"AXI4LiteSignature({self.addr_bits})"


class AXIStreamSignature(wiring.Signature):
    """AXI4-Stream with ``tdata``, ``tvalid``, ``tready`` and ``tlast``.

    Members (initiator's view)
    --------------------------
    tdata : Out(data_bits)
    tvalid, tlast : Out(1)
    tready : In(1)
    """

    def __init__(self, data_bits: int = 32):
        if not isinstance(data_bits, int) or data_bits < 1 or data_bits % 8:
            raise TypeError(f"AXI4-Stream data width must be a positive multiple of 8, not {data_bits!r}")
        self.data_bits = data_bits
        super().__init__({"tdata": Out(data_bits), "tvalid": Out(1), "tready": In(1), "tlast": Out(1)})

    def __eq__(self, other):
        return isinstance(other, AXIStreamSignature) and other.data_bits == self.data_bits

    def __hash__(self):
        return hash(("AXIStream", self.data_bits))

    def __repr__(self):
        return f"AXIStreamSignature({self.data_bits})"
