"""docs/design.md section 2: the board-side modules import neither torch nor amaranth.

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
    "sw.stream",
    "sw.energy",
    "sw.adaptive",
    "sw.cascade",
    "sw.random_net",
    "sw.data",
    "sw.fields",
    "hw.spec.capacity",
    "hw.spec.regmap",
    "hw.spec.protocol",
    "hw.spec.boards",
    "host",
    "host.driver",
    "host.board",
    "host.energy",
    "host.golden_backend",
    "host.rtl",
    "host.deploy",
    "host.live",
    "host.live_sources",
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


# hw/ has three rooms; an import may only point down: flow -> rtl -> spec.
HW_RANK = {"spec": 0, "rtl": 1, "flow": 2}


def _imported_modules(path):
    """Every absolute module name a source file imports (read with ast, nothing run)."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
    return out


def _hw_room(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "hw" and parts[1] in HW_RANK else None


def test_hw_imports_point_only_down():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    bad = []
    for room, rank in HW_RANK.items():
        for f in sorted((root / "hw" / room).rglob("*.py")):
            for mod in _imported_modules(f):
                other = _hw_room(mod)
                if other is not None and HW_RANK[other] > rank:
                    bad.append(f"{f.relative_to(root)} imports {mod}")
    assert bad == []


def test_host_imports_only_the_hardware_contract():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    bad = []
    for f in sorted((root / "host").rglob("*.py")):
        for mod in _imported_modules(f):
            if mod.split(".")[0] == "hw" and _hw_room(mod) != "spec" and mod not in ("hw", "hw.spec"):
                bad.append(f"{f.relative_to(root)} imports {mod}")
    assert bad == []
