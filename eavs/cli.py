"""The ``eavs`` command: one entry point for every stage of the flow.

Each stage's commands live in their own module under :mod:`eavs.commands`
and expose ``register(app)``; this file only assembles them and turns the
project's own errors into one clear line and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

import eavs.commands

def _plain_argument_usage() -> None:
    """Show required arguments as ``NAME`` in usage lines, as click and man pages do.

    typer 0.29 writes them as ``{name}``, which reads like an unfilled
    template placeholder. Its private hook is replaced only when present.
    """
    from typer.core import TyperArgument

    if not hasattr(TyperArgument, "_usage_display_name"):
        return

    def usage_name(self) -> str:
        name = self.metavar or (self.name or "").upper()
        if not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    TyperArgument._usage_display_name = usage_name


_plain_argument_usage()

app = typer.Typer(
    name="eavs",
    help="EAVS-TF: spiking audio-visual emotion recognition, from data to a verified FPGA bitstream.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(eavs.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"eavs.commands.{info.name}")
        module.register(app)


_register_all()


class UserError(Exception):
    """An error to show as one line, without a traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from hw.spec.capacity import CapacityError
    from sw.events import EventError
    from sw.qnet import QNetError

    return (UserError, QNetError, CapacityError, EventError, FileNotFoundError, ValueError)


def main() -> None:
    try:
        app(standalone_mode=True)
    except _user_errors() as e:  # pragma: no cover - exercised through subprocess tests
        typer.secho(f"error: {e}", fg="red", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
