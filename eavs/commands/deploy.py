"""``eavs deploy``: put the bitstream, model and board-side code on a board.

Open boards (ECP5, e.g. ``eavs deploy --board ulx3s-85f --bitstream build/ulx3s-85f``)
are programmed over USB with openFPGALoader (:func:`host.deploy.program_command`);
the host then drives them with ``eavs eval --backend serial --port /dev/ttyUSB0``.

PYNQ boards:

``eavs deploy --board NAME --model M.qnet --bitstream DIR_OR_BIT [--host ADDRESS]``
writes the bundle of :mod:`host.deploy` (overlay, model, the ``host`` driver
and the numpy-only ``sw``/``hw`` modules, the notebook, optional clips) and,
with ``--host``, copies it to the board over ssh/scp and prints how to start.
``--dry-run`` prints the copy commands without running them.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)


def deploy(
    board: str = typer.Option(..., "--board", help="Board name in boards.toml (e.g. zcu104, pynq-z2)."),
    model: Optional[List[Path]] = typer.Option(None, "--model", help=".qnet model(s) to put on a PYNQ board (open boards load them from the host)."),
    bitstream: Optional[Path] = typer.Option(
        None, "--bitstream", help="eavs.bit (with eavs.hwh beside it) or a `python -m hw.build` output folder."
    ),
    host_address: Optional[str] = typer.Option(None, "--host", help="Board address; without it only the bundle is written."),
    user: str = typer.Option("xilinx", "--user", help="ssh user on the board."),
    dest: str = typer.Option("/home/xilinx/eavs", "--dest", help="Folder on the board."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the bundle (default: a temporary folder)."),
    clips: Optional[Path] = typer.Option(None, "--clips", help="Folder of RAVDESS-named example clips to include."),
    max_clips: int = typer.Option(16, "--max-clips", help="At most this many clips."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the copy (or programming) commands instead of running them."),
    flash: bool = typer.Option(False, "--flash", help="Open boards: write the SPI flash (kept at power-off) instead of the FPGA's SRAM."),
    cable: Optional[str] = typer.Option(None, "--cable", help="Open boards: an openFPGALoader cable other than the board's own."),
) -> None:
    """PYNQ boards: bundle overlay + model + board-side code and copy it to --host.
    Open (ECP5) boards: program the bitstream with openFPGALoader."""
    from host.deploy import copy_commands, make_bundle, program_command
    from hw.spec.boards import get_board

    if get_board(board).flow == "ecp5":
        from host.deploy import DeployError, openfpgaloader_path

        loader = None
        if dry_run:
            try:
                openfpgaloader_path()
            except DeployError:
                loader = "openFPGALoader"  # only printed
        cmd = program_command(board, bitstream or Path("build") / board, flash=flash, cable=cable, loader=loader)
        typer.echo("$ " + " ".join(cmd))
        if not dry_run:
            proc = subprocess.run(cmd)
            if proc.returncode != 0:
                raise RuntimeError(f"openFPGALoader failed with exit status {proc.returncode} (is the board plugged in? `{cmd[0]} --detect`)")
            typer.echo(f"programmed {board}; now: eavs eval --backend serial --port /dev/ttyUSB0 --model M.qnet --data ...")
        return
    if not model:
        raise typer.BadParameter("--model is required for a PYNQ board", param_hint="--model")

    if bitstream is None:
        typer.secho("no --bitstream: the bundle runs the golden back-end only", fg="yellow", err=True)
    folder = out or Path(tempfile.mkdtemp(prefix="eavs-bundle-"))
    bundle = make_bundle(folder, board, list(model), bitstream, clips, max_clips)
    typer.echo(f"bundle for {board} written to {bundle.path}: overlay {'yes' if bundle.bitstream else 'no'}, "
               f"{len(bundle.models)} model(s), {bundle.clips} clip(s)")
    if host_address is None:
        typer.echo(f"copy it to the board, e.g.: scp -r {bundle.path}/* {user}@<board>:{dest}/")
        typer.echo(bundle.run_text(dest))
        return
    for cmd in copy_commands(bundle.path, host_address, user, dest):
        typer.echo("$ " + " ".join(cmd))
        if not dry_run:
            proc = subprocess.run(cmd)
            if proc.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd[:2])} ...` failed with exit status {proc.returncode}")
    typer.echo(bundle.run_text(dest))
