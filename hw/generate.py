"""``python -m hw.generate --capacity ... --out DIR``: the core's Verilog (see :mod:`hw.flow.generate`)."""

from hw.flow.generate import main

if __name__ == "__main__":
    raise SystemExit(main())
