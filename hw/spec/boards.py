"""The boards a bitstream can be built for, read from ``boards.toml``.

Pure Python (standard library + :mod:`hw.spec.capacity`): the host driver reads a
board's power rails from here on the board itself, where there is no
amaranth. Every way the file can be wrong raises :class:`BoardError` naming
the file, the line and the field, because the user edits this file by hand.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (PYNQ board images): the same parser as a package
    import tomli as tomllib

from hw.spec.capacity import Capacity, CapacityError

__all__ = [
    "BOARDS_TOML",
    "FLOWS",
    "FAMILIES",
    "PS_TYPES",
    "BoardError",
    "Resources",
    "Board",
    "load_boards",
    "get_board",
    "parse_capacity_overrides",
]

#: The project's board file, at the repository root.
BOARDS_TOML = Path(__file__).resolve().parents[2] / "boards.toml"

FLOWS = ("vivado", "ecp5")
FAMILIES = {"vivado": ("xc7", "xcup"), "ecp5": ("ecp5",)}
PS_TYPES = {"xc7": "processing_system7", "xcup": "zynq_ultra_ps_e", "ecp5": "none"}
RAILS_SOURCES = ("pynq", "hwmon", "none")


class BoardError(ValueError):
    """``boards.toml`` is malformed, or a board name is unknown."""


@dataclass(frozen=True)
class Resources:
    """A part's budget (or a design's usage) of the four resources that size
    an accelerator.

    Attributes
    ----------
    lut, ff : int
        Logic cells: LUT6 on Xilinx, LUT4 on ECP5; flip-flops.
    bram : float
        Block RAMs in units of the part's block (RAMB36 on Xilinx, 18 kbit
        EBR on ECP5); a usage may be fractional (a RAMB18 is half a RAMB36).
    bram_kbits : int
        Size of one block, in kbit: 36 on Xilinx, 18 on ECP5.
    dsp : int
        DSP slices (DSP48E1/E2 on Xilinx, MULT18X18D on ECP5).
    """

    lut: int
    ff: int
    bram: float
    bram_kbits: int
    dsp: int

    def to_dict(self) -> dict[str, float]:
        return {"lut": self.lut, "ff": self.ff, "bram": self.bram, "bram_kbits": self.bram_kbits, "dsp": self.dsp}

    def ratios(self, used: "Resources") -> dict[str, float]:
        """``used`` as a fraction of this budget, per resource."""
        return {k: (getattr(used, k) / getattr(self, k) if getattr(self, k) else math.inf) for k in ("lut", "ff", "bram", "dsp")}


@dataclass(frozen=True)
class Board:
    """One entry of ``boards.toml``.

    Attributes
    ----------
    name : str
        The table name (``pynq-z2``), as given to ``--board``.
    flow : str
        ``vivado`` or ``ecp5``.
    part, family : str
        Vendor part name; ``xc7`` / ``xcup`` / ``ecp5``.
    clock_mhz : float
        Fabric clock of the core.
    ps : str
        ``processing_system7``, ``zynq_ultra_ps_e`` or ``none``.
    capacity : Capacity
        The default capacity of this board's bitstream.
    resources : Resources
        The part's budget.
    rails : tuple of str
        Power-rail names for measured energy; empty if the board has none.
    rails_source : str
        How the rails are read: ``pynq``, ``hwmon`` or ``none``.
    board_part : str or None
        Vivado board part, if known.
    platform : str or None
        ECP5: ``module:Class`` of the amaranth-boards platform.
    oscillator_mhz : float or None
        ECP5: the board oscillator that the PLL turns into ``clock_mhz``.
    baud : int or None
        ECP5: the host link's UART baud rate (:mod:`hw.spec.link`).
    openfpgaloader_board : str or None
        ECP5: the board's name for ``openFPGALoader --board`` (``eavs deploy``).
    """

    name: str
    flow: str
    part: str
    family: str
    clock_mhz: float
    ps: str
    capacity: Capacity
    resources: Resources
    rails: tuple[str, ...] = ()
    rails_source: str = "none"
    board_part: str | None = None
    platform: str | None = None
    description: str = ""
    line: int = 0
    oscillator_mhz: float | None = None
    baud: int | None = None
    openfpgaloader_board: str | None = None

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "flow": self.flow,
            "part": self.part,
            "family": self.family,
            "clock_mhz": self.clock_mhz,
            "ps": self.ps,
            "board_part": self.board_part,
            "platform": self.platform,
            "oscillator_mhz": self.oscillator_mhz,
            "baud": self.baud,
            "openfpgaloader_board": self.openfpgaloader_board,
            "rails": list(self.rails),
            "rails_source": self.rails_source,
            "capacity": self.capacity.to_dict(),
            "resources": self.resources.to_dict(),
        }


# -- locating things in the file, for error messages ----------------------------

_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")


def _locate(text: str, table: str, key: str | None = None) -> int:
    """Line (1-based) of ``key`` inside ``[table]``, else of the table's
    header, else 0 (unknown)."""
    current = None
    header_line = 0
    for no, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = m.group(1).replace('"', "").replace("'", "").replace(" ", "")
            if current == table:
                header_line = no
            continue
        if key is not None and current == table:
            k = _KEY.match(line)
            if k and k.group(1).strip("\"'") == key:
                return no
    return header_line


class _Ctx:
    """Builds error messages of the form ``FILE:LINE: board 'x' field 'y': ...``."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.text = text

    def fail(self, message: str, table: str = "boards", key: str | None = None) -> BoardError:
        line = _locate(self.text, table, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        return BoardError(f"{where}: {message}")


def _need(ctx: _Ctx, d: dict, key: str, kind: type | tuple, table: str, board: str) -> Any:
    if key not in d:
        raise ctx.fail(f"board {board!r}: missing field {key!r}", table)
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ctx.fail(f"board {board!r}: field {key!r} must be a {names}, not {value!r}", table, key)
    return value


_BOARD_KEYS = {
    "description", "flow", "part", "family", "clock_mhz", "ps", "board_part", "platform",
    "rails", "rails_source", "capacity", "resources", "oscillator_mhz", "baud", "openfpgaloader_board",
}  # fmt: skip
_RESOURCE_KEYS = ("lut", "ff", "bram", "bram_kbits", "dsp")


def _parse_board(ctx: _Ctx, name: str, d: Any) -> Board:
    table = f"boards.{name}"
    if not isinstance(d, dict):
        raise ctx.fail(f"board {name!r} must be a table [boards.{name}], not {d!r}", "boards", name)
    unknown = sorted(set(d) - _BOARD_KEYS)
    if unknown:
        raise ctx.fail(f"board {name!r}: unknown field {unknown[0]!r}; known: {sorted(_BOARD_KEYS)}", table, unknown[0])
    flow = _need(ctx, d, "flow", str, table, name)
    if flow not in FLOWS:
        raise ctx.fail(f"board {name!r}: field 'flow' must be one of {list(FLOWS)}, not {flow!r}", table, "flow")
    family = _need(ctx, d, "family", str, table, name)
    if family not in FAMILIES[flow]:
        raise ctx.fail(
            f"board {name!r}: field 'family' must be one of {list(FAMILIES[flow])} for flow {flow!r}, not {family!r}",
            table, "family",
        )  # fmt: skip
    part = _need(ctx, d, "part", str, table, name)
    if not part.strip():
        raise ctx.fail(f"board {name!r}: field 'part' is empty", table, "part")
    clock = _need(ctx, d, "clock_mhz", (int, float), table, name)
    if not 0 < clock <= 1000:
        raise ctx.fail(f"board {name!r}: field 'clock_mhz' must be in (0, 1000], not {clock!r}", table, "clock_mhz")
    ps = _need(ctx, d, "ps", str, table, name)
    if ps != PS_TYPES[family]:
        raise ctx.fail(f"board {name!r}: field 'ps' must be {PS_TYPES[family]!r} for family {family!r}, not {ps!r}", table, "ps")
    rails = d.get("rails", [])
    if not isinstance(rails, list) or not all(isinstance(r, str) and r for r in rails):
        raise ctx.fail(f"board {name!r}: field 'rails' must be a list of non-empty strings, not {rails!r}", table, "rails")
    rails_source = d.get("rails_source", "none")
    if rails_source not in RAILS_SOURCES:
        raise ctx.fail(
            f"board {name!r}: field 'rails_source' must be one of {list(RAILS_SOURCES)}, not {rails_source!r}", table, "rails_source"
        )
    if rails and rails_source == "none":
        raise ctx.fail(f"board {name!r}: rails {rails} given but rails_source is 'none'", table, "rails_source")
    platform = d.get("platform")
    if flow == "ecp5":
        if not isinstance(platform, str) or ":" not in platform:
            raise ctx.fail(
                f"board {name!r}: an ecp5 board needs field 'platform' = \"module:Class\" (amaranth-boards), not {platform!r}",
                table, "platform",
            )  # fmt: skip
    elif platform is not None:
        raise ctx.fail(f"board {name!r}: field 'platform' is only for ecp5 boards", table, "platform")
    oscillator = baud = loader_board = None
    if flow == "ecp5":
        from hw.spec.ecp5_pll import PllError, ecp5_pll, uart_period

        oscillator = float(_need(ctx, d, "oscillator_mhz", (int, float), table, name))
        try:
            ecp5_pll(oscillator, float(clock))
        except PllError as e:
            raise ctx.fail(f"board {name!r}: field 'clock_mhz': {e}", table, "clock_mhz") from None
        baud = _need(ctx, d, "baud", int, table, name)
        try:
            uart_period(float(clock) * 1e6, baud)
        except PllError as e:
            raise ctx.fail(f"board {name!r}: field 'baud': {e}", table, "baud") from None
        loader_board = _need(ctx, d, "openfpgaloader_board", str, table, name)
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", loader_board):
            raise ctx.fail(f"board {name!r}: field 'openfpgaloader_board' must be a board name of `openFPGALoader --list-boards`, not {loader_board!r}", table, "openfpgaloader_board")
    else:
        for key in ("oscillator_mhz", "baud", "openfpgaloader_board"):
            if key in d:
                raise ctx.fail(f"board {name!r}: field {key!r} is only for ecp5 boards (a serial host link)", table, key)
    board_part = d.get("board_part")
    if board_part is not None and not isinstance(board_part, str):
        raise ctx.fail(f"board {name!r}: field 'board_part' must be a string, not {board_part!r}", table, "board_part")
    description = d.get("description", "")
    if not isinstance(description, str):
        raise ctx.fail(f"board {name!r}: field 'description' must be a string, not {description!r}", table, "description")

    cap_d = d.get("capacity")
    cap_table = f"{table}.capacity"
    if not isinstance(cap_d, dict):
        raise ctx.fail(f"board {name!r}: missing table [{cap_table}] (its default capacity)", table)
    try:
        capacity = Capacity.from_dict(cap_d, where=f"board {name!r} [{cap_table}]")
    except CapacityError as e:
        key = next((k for k in cap_d if repr(k) in str(e)), None)
        raise ctx.fail(str(e), cap_table, key) from None

    res_d = d.get("resources")
    res_table = f"{table}.resources"
    if not isinstance(res_d, dict):
        raise ctx.fail(f"board {name!r}: missing table [{res_table}] (the part's LUT/FF/BRAM/DSP budget)", table)
    unknown = sorted(set(res_d) - set(_RESOURCE_KEYS))
    if unknown:
        raise ctx.fail(f"board {name!r}: unknown resource {unknown[0]!r}; known: {list(_RESOURCE_KEYS)}", res_table, unknown[0])
    vals = {}
    for key in _RESOURCE_KEYS:
        v = _need(ctx, res_d, key, int, res_table, name)
        if v < 1:
            raise ctx.fail(f"board {name!r}: resource {key!r} must be a positive integer, not {v!r}", res_table, key)
        vals[key] = v
    return Board(
        name=name,
        flow=flow,
        part=part,
        family=family,
        clock_mhz=float(clock),
        ps=ps,
        capacity=capacity,
        resources=Resources(**vals),
        rails=tuple(rails),
        rails_source=rails_source,
        board_part=board_part,
        platform=platform,
        oscillator_mhz=oscillator,
        baud=baud,
        openfpgaloader_board=loader_board,
        description=description,
        line=_locate(ctx.text, table),
    )


def load_boards(path: str | Path | None = None) -> dict[str, Board]:
    """Read and validate every board of ``path`` (default: the project's
    ``boards.toml``), in file order.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    BoardError
        Malformed TOML (with the parser's line and column) or a board
        entry that breaks the schema above (with the entry's line).
    """
    path = Path(path) if path is not None else BOARDS_TOML
    if not path.is_file():
        raise FileNotFoundError(f"board file not found: {path}")
    text = path.read_text(encoding="utf-8")
    ctx = _Ctx(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path}: malformed TOML: {e}") from None
    unknown = sorted(set(doc) - {"boards"})
    if unknown:
        raise ctx.fail(f"unknown top-level entry {unknown[0]!r}; boards are tables [boards.NAME]", unknown[0], None)
    boards = doc.get("boards")
    if not isinstance(boards, dict) or not boards:
        raise BoardError(f"{path}: no boards: expected tables [boards.NAME]")
    return {name: _parse_board(ctx, name, d) for name, d in boards.items()}


def get_board(name: str, path: str | Path | None = None) -> Board:
    """The board called ``name``; an unknown name lists the known ones."""
    boards = load_boards(path)
    if name not in boards:
        raise BoardError(f"unknown board {name!r}; boards in {path or BOARDS_TOML}: {', '.join(boards)}")
    return boards[name]


def parse_capacity_overrides(text: str | None, base: Capacity) -> Capacity:
    """Apply ``"lanes=16,weight_depth=4096"`` to ``base``.

    Raises :class:`~hw.spec.capacity.CapacityError` naming the bad item.
    """
    if not text:
        return base
    changes: dict[str, int] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise CapacityError(f"--capacity: expected key=value, not {item!r}")
        try:
            changes[key] = int(value, 0)
        except ValueError:
            raise CapacityError(f"--capacity: {key} must be an integer, not {value!r}") from None
    return base.replace(**changes) if changes else base
