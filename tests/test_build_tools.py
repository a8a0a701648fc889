"""The pieces around the tools: running one (failure, timeout, progress),
and reading what Yosys and nextpnr report."""

from __future__ import annotations

import json
import sys

import pytest

from hw.spec.boards import get_board
from hw.flow.ecp5 import parse_nextpnr_report
from hw.flow.estimate import ToolError, parse_yosys_stat, run_tool
from hw.flow.vivado import bus_port_maps, parse_ports


def test_run_tool_failure_shows_exit_code_and_log_tail(tmp_path):
    with pytest.raises(ToolError, match=r"(?s)demo failed \(exit 3\).*boom"):
        run_tool([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], tmp_path, tmp_path / "log", "demo")


def test_run_tool_times_out_instead_of_hanging(tmp_path):
    with pytest.raises(ToolError, match=r"demo: timed out after 1 s"):
        run_tool([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path, tmp_path / "log", "demo", timeout=1)


def test_run_tool_reports_progress(tmp_path):
    seen = []
    took = run_tool([sys.executable, "-c", "print('hi')"], tmp_path, tmp_path / "log", "demo", seen.append)
    assert took >= 0 and seen[-1].startswith("demo: done in")
    assert (tmp_path / "log").read_text().strip() == "hi"


def test_parse_yosys_stat_counts_lutram_and_half_brams():
    stat = {"design": {"num_cells_by_type": {
        "LUT1": 1, "LUT6": 10, "RAM32M": 2, "SRLC32E": 3, "FDRE": 7, "FDSE": 1, "FDCE": 2,
        "RAMB36E1": 2, "RAMB18E1": 3, "DSP48E1": 4, "CARRY4": 9, "MUXF7": 5, "BUFG": 1,
    }}}  # fmt: skip
    res, cells = parse_yosys_stat(stat)
    assert (res.lut, res.ff, res.bram, res.dsp) == (1 + 10 + 8 + 3, 10, 3.5, 4)
    assert cells["CARRY4"] == 9


def test_parse_nextpnr_report(tmp_path):
    rep = {
        "utilization": {
            "TRELLIS_COMB": {"used": 4000, "available": 83640},
            "TRELLIS_FF": {"used": 1400, "available": 83640},
            "DP16KD": {"used": 3, "available": 208},
            "MULT18X18D": {"used": 0, "available": 156},
        },
        "fmax": {"$glbnet$clk": {"achieved": 47.07, "constraint": 25.0}, "other": {"achieved": 90.0, "constraint": 25.0}},
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rep))
    got = parse_nextpnr_report(path, get_board("ulx3s-85f"))
    assert got["used"] == {"lut": 4000, "ff": 1400, "bram": 3.0, "bram_kbits": 18, "dsp": 0}
    assert got["fmax_mhz"] == 47.07 and got["meets_timing"] is True  # the slowest clock
    rep["fmax"] = {}
    path.write_text(json.dumps(rep))
    with pytest.raises(ToolError, match="no Fmax"):
        parse_nextpnr_report(path, get_board("ulx3s-85f"))


VERILOG = """
module other(input a); endmodule
module eavs_core(clk, rst, s_axil__awaddr, s_axis__tdata, m_axis__tvalid);
  input clk;
  wire clk;
  input rst;
  input [11:0] s_axil__awaddr;
  input [31:0] s_axis__tdata;
  output reg m_axis__tvalid;
endmodule
"""


def test_parse_ports_and_missing_bus_signals():
    ports = parse_ports(VERILOG)
    assert ports == {
        "clk": ("input", 1), "rst": ("input", 1), "s_axil__awaddr": ("input", 12),
        "s_axis__tdata": ("input", 32), "m_axis__tvalid": ("output", 1),
    }  # fmt: skip
    with pytest.raises(ToolError, match=r"bus 's_axil' lacks \['s_axil__awvalid'"):
        bus_port_maps(ports)
    with pytest.raises(ToolError, match="module 'nope' not found"):
        parse_ports(VERILOG, "nope")


def test_only_all_zero_memory_initialisers_are_dropped():
    from hw.flow.estimate import without_zero_meminit

    text = (
        "module m;\n  reg [7:0] a [1:0];\n  initial begin\n    a[0] = 8'h00;\n    a[1] = 8'h00;\n  end\n"
        "  reg [7:0] b [1:0];\n  initial begin\n    b[0] = 8'h00;\n    b[1] = 8'h2a;\n  end\nendmodule\n"
    )
    out, n = without_zero_meminit(text)
    assert n == 1
    assert "a[0] = " not in out and "b[1] = 8'h2a;" in out and "b[0] = 8'h00;" in out


def test_nextpnr_critical_path_takes_the_last_report_per_clock(tmp_path):
    from hw.flow.build import nextpnr_critical_path

    def block(clock, src, sink, logic, routing):
        return (
            f"Info: Critical path report for clock '{clock}' (posedge -> posedge):\n"
            "Info: curr total\n"
            f"Info:  0.5  0.5  Source {src}.Q\n"
            "Info:  1.0  1.5    Net n1 budget 0.1 ns (1,1) -> (2,2)\n"
            "Info:                Sink mid_LUT4_Z.B\n"
            "Info:  0.2  1.7  Source mid_LUT4_Z.F\n"
            "Info:  0.8  2.5    Net n2 budget 0.1 ns (2,2) -> (3,3)\n"
            f"Info:                Sink {sink}.DI\n"
            f"Info:  0.0  2.5  Setup {sink}.DI\n"
            f"Info: {logic} ns logic, {routing} ns routing\n\n"
        )

    log = tmp_path / "top.tim"
    log.write_text(
        block("$glbnet$clk", "placed_ff", "placed_sink", 1.0, 2.0)  # post-place: superseded
        + "Info: Critical path report for cross-domain path '<async>' -> 'posedge clk':\nInfo:  0.0  0.0  Source pin.O\n"
        "Info:                Sink x.DI\nInfo: 0.1 ns logic, 0.2 ns routing\n\n"
        + block("$glbnet$clk", "link.framer.k_TRELLIS_FF_Q", "link.framer.r_len_TRELLIS_FF_Q_3", 0.7, 1.8)
    )
    assert nextpnr_critical_path(log) == {
        "$glbnet$clk": {"from": "link.framer.k_TRELLIS_FF_Q.Q", "to": "link.framer.r_len_TRELLIS_FF_Q_3.DI", "logic_ns": 0.7, "routing_ns": 1.8}
    }
    assert nextpnr_critical_path(tmp_path / "missing.tim") == {}
