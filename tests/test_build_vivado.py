"""The generated Vivado flow, executed under ``tclsh`` with stand-in Vivado
commands that record every call and its arguments.

A Tcl syntax error, a command Vivado does not have (the stand-in refuses
unknown commands), a wrong order, a missing part, VLNV, DMA, address-map
entry or overlay name fails here even where Vivado is absent. A fake
``vivado`` executable built on the same stand-in then checks that
``python -m hw.build`` runs the flow when Vivado is on PATH and reads the
utilisation, WNS and power back from its reports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw.spec import regmap
from hw.spec.boards import get_board
from hw.spec.capacity import Capacity
from hw.flow.vivado import CORE_INSTANCE, DMA_INSTANCE, PS, parse_reports, write_project


pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh (Tcl 8.6) not installed")

SMALL = Capacity(lanes=2, max_layers=2, max_neurons=8, max_sources=2, max_inputs=16, weight_depth=64, max_timesteps=8)

#: Every Vivado command the flow may call; anything else is an error, as in Vivado.
VIVADO_COMMANDS = """
create_project add_files set_property get_property update_compile_order current_fileset current_project
close_project get_board_parts update_ip_catalog get_files make_wrapper generate_target launch_runs wait_on_run
get_runs open_run report_utilization report_timing_summary report_power get_timing_paths
create_bd_design create_bd_cell apply_bd_automation get_ipdefs get_bd_intf_pins get_bd_pins connect_bd_intf_net
connect_bd_net assign_bd_address get_bd_addr_spaces get_bd_addr_segs validate_bd_design save_bd_design
ipx::package_project ipx::current_core ipx::get_bus_interfaces ipx::remove_bus_interface ipx::add_bus_interface
ipx::add_port_map ipx::add_bus_parameter ipx::get_bus_parameters ipx::add_memory_map ipx::get_memory_maps
ipx::add_address_block ipx::get_address_blocks ipx::create_xgui_files ipx::update_checksums ipx::check_integrity
ipx::save_core
""".split()

STANDIN_TCL = r"""
# Stand-in Vivado: record each call (fields separated by \x1f) and return plausible handles.
set ::calls [open $::env(EAVS_CALLS) w]
set ::known [list %(known)s]
set ::project_dir ""
set ::stub_root [file normalize $::env(EAVS_STUB_ROOT)]
proc flag {args name {default ""}} {
    set i [lsearch -exact $args $name]
    if {$i < 0} { return $default }
    return [lindex $args [expr {$i + 1}]]
}
proc touch {path {text "stub"}} {
    file mkdir [file dirname $path]
    set fh [open $path w]; puts $fh $text; close $fh
}
rename unknown _tcl_unknown
proc unknown {cmd args} {
    if {[lsearch -exact $::known $cmd] < 0} {
        error "invalid command name \"$cmd\" (not a Vivado command known to the stand-in)"
    }
    set fields [list $cmd]
    foreach a $args { lappend fields [string map [list "\n" "\\n"] $a] }
    puts $::calls [join $fields "\x1f"]
    flush $::calls
    switch -- $cmd {
        create_project {
            if {[lsearch -exact $args -in_memory] < 0} { set ::project_dir [file normalize [lindex $args 1]] }
            return project
        }
        get_ipdefs { return "[string range [lindex $args end] 0 end-2]:9.9" }
        create_bd_cell { return [lindex $args end] }
        ipx::current_core { return core }
        current_project { return project }
        ipx::get_bus_interfaces { if {[lindex $args 0] eq "-of_objects"} { return {} }; return "bi:[lindex $args 0]" }
        ipx::add_port_map { return "pm:[lindex $args 0]" }
        get_board_parts - get_bd_intf_pins - get_bd_pins - get_bd_addr_segs - get_bd_addr_spaces - get_files {
            return [lindex $args end]
        }
        ipx::get_memory_maps { return "mm:[lindex $args 0]" }
        ipx::get_address_blocks { return "ab:[lindex $args 0]" }
        make_wrapper {
            set f [file join $::project_dir eavs.gen sources_1 bd eavs hdl eavs_wrapper.v]
            touch $f "module eavs_wrapper(); endmodule"
            return $f
        }
        generate_target {
            touch [file join $::project_dir eavs.gen sources_1 bd eavs hw_handoff eavs.hwh] "<hwh/>"
            return {}
        }
        get_runs { return "run:[lindex $args 0]" }
        wait_on_run {
            if {[lindex $args 0] eq "impl_1"} { touch [file join $::stub_root runs impl_1 eavs_wrapper.bit] "BIT" }
            return {}
        }
        get_property {
            set what [lindex $args 0]
            set obj [lindex $args 1]
            switch -- $what {
                PROGRESS { return "100%%" }
                SLACK { return 0.731 }
                NAME { return $obj }
                DIRECTORY {
                    if {$obj eq "project"} { return $::project_dir }
                    return [file join $::stub_root runs [string range $obj 4 end]]
                }
            }
            return {}
        }
        get_timing_paths { return [list path0] }
        report_utilization {
            touch [flag $args -file] [join [list \
                "| Slice LUTs                 | 4321 |     0 |     53200 |  8.12 |" \
                "| Slice Registers            | 5678 |     0 |    106400 |  5.34 |" \
                "| Block RAM Tile    |  12.5 |     0 |       140 |  8.93 |" \
                "| DSPs              |    3 |     0 |       220 |  1.36 |"] "\n"]
        }
        report_power {
            touch [flag $args -file] "| Total On-Chip Power (W)  | 1.678        |\n| Dynamic (W)              | 0.123        |"
        }
        report_timing_summary { touch [flag $args -file] "WNS 0.731" }
    }
    return {}
}
"""


def standin_tcl(tmp_path: Path) -> Path:
    path = tmp_path / "standin.tcl"
    path.write_text(STANDIN_TCL % {"known": " ".join(VIVADO_COMMANDS)})
    return path


def run_standin(tmp_path: Path, build_tcl: Path) -> list[list[str]]:
    calls = tmp_path / "calls.log"
    driver = tmp_path / "driver.tcl"
    driver.write_text(f"source {{{standin_tcl(tmp_path)}}}\nsource {{{build_tcl}}}\nclose $::calls\n")
    env = {**os.environ, "EAVS_CALLS": str(calls), "EAVS_STUB_ROOT": str(tmp_path / "stub")}
    proc = subprocess.run(["tclsh", str(driver)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, f"tclsh failed:\n{proc.stdout}\n{proc.stderr}"
    return [line.split("\x1f") for line in calls.read_text().splitlines()]


def index(calls, *prefix: str) -> int:
    """Position of the first call starting with ``prefix`` (fails if none)."""
    for i, c in enumerate(calls):
        if c[: len(prefix)] == list(prefix):
            return i
    raise AssertionError(f"no call {' '.join(prefix)}; calls: {[c[0] for c in calls]}")


def joined(calls) -> list[str]:
    return [" ".join(c) for c in calls]


@pytest.fixture(scope="module")
def core_v(tmp_path_factory) -> Path:
    """The real core's Verilog at a small capacity (``python -m hw.generate``)."""
    from hw.flow.build import generate_core

    return generate_core(SMALL, tmp_path_factory.mktemp("core"), progress=lambda m: None)


@pytest.mark.parametrize("board_name", ["pynq-z2", "zcu104", "kv260"])
def test_generated_flow_runs_under_tclsh_in_order(tmp_path, core_v, board_name):
    board = get_board(board_name)
    files = write_project(board, SMALL, core_v, tmp_path / "vivado")
    calls = run_standin(tmp_path, files["build"])
    text = joined(calls)
    ps = PS[board.ps]

    # Part: the IP packaging project and the overlay project both target the board's part.
    parts = [c for c in calls if c[0] == "create_project"]
    assert [c[1] for c in parts] == ["eavs_ip_pkg", "eavs"] and all(c[c.index("-part") + 1] == board.part for c in parts)

    # VLNV: packaged with hw.spec.regmap's, instantiated by it.
    vendor, library, name, version = regmap.VLNV.split(":")
    for prop, value in (("vendor", vendor), ("library", library), ("name", name), ("version", version)):
        assert f"set_property {prop} {value} core" in text
    assert index(calls, "create_bd_cell", "-type", "ip", "-vlnv", regmap.VLNV, CORE_INSTANCE) >= 0

    # Bus interfaces map every AXI signal to the Amaranth port names.
    assert "set_property physical_name s_axil__awaddr pm:AWADDR" in text
    assert "set_property physical_name m_axis__tlast pm:TLAST" in text

    # Register window: the IP's address block and the block design's address map use hw.spec.regmap's span.
    span = regmap.address_span(SMALL)
    assert f"set_property range {span} ab:reg0" in text
    core_seg = [c for c in calls if c[0] == "assign_bd_address" and c[-2:] == [f"{CORE_INSTANCE}/s_axil/reg0", "-force"]]
    assert len(core_seg) == 1, [c for c in calls if c[0] == "assign_bd_address"]
    c = core_seg[0]
    assert (c[c.index("-offset") + 1], c[c.index("-range") + 1]) == (f"0x{ps.core_base:08X}", f"0x{span:X}")
    assert c[c.index("-target_address_space") + 1] == "ps/Data"
    assert any(c[0] == "assign_bd_address" and f"{DMA_INSTANCE}/S_AXI_LITE/Reg" in c for c in calls)

    # PS, DMA, interconnect and the streams.
    assert index(calls, "create_bd_cell", "-type", "ip", "-vlnv", f"xilinx.com:ip:{ps.ip}:9.9", "ps") >= 0
    assert index(calls, "create_bd_cell", "-type", "ip", "-vlnv", "xilinx.com:ip:axi_dma:9.9", DMA_INSTANCE) >= 0
    assert index(calls, "create_bd_cell", "-type", "ip", "-vlnv", "xilinx.com:ip:smartconnect:9.9", "ctrl_ic") >= 0
    for a, b in [
        (f"ps/{ps.master}", "ctrl_ic/S00_AXI"),
        ("ctrl_ic/M00_AXI", f"{CORE_INSTANCE}/s_axil"),
        ("ctrl_ic/M01_AXI", f"{DMA_INSTANCE}/S_AXI_LITE"),
        (f"{DMA_INSTANCE}/M_AXIS_MM2S", f"{CORE_INSTANCE}/s_axis"),
        (f"{CORE_INSTANCE}/m_axis", f"{DMA_INSTANCE}/S_AXIS_S2MM"),
        ("mem_ic/M00_AXI", f"ps/{ps.hp}"),
    ]:
        assert f"connect_bd_intf_net {a} {b}" in text
    clock_net = next(c for c in calls if c[0] == "connect_bd_net" and c[1] == f"ps/{ps.clk}")
    assert f"{CORE_INSTANCE}/clk" in clock_net and f"{DMA_INSTANCE}/s_axi_lite_aclk" in clock_net
    assert f"connect_bd_net rst_ps/peripheral_reset {CORE_INSTANCE}/rst" in text
    # Order: package, project, IP catalog, design, validate, wrapper, synth, impl+bitstream, reports.
    order = [
        index(calls, "create_project", "eavs_ip_pkg"),
        index(calls, "ipx::package_project"),
        index(calls, "ipx::save_core"),
        index(calls, "create_project", "eavs"),
        index(calls, "update_ip_catalog"),
        index(calls, "create_bd_design", "eavs"),
        index(calls, "validate_bd_design"),
        index(calls, "save_bd_design"),
        index(calls, "make_wrapper"),
        index(calls, "generate_target"),
        index(calls, "launch_runs", "synth_1"),
        index(calls, "wait_on_run", "synth_1"),
        index(calls, "launch_runs", "impl_1", "-to_step", "write_bitstream"),
        index(calls, "wait_on_run", "impl_1"),
        index(calls, "open_run", "impl_1"),
        index(calls, "report_utilization"),
        index(calls, "report_power"),
    ]
    assert order == sorted(order), order
    # Clock: the PS fabric clock is set to the board's.
    ps_config = next(dict(zip(c[2].split()[::2], c[2].split()[1::2])) for c in calls if c[:2] == ["set_property", "-dict"] and c[3] == "ps")
    clock_key = next(k for k in ps_config if k.endswith("FREQMHZ"))
    assert float(ps_config[clock_key]) == board.clock_mhz

    # Overlay: eavs.bit and eavs.hwh side by side, PYNQ's naming.
    overlay = tmp_path / "vivado" / "overlay"
    assert (overlay / "eavs.bit").read_text().strip() == "BIT"
    assert (overlay / "eavs.hwh").read_text().strip() == "<hwh/>"
    got = parse_reports(tmp_path / "vivado" / "reports")
    assert got["used"] == {"lut": 4321, "ff": 5678, "bram": 12.5, "bram_kbits": 36, "dsp": 3}
    assert got["wns_ns"] == 0.731 and got["power_w"] == 1.678


def test_standin_rejects_a_misspelt_command(tmp_path):
    bad = tmp_path / "bad.tcl"
    bad.write_text("create_projcet x -part y\n")
    with pytest.raises(AssertionError, match="not a Vivado command"):
        run_standin(tmp_path, bad)


def test_tcl_syntax_error_fails(tmp_path, core_v):
    files = write_project(get_board("pynq-z2"), SMALL, core_v, tmp_path / "v")
    files["bd"].write_text(files["bd"].read_text().replace("proc eavs_latest_ip {prefix} {", "proc eavs_latest_ip {prefix} {{"))
    with pytest.raises(AssertionError, match="tclsh failed"):
        run_standin(tmp_path, files["build"])


def test_core_without_axis_port_is_refused(tmp_path, core_v):
    from hw.flow.estimate import ToolError

    broken = tmp_path / "eavs_core.v"
    text = core_v.read_text()
    assert "m_axis__tlast" in text
    broken.write_text(text.replace("m_axis__tlast", "m_axis__tlst"))
    with pytest.raises(ToolError, match=r"bus 'm_axis' lacks \['m_axis__tlast'\]"):
        write_project(get_board("pynq-z2"), SMALL, broken, tmp_path / "v")


@pytest.fixture
def fake_vivado(tmp_path) -> Path:
    """A ``vivado`` on PATH that runs ``-source FILE`` under tclsh with the stand-in."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    standin = standin_tcl(tmp_path)
    script = bindir / "vivado"
    script.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do if [ "$1" = -source ]; then src="$2"; fi; shift; done\n'
        f'printf "source {{{standin}}}\\nsource {{%s}}\\n" "$src" > "$EAVS_STUB_ROOT.driver.tcl"\n'
        'exec tclsh "$EAVS_STUB_ROOT.driver.tcl"\n'
    )
    script.chmod(0o755)
    return bindir


def test_build_runs_vivado_when_on_path(tmp_path, fake_vivado, core_v):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PATH": f"{fake_vivado}{os.pathsep}{os.environ['PATH']}",
        "EAVS_CALLS": str(tmp_path / "calls.log"),
        "EAVS_STUB_ROOT": str(tmp_path / "stub"),
    }
    caps = ",".join(f"{k}={v}" for k, v in SMALL.to_dict().items())
    proc = subprocess.run(
        [sys.executable, "-m", "hw.flow.build", "--board", "pynq-z2", "--out", str(out), "--capacity", caps,
         "--core-verilog", str(core_v)],
        capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["vivado"]["ran"] is True
    assert report["vivado"]["used"]["lut"] == 4321 and report["vivado"]["wns_ns"] == 0.731
    assert report["vivado"]["power_w"] == 1.678
    assert (out / "vivado" / "overlay" / "eavs.bit").is_file() and (out / "vivado" / "overlay" / "eavs.hwh").is_file()
    assert "WNS" in proc.stdout and "4321" in proc.stdout
    assert "yosys" not in report  # Vivado ran: no estimate needed
