"""The ULX3S board top: the host link around ``eavs_core``, and the PLL and pins.

:class:`BridgedCore` is the board but the PLL and the pins: the UART
(:mod:`hw.rtl.uart`), a 16-byte receive FIFO, the frame engine
(:mod:`hw.rtl.link_bridge`) and ``eavs_core`` as an ``Instance`` (its
Verilog, as ``hw.flow.generate`` wrote it, goes beside this top). The
simulated board (``hw.flow.ecp5.sim_top_verilog``,
tests/test_serial_board.py) is exactly it, with the UART pins as ports.

:class:`Ulx3sTop` is the ULX3S: the 25 MHz oscillator through an EHXPLLL
(:mod:`hw.spec.ecp5_pll`) makes the board's ``clock_mhz``; the FT231X
USB-UART (amaranth-boards ``uart``) carries the frames of
:mod:`hw.spec.link`. LED 0 shows the PLL lock, LED 1 a received byte, LED 2
a sent one. The nextpnr flow that builds it is :mod:`hw.flow.ecp5`.
"""

from __future__ import annotations

from amaranth import ClockDomain, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import fifo, io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from hw.rtl.link_bridge import LinkBridge
from hw.rtl.uart import UARTRx, UARTTx
from hw.spec.boards import Board
from hw.spec.ecp5_pll import ecp5_pll
from hw.spec.link import RESULT_FIFO_DEPTH, link_timing

__all__ = ["BridgedCore", "Ulx3sTop"]

_AXIL_TO_CORE = ("awaddr", "awvalid", "wdata", "wstrb", "wvalid", "bready", "araddr", "arvalid", "rready")


class BridgedCore(wiring.Component):
    """UART + frame engine + ``eavs_core``: the whole board but the PLL and pins.

    Parameters
    ----------
    addr_bits : int
        The core's AXI4-Lite address width (``hw.flow.ecp5`` reads it from
        ``eavs_core.v``'s port list).
    bit_period : int or Fraction
        UART clock cycles per bit (:func:`hw.spec.link.link_timing`).
    timeout_cycles, stall_cycles : int
        :func:`hw.spec.link.link_timing`.
    core : str
        The core's Verilog module name (an ``Instance``; its Verilog is added
        to the build beside this top).

    Members
    -------
    rx : In(1)
        The UART line from the host (idle high).
    tx : Out(1)
        The UART line to the host.
    rx_activity, tx_activity : Out(1)
        A byte was received / sent (for LEDs).
    """

    def __init__(self, addr_bits: int, *, bit_period, timeout_cycles: int, stall_cycles: int, core: str = "eavs_core"):
        self._MustUse__silence = True  # a rejected instance is not an unused one
        if not isinstance(addr_bits, int) or not 2 <= addr_bits <= 32:
            raise TypeError(f"BridgedCore addr_bits must be an integer in 2..32, not {addr_bits!r}")
        self._MustUse__silence = False
        self.core = core
        self.addr_bits = addr_bits
        self.bit_period, self.timeout_cycles, self.stall_cycles = bit_period, timeout_cycles, stall_cycles
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "rx_activity": Out(1), "tx_activity": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UARTRx(self.bit_period)
        m.submodules.rx_fifo = rxf = fifo.SyncFIFOBuffered(width=8, depth=16)
        m.submodules.bridge = bridge = LinkBridge(
            self.addr_bits, timeout_cycles=self.timeout_cycles, stall_cycles=self.stall_cycles, fifo_depth=RESULT_FIFO_DEPTH
        )
        m.submodules.uart_tx = utx = UARTTx(self.bit_period)
        m.d.comb += [
            urx.rx.eq(self.rx),
            self.tx.eq(utx.tx),
            rxf.w_data.eq(urx.o_stream.payload),
            rxf.w_en.eq(urx.o_stream.valid),
            urx.o_stream.ready.eq(rxf.w_rdy),
            bridge.rx.payload.eq(rxf.r_data),
            bridge.rx.valid.eq(rxf.r_rdy),
            rxf.r_en.eq(bridge.rx.ready),
            self.rx_activity.eq(urx.o_stream.valid),
            self.tx_activity.eq(~utx.tx),
        ]
        wiring.connect(m, bridge.tx, utx.i_stream)
        kw = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for name in bridge.m_axil.signature.members:
            kw[f"{'i' if name in _AXIL_TO_CORE else 'o'}_s_axil__{name}"] = getattr(bridge.m_axil, name)
        for name in ("tdata", "tvalid", "tlast"):
            kw[f"i_s_axis__{name}"] = getattr(bridge.m_axis, name)
            kw[f"o_m_axis__{name}"] = getattr(bridge.s_axis, name)
        kw["o_s_axis__tready"] = bridge.m_axis.tready
        kw["i_m_axis__tready"] = bridge.s_axis.tready
        m.submodules.core = Instance(self.core, **kw)
        return m


class Ulx3sTop(wiring.Component):
    """The ULX3S board: oscillator -> EHXPLLL -> :class:`BridgedCore` on the FT231X UART.

    Parameters
    ----------
    board : Board
        Its ``oscillator_mhz``, ``clock_mhz`` and ``baud`` set the PLL and the
        UART's bit period.
    addr_bits : int
        The core's AXI4-Lite address width.
    """

    def __init__(self, board: Board, addr_bits: int):
        self.board = board
        self.pll = ecp5_pll(board.oscillator_mhz, board.clock_mhz)
        self.timing = link_timing(board.clock_hz, board.baud)
        self.addr_bits = addr_bits
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        pll = self.pll
        m.submodules.clk25 = clk25 = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_pin = tx_pin = io.Buffer("o", uart.tx)
        leds = []
        for i in range(3):
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            leds.append(led)
        m.domains.sync = ClockDomain("sync")
        clk = Signal(name="pll_clk")
        locked = Signal(name="pll_locked")
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{pll.f_in_mhz:g}",
            a_FREQUENCY_PIN_CLKOP=f"{pll.f_out_mhz:g}",
            a_ICP_CURRENT="12",
            a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED",
            p_INTFB_WAKE="DISABLED",
            p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA",
            p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC",
            p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=pll.clki_div,
            p_CLKOP_ENABLE="ENABLED",
            p_CLKOP_DIV=pll.clkop_div,
            p_CLKOP_CPHASE=pll.clkop_cphase,
            p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=pll.clkfb_div,
            i_RST=0,
            i_STDBY=0,
            i_CLKI=clk25.i,
            o_CLKOP=clk,
            i_CLKFB=clk,
            i_PHASESEL0=0,
            i_PHASESEL1=0,
            i_PHASEDIR=1,
            i_PHASESTEP=1,
            i_PHASELOADREG=1,
            i_PLLWAKESYNC=0,
            i_ENCLKOP=0,
            o_LOCK=locked,
        )
        # no constraint here: nextpnr derives the core clock's from the 25 MHz pin's and
        # the PLL's dividers ("Derived frequency constraint of 15.0 MHz for net clk")
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        m.submodules.link = link = BridgedCore(self.addr_bits, **self.timing)
        m.d.comb += [
            link.rx.eq(rx_pin.i),
            tx_pin.o.eq(link.tx),
            leds[0].o.eq(locked),
            leds[1].o.eq(link.rx_activity),
            leds[2].o.eq(link.tx_activity),
        ]
        return m
