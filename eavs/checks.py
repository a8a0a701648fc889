"""Checks of a whole command line before any stage runs.

A mistake in a board name, a data spec or a model option used to surface
after minutes of synthesis, encoding or Yosys. Every command that starts a
long stage calls these first; each raises :class:`CheckError` (a
``ValueError``, so ``eavs`` prints it as one line and exits 2) naming the
option, the value and what to do instead. The checks reuse the owning
module's own validation (``hw.spec.boards``, ``sw.data.parse_spec``,
``sw.model.ModelConfig``) so there is one definition of what is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["CheckError", "check_board", "check_data_spec", "check_model_options"]


class CheckError(ValueError):
    """A command-line value that cannot work; the message is one line."""


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def check_board(name: str, capacity: str = "", option: str = "--board"):
    """The board (``hw.spec.boards``) and its capacity with ``capacity`` overrides applied."""
    from hw.spec.boards import get_board, parse_capacity_overrides

    try:
        board = get_board(name)
    except (KeyError, ValueError) as e:
        raise CheckError(f"{option} {name!r}: {_one_line(e)}") from None
    try:
        return board, parse_capacity_overrides(capacity, board.capacity)
    except ValueError as e:
        raise CheckError(f"capacity overrides {capacity!r} for board {name!r}: {_one_line(e)}") from None


def check_data_spec(spec: str, *, option: str = "--data", npz: bool = False) -> None:
    """Kind and path of a data spec, without reading or writing any clip:
    :func:`sw.data.check_data_spec` (the one definition of what a spec may
    be: kind with a did-you-mean, options, an existing folder, a
    ``builtin:DIR`` that already holds a corpus), its message prefixed with
    the option that gave the spec."""
    from sw.data import check_data_spec as check

    try:
        check(spec, allow_npz=npz)
    except ValueError as e:
        raise CheckError(f"{option}: {_one_line(e)}") from None


#: Model fields -> the ``eavs train`` options that set them (named in errors).
TRAIN_OPTIONS = {"weight_bits": "--bits", "leak_shift": "--leak-shift", "beta": "--beta", "readout": "--readout", "reset": "--reset", "modalities": "--modalities",
                 "audio_hidden": "--hidden", "visual_hidden": "--hidden", "fusion_hidden": "--hidden"}  # fmt: skip


def check_model_options(labels: dict[str, str] | None = None, **options: Any) -> None:
    """Model options (``weight_bits``, ``leak_shift``, ``reset``, ``modalities``,
    layer sizes...) through ``sw.model.ModelConfig``'s own validation, with
    stand-in input sizes: no data is read. ``labels`` names the option that
    set each field (default: ``eavs train``'s)."""
    from sw.model import MODALITIES, ModelConfig

    names = TRAIN_OPTIONS if labels is None else labels
    known = set(ModelConfig.__dataclass_fields__)
    given = {k: v for k, v in options.items() if k in known and v is not None}
    try:
        ModelConfig(inputs={m: 1 for m in MODALITIES}, **given)
    except ValueError as e:
        msg = _one_line(e)
        opt = next((o for k, o in names.items() if k in msg and k in given), None)
        raise CheckError(f"{opt}: {msg}" if opt else msg) from None
