"""Checks of a whole command line before any stage runs.

A mistake in a board name, a data spec or a model option used to surface
after minutes of synthesis, encoding or Yosys. Every command that starts a
long stage calls these first; each raises :class:`CheckError` (a
``ValueError``, so ``eavs`` prints it as one line and exits 2) naming the
option, the value and what to do instead. The checks reuse the owning
module's own validation (``hw.boards``, ``sw.data.parse_spec``,
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
    """The board (``hw.boards``) and its capacity with ``capacity`` overrides applied."""
    from hw.boards import get_board, parse_capacity_overrides

    try:
        board = get_board(name)
    except (KeyError, ValueError) as e:
        raise CheckError(f"{option} {name!r}: {_one_line(e)}") from None
    try:
        return board, parse_capacity_overrides(capacity, board.capacity)
    except ValueError as e:
        raise CheckError(f"capacity overrides {capacity!r} for board {name!r}: {_one_line(e)}") from None


def check_data_spec(spec: str, *, option: str = "--data", npz: bool = False) -> None:
    """Kind and path of a data spec, without reading or writing any clip.

    ``builtin:DIR`` must name a folder that holds a corpus (its
    ``sw.data.synth.MANIFEST``: only ``eavs data synth`` and the demo's own
    cache create corpora); ``ravdess:DIR`` and
    ``cremad:DIR`` an existing folder; ``npz:FILE`` (when ``npz``) a file.
    When ``sw.data`` offers its own cheap spec check (``validate_spec``),
    it is called too, so new kinds and rules are picked up here.
    """
    import sw.data as data

    if npz and isinstance(spec, str) and spec.startswith("npz:"):
        path = Path(spec[4:])
        if not path.is_file():
            raise CheckError(f"{option} {spec!r}: {path} is not a file (npz:FILE names a file of encoded spikes)")
        return
    try:
        kind, root, _ = data.parse_spec(spec)
    except ValueError as e:
        kinds = "builtin:DIR, ravdess:DIR, cremad:DIR" + (", npz:FILE" if npz else "")
        raise CheckError(f"{option}: {_one_line(e)} (accepted: {kinds})") from None
    hook = getattr(data, "validate_spec", None)
    if callable(hook):  # the data branch's own check, once it exists
        try:
            hook(spec)
        except ValueError as e:
            raise CheckError(f"{option}: {_one_line(e)}") from None
    if root.exists() and not root.is_dir():
        raise CheckError(f"{option} {spec!r}: {root} is a file, not a folder")
    if kind == "builtin" and root.is_dir():
        from sw.data.synth import MANIFEST

        if not (root / MANIFEST).is_file():
            raise CheckError(
                f"{option} {spec!r}: {root} holds no synthetic corpus (no {MANIFEST}); "
                f"make one with `eavs data synth --out NEW_DIR`"
            )
    if not root.is_dir():
        if kind == "builtin":
            raise CheckError(
                f"{option} {spec!r}: no corpus folder {root}; make one with `eavs data synth --out {root}`"
            )
        raise CheckError(f"{option} {spec!r}: no folder {root} (the {kind} data set must be downloaded there first)")


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
