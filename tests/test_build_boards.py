"""boards.toml parsing, its errors, default capacities and the resource
pre-check that runs before any tool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hw.spec.boards import BOARDS_TOML, BoardError, get_board, load_boards, parse_capacity_overrides
from hw.spec.capacity import Capacity, CapacityError
from hw.flow.estimate import analytic_estimate, check_fits, memory_blocks
from sw.qnet import InputGroup, Layer, QNet, Source

REQUIRED = {
    "pynq-z1": ("xc7z020clg400-1", "processing_system7"),
    "pynq-z2": ("xc7z020clg400-1", "processing_system7"),
    "zcu104": ("xczu7ev-ffvc1156-2-e", "zynq_ultra_ps_e"),
    "kv260": (None, "zynq_ultra_ps_e"),
    "ultra96v2": (None, "zynq_ultra_ps_e"),
    "ulx3s-85f": (None, "none"),
}


def reference_model() -> QNet:
    """The model every board's default capacity must hold: 576 inputs in two
    groups, three 128-neuron recurrent hidden layers, 8 outputs, 3 sources
    per layer (the widest sources each layer could take), T = 100."""
    rng = np.random.default_rng(0)
    groups = [InputGroup("audio", 288), InputGroup("visual", 288)]
    sizes = {"audio": 288, "visual": 288, "h0": 128, "h1": 128, "h2": 128}

    def src(name, n, delay=0):
        return Source(name, rng.integers(-7, 8, size=(sizes[name], n)).astype(np.int16), 4, delay)

    layers = [
        Layer("h0", 128, [src("audio", 128), src("visual", 128), src("h0", 128, 1)], 64, 4),
        Layer("h1", 128, [src("h0", 128), src("h1", 128, 1), src("visual", 128)], 64, 4),
        Layer("h2", 128, [src("h1", 128), src("h2", 128, 1), src("h0", 128)], 64, 4),
        Layer("out", 8, [src("h2", 8), src("h1", 8), src("h0", 8)], 1 << 14, 0, spiking=False),
    ]
    return QNet([f"c{i}" for i in range(8)], 100, groups, layers).validate()


def test_required_boards_present_with_parts_and_ps():
    boards = load_boards()
    for name, (part, ps) in REQUIRED.items():
        assert name in boards, f"{name} missing from {BOARDS_TOML}"
        b = boards[name]
        if part:
            assert b.part == part
        assert b.ps == ps
        assert b.clock_mhz > 0
        assert b.resources.lut > 0 and b.resources.bram > 0
    assert boards["ulx3s-85f"].flow == "ecp5"
    assert {"12V", "INT"} <= set(boards["zcu104"].rails)
    assert boards["kv260"].rails_source == "hwmon" and boards["kv260"].rails


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_default_capacity_fits_reference_model_and_device(name):
    board = get_board(name)
    net = reference_model()
    assert board.capacity.problems(net) == []
    report = check_fits(board, board.capacity)
    assert all(0 < r <= 1 for k, r in report["ratios"].items() if k != "dsp")


def test_reference_model_is_really_at_the_limit_of_the_smallest_board():
    """Not a vacuous check: half the smallest weight memory no longer holds it."""
    board = get_board("ulx3s-85f")
    cap = board.capacity.replace(weight_depth=board.capacity.weight_depth // 2)
    assert any("weight_depth" in p for p in cap.problems(reference_model()))


def test_unknown_board_lists_the_boards():
    with pytest.raises(BoardError, match=r"unknown board 'nope'.*pynq-z2.*ulx3s-85f"):
        get_board("nope")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "boards.toml"
    p.write_text(text)
    return p


GOOD = (BOARDS_TOML.read_text().split("[boards.pynq-z2]")[0]).split("[boards.pynq-z1]")[1]
GOOD = "[boards.pynq-z1]" + GOOD


def test_copy_of_one_entry_parses(tmp_path):
    assert list(load_boards(_write(tmp_path, GOOD))) == ["pynq-z1"]


def test_malformed_toml_names_line(tmp_path):
    p = _write(tmp_path, GOOD + "\n[boards.x\nflow = 1\n")
    with pytest.raises(BoardError, match=r"malformed TOML.*line \d+"):
        load_boards(p)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.mark.parametrize(
    "old,new,pattern",
    [
        ('part = "xc7z020clg400-1"', "part = 7", r"field 'part' must be a str, not 7"),
        ('flow = "vivado"', 'flow = "quartus"', r"field 'flow' must be one of \['vivado', 'ecp5'\], not 'quartus'"),
        ("clock_mhz = 100.0", "clock_mhz = -5", r"field 'clock_mhz' must be in"),
        ('ps = "processing_system7"', 'ps = "zynq_ultra_ps_e"', r"field 'ps' must be 'processing_system7'"),
        ("lanes = 16", "lanes = 0", r"'lanes' must be a positive integer, not 0"),
        ("lanes = 16", "lane = 16", r"unknown capacity field\(s\) \['lane'\]"),
        ("dsp = 220", "dsp = 2.5", r"field 'dsp' must be a int, not 2.5"),
        ("rails = []", "rails = [1]", r"field 'rails' must be a list of non-empty strings"),
    ],
)
def test_bad_field_names_board_field_and_line(tmp_path, old, new, pattern):
    text = GOOD.replace(old, new)
    assert text != GOOD
    p = _write(tmp_path, text)
    with pytest.raises(BoardError, match=pattern) as exc:
        load_boards(p)
    msg = str(exc.value)
    assert "'pynq-z1'" in msg
    assert msg.startswith(f"{p}:{_line_of(text, new)}:"), msg


def test_missing_field_and_table(tmp_path):
    with pytest.raises(BoardError, match=r":1: board 'pynq-z1': missing field 'part'"):
        load_boards(_write(tmp_path, GOOD.replace('part = "xc7z020clg400-1"\n', "")))
    no_res = GOOD.split("[boards.pynq-z1.resources]")[0]
    with pytest.raises(BoardError, match=r"missing table \[boards.pynq-z1.resources\]"):
        load_boards(_write(tmp_path, no_res))


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="board file not found"):
        load_boards("/nonexistent/boards.toml")


def test_capacity_overrides():
    base = Capacity()
    cap = parse_capacity_overrides("lanes=4, weight_depth=0x100", base)
    assert (cap.lanes, cap.weight_depth, cap.v_bits) == (4, 256, base.v_bits)
    with pytest.raises(CapacityError, match=r"unknown capacity field\(s\) \['lans'\]"):
        parse_capacity_overrides("lans=4", base)
    with pytest.raises(CapacityError, match=r"lanes must be an integer, not 'x'"):
        parse_capacity_overrides("lanes=x", base)
    with pytest.raises(CapacityError, match=r"expected key=value, not 'lanes'"):
        parse_capacity_overrides("lanes", base)


def test_memory_blocks_arithmetic():
    # 128 x 16384: the 4K x 9 aspect ratio (parity bits used as data) wins,
    # 15 x 4 = 60 RAMB36, against 64 for the power-of-two widths.
    assert memory_blocks(128, 16384, 36) == 60
    # Tiny memories still take half a RAMB36 (one RAMB18).
    assert memory_blocks(16, 512, 36) == 0.5
    # ECP5 EBR: 64 x 32768 -> 2 Mbit / 16 kbit = 128.
    assert memory_blocks(64, 32768, 18) == 128
    # Wide shallow memory: 72-bit blocks.
    assert memory_blocks(72 * 3, 512, 36) == 3


def test_capacity_that_cannot_fit_is_refused_before_tools():
    board = get_board("pynq-z2")
    big = board.capacity.replace(lanes=64, weight_depth=65536)
    with pytest.raises(CapacityError, match=r"board 'pynq-z2'.*cannot fit.*block RAM: at least [\d.]+ blocks.*> 140 on xc7z020clg400-1"):
        check_fits(board, big)
    est, per_memory = analytic_estimate(big, 36)
    assert per_memory["weights"] == -(-64 * 8 // 9) * (65536 // 4096)


def test_hw_boards_and_estimate_are_board_side_pure():
    code = "import sys, hw.spec.boards, hw.flow.estimate; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch','amaranth')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
