"""python -m hw.generate writes Verilog whose ports cocotbext-axi and the build
flows bind by name."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hw.spec import regmap
from hw.spec.capacity import Capacity, CapacityError
from hw.flow.generate import parse_capacity

AXIL = ["awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
        "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"]


def test_parse_capacity():
    assert parse_capacity("lanes=4, max_neurons=0x20") == Capacity(lanes=4, max_neurons=32)
    assert parse_capacity("") == Capacity()
    with pytest.raises(CapacityError, match="unknown capacity field"):
        parse_capacity("lanez=4")
    with pytest.raises(CapacityError, match="needs an integer"):
        parse_capacity("lanes=four")
    with pytest.raises(CapacityError, match="key=value"):
        parse_capacity("lanes")


@pytest.mark.yosys
def test_generate_writes_eavs_core_with_axi_ports(tmp_path):
    spec = "lanes=4,max_layers=3,max_neurons=16,max_inputs=32,weight_depth=64,max_timesteps=8"
    out = subprocess.run([sys.executable, "-m", "hw.flow.generate", "--capacity", spec, "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "eavs_core.v").read_text()
    assert re.search(r"^module eavs_core\(", text, re.M)
    header = text[: text.index(");")]
    ports = set(re.findall(r"\b(\w+)\b", header))
    want = {"clk", "rst"} | {f"s_axil__{p}" for p in AXIL}
    want |= {f"s_axis__{p}" for p in ("tdata", "tvalid", "tready", "tlast")}
    want |= {f"m_axis__{p}" for p in ("tdata", "tvalid", "tready", "tlast")}
    assert want <= ports, want - ports
    cap = parse_capacity(spec)
    assert re.search(rf"input \[{regmap.address_bits(cap) - 1}:0\] s_axil__awaddr;", text)
    assert json.loads((tmp_path / "capacity.json").read_text()) == cap.to_dict()
    assert "CAP_LANES" in (tmp_path / "regmap.md").read_text()


def test_generate_reports_bad_capacity():
    out = subprocess.run([sys.executable, "-m", "hw.flow.generate", "--capacity", "lanes=0", "--out", "/nonexistent/x"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "lanes" in out.stderr and "Traceback" not in out.stderr
