"""hw.flow.build on a timing failure: the achieved clock in a one-line error, a
non-zero exit and no bitstream left behind (nextpnr itself is faked here;
the real flow is exercised by the yosys-marked build tests and bench.fmax)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hw.flow.ecp5
from hw.flow import build as hb
from hw.flow.estimate import ToolError

FAIL_LOG = """Info: Max frequency for clock '$glbnet$cd_sync.clk': 30.11 MHz (PASS at 25.00 MHz)
ERROR: Max frequency for clock '$glbnet$cd_sync.clk': 23.28 MHz (FAIL at 25.00 MHz)
"""


def test_nextpnr_fmax_takes_the_last_report_per_clock(tmp_path):
    log = tmp_path / "top.tim"
    log.write_text(FAIL_LOG)
    assert hb.nextpnr_fmax(log) == {"$glbnet$cd_sync.clk": {"achieved_mhz": 23.28, "constraint_mhz": 25.0, "pass": False}}
    assert hb.nextpnr_fmax(tmp_path / "missing.tim") is None


def _fake_flow(tmp_path, monkeypatch, log_text):
    def fake_build_ecp5(board, verilog, out_dir, progress=None, seed=1):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "top.tim").write_text(log_text)
        (out_dir / "top.bit").write_bytes(b"stale")
        raise ToolError("nextpnr-ecp5 place and route failed (exit 255)")

    monkeypatch.setattr(hw.flow.ecp5, "build_ecp5", fake_build_ecp5)
    core = tmp_path / "eavs_core.v"
    core.write_text("module eavs_core(); endmodule\n")
    return core


def test_timing_failure_names_the_clock_and_leaves_no_bitstream(tmp_path, monkeypatch, capsys):
    core = _fake_flow(tmp_path, monkeypatch, FAIL_LOG)
    out = tmp_path / "out"
    rc = hb.main(["--board", "ulx3s-85f", "--core-verilog", str(core), "--out", str(out), "--seed", "7"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "timing FAILED on ulx3s-85f: nextpnr (seed 7) achieved 23.28 MHz" in err
    assert "against the required 25 MHz; no bitstream written" in err
    assert not (out / "ecp5" / "top.bit").exists()


def test_other_tool_failures_pass_through(tmp_path, monkeypatch):
    core = _fake_flow(tmp_path, monkeypatch, "Info: no timing here\n")
    with pytest.raises(ToolError, match="exit 255") as e:
        hb.build("ulx3s-85f", tmp_path / "out", core_verilog=core, progress=lambda m: None)
    assert not isinstance(e.value, hb.TimingError)
