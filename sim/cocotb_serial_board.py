"""cocotb side of the simulated ULX3S: the board's UART pins on a TCP socket.

Runs inside the simulator on ``eavs_board`` (:func:`hw.flow.ecp5.sim_top_verilog`:
the ULX3S top minus PLL and pins). It listens on 127.0.0.1 (the port goes
to ``plan["port_file"]``), drives every byte a host sends into the board's
``rx`` pin as 8N1 at ``plan["divisor"]`` clocks per bit, and sends every
byte the board's ``tx`` pin carries back to the host. So the host's own
``serial`` back-end, opened on ``socket://127.0.0.1:PORT``, talks to the
gateware exactly as it would to the FT231X. One host at a time; a host may
disconnect (mid-frame, mid-sample) and another connect.

Simulated time runs while the host thinks; when the line has been idle a
while, each step also waits a millisecond of wall time, so an idle board
does not race through its inter-byte timeout between two bytes of one
``write`` (the host writes a frame in one call). The test ends when
``plan["stop_file"]`` appears.
"""

from __future__ import annotations

import json
import os
import select
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge


@cocotb.test()
async def serve(dut):
    plan = json.loads(open(os.environ["EAVS_SIM_PLAN"]).read())
    div = int(plan["divisor"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 8)
    dut.rst.value = 0
    to_board, to_host = bytearray(), bytearray()
    state = {"busy_rx": False}

    async def drive_rx():
        while True:
            if not to_board:
                state["busy_rx"] = False
                await ClockCycles(dut.clk, div)
                continue
            state["busy_rx"] = True
            b = to_board.pop(0)
            for level in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                dut.rx.value = level
                await ClockCycles(dut.clk, div)

    async def watch_tx():
        while True:
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, div + div // 2)
            b = 0
            for i in range(8):
                b |= int(dut.tx.value) << i
                await ClockCycles(dut.clk, div)
            to_host.append(b)

    cocotb.start_soon(drive_rx())
    cocotb.start_soon(watch_tx())

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.setblocking(False)
    with open(plan["port_file"] + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.replace(plan["port_file"] + ".tmp", plan["port_file"])
    conn = None
    idle, cycles, connections = 0, 0, 0
    step = 64
    while True:
        if cycles % 4096 < step and os.path.exists(plan["stop_file"]):
            break
        activity = bool(to_board) or state["busy_rx"] or bool(to_host) or int(dut.tx.value) == 0
        if conn is None:
            try:
                conn, _ = srv.accept()
                conn.setblocking(False)
                connections += 1
            except BlockingIOError:
                pass
        if conn is not None:
            try:
                data = conn.recv(65536)
                if data:
                    to_board += data
                    activity = True
                else:
                    conn.close()
                    conn = None
            except BlockingIOError:
                pass
            except OSError:
                conn.close()
                conn = None
        if to_host:
            if conn is not None:
                try:
                    conn.sendall(bytes(to_host))
                except OSError:
                    pass
            to_host.clear()  # a board talking to no host: the bytes are lost, as on a cable
        idle = 0 if activity else idle + 1
        if idle > 64:
            select.select([conn or srv], [], [], 0.001)
        await ClockCycles(dut.clk, step)
        cycles += step
    if conn is not None:
        conn.close()
    srv.close()
    with open(os.environ["EAVS_SIM_RESULT"], "w") as f:
        json.dump({"cycles": cycles, "connections": connections}, f)
