"""The ULX3S top (hw.rtl.ulx3s_top) as ordinary components: elaborated for the
amaranth-boards platform without running any tool, and the flow's port check
(hw.flow.ecp5.core_addr_bits) on a Verilog port list.

The PLL dividers are worked by hand from TN1263's f_out = f_in * CLKFB_DIV / CLKI_DIV.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from hw.flow.estimate import ToolError
from hw.spec.boards import get_board


def _rtlil(clock_mhz: float) -> str:
    pytest.importorskip("amaranth_boards")
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    from hw.rtl.ulx3s_top import Ulx3sTop

    board = dataclasses.replace(get_board("ulx3s-85f"), clock_mhz=clock_mhz)
    return ULX3S_85F_Platform().prepare(Ulx3sTop(board, 12), name="top").files["top.il"]


def _param(il: str, name: str) -> int:
    return int(re.search(rf"parameter \\{name} (\d+)", il).group(1))


def test_top_wires_pll_link_and_core():
    il = _rtlil(45.0)
    # 45 MHz = 25 MHz * 9 / 5 (boards.toml's note)
    assert (_param(il, "CLKI_DIV"), _param(il, "CLKFB_DIV")) == (5, 9)
    assert "cell \\eavs_core \\core" in il
    for port in ("s_axil__awaddr", "s_axis__tdata", "m_axis__tready"):
        assert f"connect \\{port} " in il
    il = _rtlil(100.0)
    assert 25 * _param(il, "CLKFB_DIV") == 100 * _param(il, "CLKI_DIV")


def test_bridged_core_rejects_bad_address_width():
    from hw.rtl.ulx3s_top import BridgedCore

    with pytest.raises(TypeError, match="addr_bits must be an integer in 2..32, not 40"):
        BridgedCore(40, bit_period=15, timeout_cycles=100, stall_cycles=100)


def test_flow_reads_the_core_address_width(tmp_path):
    from hw.flow.ecp5 import core_addr_bits

    v = tmp_path / "eavs_core.v"
    ports = ["input clk;", "input rst;", "input [11:0] s_axil__awaddr;", "input [31:0] s_axis__tdata;", "output [31:0] m_axis__tdata;"]
    v.write_text("module eavs_core(clk, rst, s_axil__awaddr, s_axis__tdata, m_axis__tdata);\n  " + "\n  ".join(ports) + "\nendmodule\n")
    assert core_addr_bits(v) == 12
    v.write_text("module eavs_core(clk, rst, s_axis__tdata);\n  " + "\n  ".join(ports[:2] + ports[3:4]) + "\nendmodule\n")
    with pytest.raises(ToolError, match=r"eavs_core lacks ports \['s_axil__awaddr', 'm_axis__tdata'\]"):
        core_addr_bits(v)
