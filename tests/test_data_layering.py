"""docs/design.md section 2 for the data side: sw.data uses numpy, soundfile and
OpenCV but no torch or amaranth; sw.encode (it runs on the board) numpy only."""

import subprocess
import sys

import pytest

FORBIDDEN = {
    "sw.encode": ("torch", "amaranth", "brevitas", "cv2", "soundfile", "scipy"),
    "sw.data": ("torch", "amaranth", "brevitas"),
    "sw.data.synth": ("torch", "amaranth", "brevitas"),
}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_data_modules_import_only_what_their_layer_allows(module):
    code = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN[module]!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
