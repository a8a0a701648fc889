"""One check for every config ``from_dict``: no field the dataclass does not have.

``DemoConfig`` (eavs), ``ModelConfig`` (sw.model) and ``Capacity``
(hw.spec.capacity) all read plain dicts from JSON or TOML files; a misspelt
key must be a one-line error naming it and the known fields, not a value
silently ignored or a ``TypeError`` from the constructor. Standard library
only, so the board-side ``hw.spec`` may import it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

__all__ = ["check_known_fields"]


def check_known_fields(cls: type, d: Mapping[str, Any], what: str, error: type[Exception] = ValueError, where: str = "") -> None:
    """Raise ``error`` naming the keys of ``d`` that are not fields of the dataclass ``cls``.

    The message reads ``[where: ]unknown <what> field(s) [...]; known: [...]``.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise error(f"{where + ': ' if where else ''}unknown {what} field(s) {unknown}; known: {sorted(known)}")
