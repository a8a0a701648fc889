"""The Vivado batch flow for the Zynq boards: package ``eavs_core`` as IP,
build a PYNQ-style block design around it, run synthesis, implementation
and bitstream, and name the result as a PYNQ overlay (``eavs.bit`` +
``eavs.hwh``).

Everything is generated as plain Tcl files in the output directory so the
project is ready to run (``vivado -mode batch -source build.tcl``) on a
machine other than the one that generated it, and so the test suite can
execute it under ``tclsh`` with stand-in Vivado commands.

The block design (the same for both PS types, names from :data:`PS`)::

    PS master port --smartconnect ctrl_ic--+--> eavs_core_0/s_axil   (registers, hw.spec.regmap)
                                           +--> axi_dma/S_AXI_LITE
    axi_dma/M_AXIS_MM2S --> eavs_core_0/s_axis     (model image, events)
    eavs_core_0/m_axis  --> axi_dma/S_AXIS_S2MM    (result records)
    axi_dma/M_AXI_MM2S, M_AXI_S2MM --smartconnect mem_ic--> PS HP0 (DDR)
    PS clock 0 -> every clock; proc_sys_reset from the PS reset:
    peripheral_aresetn -> AXI resets, peripheral_reset -> eavs_core_0/rst

The register window's size is :func:`hw.spec.regmap.address_span` of the
bitstream's capacity and the IP is packaged with :data:`hw.spec.regmap.VLNV`, so
the PYNQ driver (``bindto = [VLNV]``) finds it in the ``.hwh``.

Pure Python; no amaranth.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hw.spec import regmap
from hw.spec.boards import Board, Resources
from hw.spec.capacity import Capacity
from hw.flow.estimate import ToolError, run_tool

__all__ = [
    "PS",
    "PsInfo",
    "CORE_INSTANCE",
    "DMA_INSTANCE",
    "OVERLAY_NAME",
    "write_project",
    "parse_reports",
    "run_vivado",
    "verilog_ports",
    "bus_port_maps",
]

CORE_INSTANCE = "eavs_core_0"
DMA_INSTANCE = "axi_dma"
#: PYNQ opens ``eavs.bit`` and reads ``eavs.hwh`` beside it.
OVERLAY_NAME = "eavs"
BD_NAME = "eavs"


@dataclass(frozen=True)
class PsInfo:
    """How one processing-system IP names the things the design connects."""

    ip: str
    master: str
    master_clk: str
    hp: str
    hp_clk: str
    clk: str
    resetn: str
    core_base: int
    dma_base: int
    config: tuple[tuple[str, str], ...]
    automation: str

    @staticmethod
    def clock_config(ps_ip: str, mhz: float) -> tuple[str, str]:
        key = "PCW_FPGA0_PERIPHERAL_FREQMHZ" if ps_ip == "processing_system7" else "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"
        return (f"CONFIG.{key}", f"{mhz:g}")


PS: dict[str, PsInfo] = {
    "processing_system7": PsInfo(
        ip="processing_system7",
        master="M_AXI_GP0",
        master_clk="M_AXI_GP0_ACLK",
        hp="S_AXI_HP0",
        hp_clk="S_AXI_HP0_ACLK",
        clk="FCLK_CLK0",
        resetn="FCLK_RESET0_N",
        # PYNQ-Z1/Z2 overlays conventionally place their IP in the GP0 window here.
        core_base=0x43C0_0000,
        dma_base=0x4040_0000,
        config=(("CONFIG.PCW_USE_M_AXI_GP0", "1"), ("CONFIG.PCW_USE_S_AXI_HP0", "1")),
        automation="xilinx.com:bd_rule:processing_system7",
    ),
    "zynq_ultra_ps_e": PsInfo(
        ip="zynq_ultra_ps_e",
        master="M_AXI_HPM0_FPD",
        master_clk="maxihpm0_fpd_aclk",
        hp="S_AXI_HP0_FPD",
        hp_clk="saxihp0_fpd_aclk",
        clk="pl_clk0",
        resetn="pl_resetn0",
        core_base=0xA000_0000,
        dma_base=0xA001_0000,
        config=(
            ("CONFIG.PSU__USE__M_AXI_GP0", "1"),
            ("CONFIG.PSU__USE__M_AXI_GP1", "0"),
            ("CONFIG.PSU__USE__M_AXI_GP2", "0"),
            ("CONFIG.PSU__USE__S_AXI_GP2", "1"),
        ),
        automation="xilinx.com:bd_rule:zynq_ultra_ps_e",
    ),
}


# -- the core's ports ----------------------------------------------------------------

_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+|signed\s+)*(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?([A-Za-z_][\w$]*)\s*[;,)]?")


def verilog_ports(verilog: str | Path, top: str = "eavs_core") -> dict[str, tuple[str, int]]:
    """``name: (direction, width)`` of module ``top`` in a Verilog file, in
    declaration order (the form Amaranth/Yosys writes: one declaration per
    line)."""
    return parse_ports(Path(verilog).read_text(), top)


def parse_ports(text: str, top: str = "eavs_core") -> dict[str, tuple[str, int]]:
    """:func:`verilog_ports` on Verilog source text."""
    m = re.search(rf"\bmodule\s+\\?{re.escape(top)}\b(.*?)\bendmodule\b", text, re.S)
    if not m:
        raise ToolError(f"module {top!r} not found in the core's Verilog")
    ports: dict[str, tuple[str, int]] = {}
    for line in m.group(1).splitlines():
        pm = _PORT.match(line)
        if pm:
            direction, msb, lsb, name = pm.groups()
            width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
            ports[name] = (direction, width)
    if not ports:
        raise ToolError(f"module {top!r} declares no ports")
    return ports


_AXIL = ("awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
         "araddr", "arprot", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready")  # fmt: skip
_AXIS = ("tdata", "tvalid", "tready", "tlast", "tkeep", "tstrb", "tuser", "tid", "tdest")
#: bus interface -> (its ports' prefix, IP-XACT bus type, mode, the signals it may have, the ones it must have)
BUSES = {
    "s_axil": ("aximm", "slave", _AXIL, ("awaddr", "awvalid", "awready", "wdata", "wvalid", "wready", "bresp", "bvalid",
                                         "bready", "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready")),
    "s_axis": ("axis", "slave", _AXIS, ("tdata", "tvalid", "tready", "tlast")),
    "m_axis": ("axis", "master", _AXIS, ("tdata", "tvalid", "tready", "tlast")),
}  # fmt: skip


def bus_port_maps(ports: dict[str, tuple[str, int]]) -> dict[str, list[tuple[str, str]]]:
    """``bus: [(LOGICAL, physical)]`` for the core's three bus interfaces.

    Amaranth names interface members ``bus__signal``; the logical names are
    the upper-cased AXI signal names Vivado's bus definitions use.
    """
    missing_clk = [p for p in ("clk", "rst") if p not in ports]
    if missing_clk:
        raise ToolError(f"eavs_core has no {missing_clk} port(s); ports: {list(ports)}")
    maps: dict[str, list[tuple[str, str]]] = {}
    for bus, (_, _, known, required) in BUSES.items():
        have = [(sig.upper(), f"{bus}__{sig}") for sig in known if f"{bus}__{sig}" in ports]
        lacking = [s for s in required if f"{bus}__{s}" not in ports]
        if lacking:
            raise ToolError(f"eavs_core bus {bus!r} lacks {[f'{bus}__{s}' for s in lacking]}; ports: {list(ports)}")
        maps[bus] = have
    return maps


# -- Tcl generation ----------------------------------------------------------------------


def _tcl_str(s: str) -> str:
    """Quote ``s`` as one Tcl word."""
    return "{" + s + "}" if re.fullmatch(r"[^{}\\\n]*", s) else '"' + re.sub(r'([\\$\[\]"])', r"\\\1", s) + '"'


def _package_ip_tcl(board: Board, span: int, maps: dict[str, list[tuple[str, str]]]) -> str:
    vendor, library, name, version = regmap.VLNV.split(":")
    lines = [
        f"# Package eavs_core as Vivado IP {regmap.VLNV}. Generated by hw/flow/vivado.py.",
        "set here [file dirname [file normalize [info script]]]",
        f"create_project eavs_ip_pkg [file join $here ip_pkg] -part {board.part} -force",
        "add_files -norecurse [file join $here src eavs_core.v]",
        "set_property top eavs_core [current_fileset]",
        "update_compile_order -fileset sources_1",
        f"ipx::package_project -root_dir [file join $here ip_repo eavs_core] -vendor {vendor} -library {library} "
        "-taxonomy /UserIP -import_files -set_current true",
        "set core [ipx::current_core]",
        f"set_property vendor {vendor} $core",
        f"set_property library {library} $core",
        f"set_property name {name} $core",
        f"set_property version {version} $core",
        "set_property display_name {EAVS-TF spiking core} $core",
        "set_property description {EAVS-TF LIF neuron array and spike-routing fabric (AXI4-Lite registers, AXI4-Stream events/results)} $core",
        "# Explicit bus interfaces (Amaranth's a__b port names defeat Vivado's inference).",
        "foreach bi [ipx::get_bus_interfaces -of_objects $core] {",
        "    ipx::remove_bus_interface [get_property NAME $bi] $core",
        "}",
    ]
    for bus, (kind, mode, _, _) in BUSES.items():
        lines += [
            f"ipx::add_bus_interface {bus} $core",
            f"set bi [ipx::get_bus_interfaces {bus} -of_objects $core]",
            f"set_property abstraction_type_vlnv xilinx.com:interface:{kind}_rtl:1.0 $bi",
            f"set_property bus_type_vlnv xilinx.com:interface:{kind}:1.0 $bi",
            f"set_property interface_mode {mode} $bi",
        ]
        for logical, physical in maps[bus]:
            lines.append(f"set_property physical_name {physical} [ipx::add_port_map {logical} $bi]")
    lines += [
        "ipx::add_bus_interface clk $core",
        "set bi [ipx::get_bus_interfaces clk -of_objects $core]",
        "set_property abstraction_type_vlnv xilinx.com:signal:clock_rtl:1.0 $bi",
        "set_property bus_type_vlnv xilinx.com:signal:clock:1.0 $bi",
        "set_property interface_mode slave $bi",
        "set_property physical_name clk [ipx::add_port_map CLK $bi]",
        "ipx::add_bus_parameter ASSOCIATED_BUSIF $bi",
        "set_property value s_axil:s_axis:m_axis [ipx::get_bus_parameters ASSOCIATED_BUSIF -of_objects $bi]",
        "ipx::add_bus_parameter ASSOCIATED_RESET $bi",
        "set_property value rst [ipx::get_bus_parameters ASSOCIATED_RESET -of_objects $bi]",
        f"ipx::add_bus_parameter FREQ_HZ $bi",
        f"set_property value {int(board.clock_hz)} [ipx::get_bus_parameters FREQ_HZ -of_objects $bi]",
        "ipx::add_bus_interface rst $core",
        "set bi [ipx::get_bus_interfaces rst -of_objects $core]",
        "set_property abstraction_type_vlnv xilinx.com:signal:reset_rtl:1.0 $bi",
        "set_property bus_type_vlnv xilinx.com:signal:reset:1.0 $bi",
        "set_property interface_mode slave $bi",
        "set_property physical_name rst [ipx::add_port_map RST $bi]",
        "ipx::add_bus_parameter POLARITY $bi",
        "set_property value ACTIVE_HIGH [ipx::get_bus_parameters POLARITY -of_objects $bi]",
        "# The register window: hw.spec.regmap.address_span(capacity) bytes.",
        "ipx::add_memory_map s_axil $core",
        "set_property slave_memory_map_ref s_axil [ipx::get_bus_interfaces s_axil -of_objects $core]",
        "set mm [ipx::get_memory_maps s_axil -of_objects $core]",
        "ipx::add_address_block reg0 $mm",
        f"set_property range {span} [ipx::get_address_blocks reg0 -of_objects $mm]",
        "set_property width 32 [ipx::get_address_blocks reg0 -of_objects $mm]",
        "ipx::create_xgui_files $core",
        "ipx::update_checksums $core",
        "ipx::check_integrity $core",
        "ipx::save_core $core",
        "close_project",
        "",
    ]
    return "\n".join(lines)


def _bd_tcl(board: Board, span: int) -> str:
    ps = PS[board.ps]
    clk_key, clk_val = PsInfo.clock_config(ps.ip, board.clock_mhz)
    config = " ".join(f"{k} {{{v}}}" for k, v in ps.config + ((clk_key, clk_val),))
    c, d = CORE_INSTANCE, DMA_INSTANCE
    lines = [
        f"# Block design {BD_NAME!r}: {ps.ip}, AXI DMA and eavs_core. Generated by hw/flow/vivado.py.",
        "# Expects $board_preset (1 when the board part is installed).",
        "proc eavs_latest_ip {prefix} {",
        "    set defs [lsort [get_ipdefs -all -quiet ${prefix}:*]]",
        "    if {[llength $defs] == 0} { error \"eavs: IP ${prefix} is not in the catalog\" }",
        "    return [lindex $defs end]",
        "}",
        f"create_bd_design {BD_NAME}",
        f"set ps [create_bd_cell -type ip -vlnv [eavs_latest_ip xilinx.com:ip:{ps.ip}] ps]",
        *(
            # Zynq-7000: DDR and FIXED_IO must become ports whether or not the board preset exists.
            [f"apply_bd_automation -rule {ps.automation} -config [list make_external {{FIXED_IO, DDR}} apply_board_preset $board_preset] $ps"]
            if ps.ip == "processing_system7"
            # Zynq UltraScale+: DDR and MIO are internal to the PS; the preset only sets the board's PS options.
            else [f"if {{$board_preset}} {{ apply_bd_automation -rule {ps.automation} -config [list apply_board_preset 1] $ps }}"]
        ),
        f"set_property -dict [list {config}] $ps",
        f"set core [create_bd_cell -type ip -vlnv {regmap.VLNV} {c}]",
        f"set dma [create_bd_cell -type ip -vlnv [eavs_latest_ip xilinx.com:ip:axi_dma] {d}]",
        "set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26} CONFIG.c_include_mm2s {1} "
        "CONFIG.c_include_s2mm {1} CONFIG.c_m_axis_mm2s_tdata_width {32} CONFIG.c_s_axis_s2mm_tdata_width {32} "
        "CONFIG.c_mm2s_burst_size {16} CONFIG.c_s2mm_burst_size {16}] $dma",
        "set ctrl_ic [create_bd_cell -type ip -vlnv [eavs_latest_ip xilinx.com:ip:smartconnect] ctrl_ic]",
        "set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {2}] $ctrl_ic",
        "set mem_ic [create_bd_cell -type ip -vlnv [eavs_latest_ip xilinx.com:ip:smartconnect] mem_ic]",
        "set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] $mem_ic",
        "set rst [create_bd_cell -type ip -vlnv [eavs_latest_ip xilinx.com:ip:proc_sys_reset] rst_ps]",
        "# Registers: PS master -> ctrl_ic -> core and DMA control.",
        f"connect_bd_intf_net [get_bd_intf_pins ps/{ps.master}] [get_bd_intf_pins ctrl_ic/S00_AXI]",
        f"connect_bd_intf_net [get_bd_intf_pins ctrl_ic/M00_AXI] [get_bd_intf_pins {c}/s_axil]",
        f"connect_bd_intf_net [get_bd_intf_pins ctrl_ic/M01_AXI] [get_bd_intf_pins {d}/S_AXI_LITE]",
        "# Streams: events and model images in, result records out.",
        f"connect_bd_intf_net [get_bd_intf_pins {d}/M_AXIS_MM2S] [get_bd_intf_pins {c}/s_axis]",
        f"connect_bd_intf_net [get_bd_intf_pins {c}/m_axis] [get_bd_intf_pins {d}/S_AXIS_S2MM]",
        "# DMA to DDR through the PS high-performance port.",
        f"connect_bd_intf_net [get_bd_intf_pins {d}/M_AXI_MM2S] [get_bd_intf_pins mem_ic/S00_AXI]",
        f"connect_bd_intf_net [get_bd_intf_pins {d}/M_AXI_S2MM] [get_bd_intf_pins mem_ic/S01_AXI]",
        f"connect_bd_intf_net [get_bd_intf_pins mem_ic/M00_AXI] [get_bd_intf_pins ps/{ps.hp}]",
        f"# One clock: the PS fabric clock at {board.clock_mhz:g} MHz.",
        f"connect_bd_net [get_bd_pins ps/{ps.clk}] [get_bd_pins ps/{ps.master_clk}] [get_bd_pins ps/{ps.hp_clk}] "
        f"[get_bd_pins ctrl_ic/aclk] [get_bd_pins mem_ic/aclk] [get_bd_pins {d}/s_axi_lite_aclk] "
        f"[get_bd_pins {d}/m_axi_mm2s_aclk] [get_bd_pins {d}/m_axi_s2mm_aclk] [get_bd_pins {c}/clk] "
        "[get_bd_pins rst_ps/slowest_sync_clk]",
        f"connect_bd_net [get_bd_pins ps/{ps.resetn}] [get_bd_pins rst_ps/ext_reset_in]",
        f"connect_bd_net [get_bd_pins rst_ps/peripheral_aresetn] [get_bd_pins {d}/axi_resetn] "
        "[get_bd_pins ctrl_ic/aresetn] [get_bd_pins mem_ic/aresetn]",
        f"connect_bd_net [get_bd_pins rst_ps/peripheral_reset] [get_bd_pins {c}/rst]",
        "# Address map: the core's register window (hw.spec.regmap) and the DMA's registers.",
        f"assign_bd_address -offset 0x{ps.core_base:08X} -range 0x{span:X} "
        f"-target_address_space [get_bd_addr_spaces ps/Data] [get_bd_addr_segs {c}/s_axil/reg0] -force",
        f"assign_bd_address -offset 0x{ps.dma_base:08X} -range 0x10000 "
        f"-target_address_space [get_bd_addr_spaces ps/Data] [get_bd_addr_segs {d}/S_AXI_LITE/Reg] -force",
        "assign_bd_address",
        "validate_bd_design",
        "save_bd_design",
        "",
    ]
    return "\n".join(lines)


def _build_tcl(board: Board, jobs: int) -> str:
    return "\n".join(
        [
            f"# EAVS-TF overlay for {board.name} ({board.part}). Generated by hw/flow/vivado.py.",
            "# Run: vivado -mode batch -nojournal -source build.tcl",
            "set here [file dirname [file normalize [info script]]]",
            f"set part {board.part}",
            f"set board_part {_tcl_str(board.board_part or '')}",
            f"set jobs {jobs}",
            "file mkdir [file join $here reports] [file join $here overlay]",
            "puts \"eavs: packaging eavs_core as IP\"",
            "source [file join $here package_ip.tcl]",
            "puts \"eavs: creating the project for $part\"",
            "create_project eavs [file join $here eavs_proj] -part $part -force",
            "set board_preset 0",
            "if {$board_part ne \"\" && [llength [get_board_parts -quiet $board_part]] > 0} {",
            "    set_property board_part $board_part [current_project]",
            "    set board_preset 1",
            "} else {",
            "    puts \"eavs: WARNING: board part '$board_part' not installed; bare part $part, PS without board preset\"",
            "}",
            "set_property ip_repo_paths [list [file join $here ip_repo]] [current_project]",
            "update_ip_catalog -rebuild",
            "puts \"eavs: block design\"",
            "source [file join $here bd.tcl]",
            f"set bd [get_files {BD_NAME}.bd]",
            "add_files -norecurse [make_wrapper -files $bd -top]",
            f"set_property top {BD_NAME}_wrapper [current_fileset]",
            "update_compile_order -fileset sources_1",
            "generate_target all $bd",
            "puts \"eavs: synthesis\"",
            "launch_runs synth_1 -jobs $jobs",
            "wait_on_run synth_1",
            "if {[get_property PROGRESS [get_runs synth_1]] ne \"100%\"} {",
            "    error \"eavs: synthesis failed; see [get_property DIRECTORY [get_runs synth_1]]/runme.log\"",
            "}",
            "puts \"eavs: implementation and bitstream\"",
            "launch_runs impl_1 -to_step write_bitstream -jobs $jobs",
            "wait_on_run impl_1",
            "if {[get_property PROGRESS [get_runs impl_1]] ne \"100%\"} {",
            "    error \"eavs: implementation failed; see [get_property DIRECTORY [get_runs impl_1]]/runme.log\"",
            "}",
            "open_run impl_1",
            "report_utilization -file [file join $here reports utilization.rpt]",
            "report_timing_summary -file [file join $here reports timing.rpt]",
            "report_power -file [file join $here reports power.rpt]",
            "set wns [get_property SLACK [lindex [get_timing_paths -max_paths 1 -nworst 1 -setup] 0]]",
            "set fh [open [file join $here reports summary.txt] w]",
            "puts $fh \"wns_ns $wns\"",
            "close $fh",
            f"puts \"eavs: writing overlay {OVERLAY_NAME}.bit + {OVERLAY_NAME}.hwh\"",
            f"set bit [file join [get_property DIRECTORY [get_runs impl_1]] {BD_NAME}_wrapper.bit]",
            f"file copy -force $bit [file join $here overlay {OVERLAY_NAME}.bit]",
            "set proj [get_property DIRECTORY [current_project]]",
            f"set hwh [lindex [glob -nocomplain [file join $proj eavs.gen sources_1 bd {BD_NAME} hw_handoff {BD_NAME}.hwh] "
            f"[file join $proj eavs.srcs sources_1 bd {BD_NAME} hw_handoff {BD_NAME}.hwh]] 0]",
            "if {$hwh eq \"\"} { error \"eavs: no hardware handoff (.hwh) was generated\" }",
            f"file copy -force $hwh [file join $here overlay {OVERLAY_NAME}.hwh]",
            "puts \"eavs: done\"",
            "",
        ]
    )


def write_project(board: Board, capacity: Capacity, verilog: Path, out_dir: Path, jobs: int = 4) -> dict[str, Path]:
    """Write the ready-to-run Vivado project for ``board`` into ``out_dir``.

    Layout: ``src/eavs_core.v``, ``package_ip.tcl``, ``bd.tcl``,
    ``build.tcl`` (the entry point); Vivado then fills ``ip_repo/``,
    ``eavs_proj/``, ``reports/`` and ``overlay/eavs.{bit,hwh}``.
    """
    if board.flow != "vivado":
        raise ValueError(f"board {board.name!r} uses flow {board.flow!r}, not vivado")
    if board.ps not in PS:
        raise ValueError(f"board {board.name!r}: no Vivado block design for ps {board.ps!r}")
    out_dir = Path(out_dir)
    (out_dir / "src").mkdir(parents=True, exist_ok=True)
    src = out_dir / "src" / "eavs_core.v"
    if Path(verilog).resolve() != src.resolve():
        shutil.copyfile(verilog, src)
    maps = bus_port_maps(verilog_ports(src))
    span = regmap.address_span(capacity)
    files = {
        "package_ip": out_dir / "package_ip.tcl",
        "bd": out_dir / "bd.tcl",
        "build": out_dir / "build.tcl",
    }
    files["package_ip"].write_text(_package_ip_tcl(board, span, maps))
    files["bd"].write_text(_bd_tcl(board, span))
    files["build"].write_text(_build_tcl(board, jobs))
    files["verilog"] = src
    return files


# -- reports -------------------------------------------------------------------------------

_UTIL_ROWS = {
    "lut": ("Slice LUTs", "CLB LUTs"),
    "ff": ("Slice Registers", "CLB Registers"),
    "bram": ("Block RAM Tile",),
    "dsp": ("DSPs",),
}


def parse_reports(reports: Path, bram_kbits: int = 36) -> dict:
    """Utilisation, WNS and power from the reports ``build.tcl`` writes."""
    reports = Path(reports)
    out: dict = {}
    util = (reports / "utilization.rpt").read_text()
    used = {}
    for key, labels in _UTIL_ROWS.items():
        for label in labels:
            m = re.search(rf"^\|\s*{re.escape(label)}\*?\s*\|\s*([\d.]+)\s*\|", util, re.M)
            if m:
                used[key] = float(m.group(1)) if key == "bram" else int(float(m.group(1)))
                break
        else:
            raise ToolError(f"{reports / 'utilization.rpt'}: no '{labels[0]}' row")
    out["used"] = Resources(bram_kbits=bram_kbits, **used).to_dict()
    summary = (reports / "summary.txt").read_text()
    m = re.search(r"wns_ns\s+(-?[\d.]+)", summary)
    if not m:
        raise ToolError(f"{reports / 'summary.txt'}: no WNS")
    out["wns_ns"] = float(m.group(1))
    power = (reports / "power.rpt").read_text()
    m = re.search(r"Total On-Chip Power \(W\)\s*\|\s*([\d.]+)", power)
    if not m:
        raise ToolError(f"{reports / 'power.rpt'}: no total on-chip power")
    out["power_w"] = float(m.group(1))
    m = re.search(r"Dynamic \(W\)\s*\|\s*([\d.]+)", power)
    if m:
        out["dynamic_power_w"] = float(m.group(1))
    return out


def vivado_path() -> str | None:
    return shutil.which("vivado")


def run_vivado(project: dict[str, Path], board: Board, progress: Callable[[str], None] | None = None) -> dict:
    """Run ``build.tcl`` in batch mode; return the parsed reports."""
    exe = vivado_path()
    if exe is None:
        raise ToolError("vivado is not on PATH")
    build = project["build"]
    out_dir = build.parent
    took = run_tool(
        [exe, "-mode", "batch", "-nojournal", "-log", str(out_dir / "vivado.log"), "-source", str(build)],
        out_dir, out_dir / "vivado.stdout", "vivado", progress, timeout=6 * 3600,
    )  # fmt: skip
    result = parse_reports(out_dir / "reports", board.resources.bram_kbits)
    result["seconds"] = round(took, 1)
    result["clock_mhz"] = board.clock_mhz
    for name in (f"{OVERLAY_NAME}.bit", f"{OVERLAY_NAME}.hwh"):
        if not (out_dir / "overlay" / name).is_file():
            raise ToolError(f"vivado finished but {out_dir / 'overlay' / name} is missing")
    result["overlay"] = [str(out_dir / "overlay" / f"{OVERLAY_NAME}.bit"), str(out_dir / "overlay" / f"{OVERLAY_NAME}.hwh")]
    return result
