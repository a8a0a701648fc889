"""Hardware, in three rooms; imports point only down (flow -> rtl -> spec).

- ``hw.spec``: the contract, pure Python (numpy at most): capacity and cycle
  model, register map, model-image protocol, wave schedule, serial link
  framing, boards.toml. The host and the board import only this room.
- ``hw.rtl``: the Amaranth gateware: one component per file, the UART, the
  link bridge and the board tops.
- ``hw.flow``: tool flows: Verilog generation, Vivado and ECP5 builds,
  resource estimates, the Amaranth simulation runner.

``python -m hw.build`` and ``python -m hw.generate`` are the user-facing
entry points (thin wrappers over ``hw.flow``). This file imports nothing, so
``import hw.spec.capacity`` stays amaranth-free.
"""
