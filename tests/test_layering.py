"""DESIGN.md section 2: the board-side modules import neither torch nor amaranth.

Checked in a fresh interpreter, since a test process has long imported both.
"""

import subprocess
import sys

import pytest

BOARD_SIDE = [
    "sw.qnet",
    "sw.golden",
    "sw.events",
    "sw.encode",
    "sw.energy",
    "sw.random_net",
    "sw.data",
    "hw.capacity",
    "hw.regmap",
    "hw.protocol",
    "hw.boards",
    "host",
    "host.driver",
    "host.board",
    "host.energy",
    "host.golden_backend",
    "host.rtl",
    "host.deploy",
]


@pytest.mark.parametrize("module", BOARD_SIDE)
def test_board_side_module_imports_no_torch_or_amaranth(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'amaranth', 'brevitas'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
