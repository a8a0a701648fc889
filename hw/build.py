"""``python -m hw.build --board NAME``: the bitstream build (see :mod:`hw.flow.build`)."""

from hw.flow.build import main

if __name__ == "__main__":
    raise SystemExit(main())
