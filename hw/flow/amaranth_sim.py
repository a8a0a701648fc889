"""Drive ``eavs_core`` in the Amaranth simulator through its real interfaces.

The harness behaves like the board driver: it writes ``CTRL`` over AXI4-Lite
(register offsets from :mod:`hw.spec.regmap`), sends the model image and the event
packets over ``s_axis`` (:mod:`hw.spec.protocol`), collects the result records from
``m_axis`` and reads the counters back. Optional random idle cycles on the
input stream and backpressure on the output stream check that no word is
lost or duplicated.

Used by the tests in ``tests/test_hw_*.py``, ``bench/rtl_cycles.py`` and
``eavs sim --simulator amaranth``. Several jobs (model + spikes) can share one
simulation, which saves the elaboration time and exercises loading a new
model between samples.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from amaranth.sim import Simulator

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity
from hw.rtl.core import EAVSCore
from sw.qnet import QNet

__all__ = ["Job", "JobResult", "run_amaranth", "run_amaranth_jobs", "fitting_capacity", "ctrl_word", "SimTimeout"]


class SimTimeout(TimeoutError):
    """The core did not finish in the allowed number of cycles."""


@dataclass
class Job:
    """One model and the samples to run on it.

    ``image`` overrides the packed model (to feed a malformed or oversized
    one); ``packets`` overrides the event packets made from ``spikes`` (to
    feed bad event streams). ``expect_load`` says whether the load must
    succeed; when it fails no samples are run.
    """

    net: QNet | None
    spikes: np.ndarray | None = None
    image: np.ndarray | None = None
    packets: list[np.ndarray] | None = None
    n_samples: int | None = None
    n_out: int | None = None
    #: Register writes (name, value) made after the first packet is sent,
    #: while the core is busy (e.g. a second CTRL.start).
    writes_during_run: list[tuple[str, int]] = field(default_factory=list)
    #: Send only this many packets, then write CTRL.soft_reset (abort test).
    abort_after: int | None = None
    #: Start the run even if the model did not load (tests ERROR.no_model).
    force_run: bool = False


@dataclass
class JobResult:
    """What the core reported for one job."""

    model_valid: bool
    load_errors: int
    results: protocol.Results | None
    registers: dict[str, int] = field(default_factory=dict)
    readout_window: np.ndarray | None = None
    sim_cycles: int = 0
    #: Simulation cycle in which each result record's last word was taken
    #: (so the spacing of records is the I/O-inclusive time per sample).
    record_ends: list[int] = field(default_factory=list)

    @property
    def prediction(self) -> np.ndarray:
        return self.results.prediction

    @property
    def readout(self) -> np.ndarray:
        return self.results.readout

    @property
    def cycles(self) -> np.ndarray:
        return self.results.cycles


class _Bus:
    """AXI4-Lite initiator and stream helpers on one testbench context."""

    def __init__(self, dut: EAVSCore, ctx, rng: random.Random | None, max_cycles: int):
        self.dut, self.ctx, self.rng, self.max_cycles = dut, ctx, rng, max_cycles

    async def write(self, name: str, value: int) -> None:
        ctx, a = self.ctx, self.dut.s_axil
        ctx.set(a.awaddr, regmap.offset(name))
        ctx.set(a.wdata, value)
        ctx.set(a.wstrb, 0xF)
        ctx.set(a.awvalid, 1)
        ctx.set(a.wvalid, 1)
        ctx.set(a.bready, 1)
        await ctx.tick().until(a.awready)
        ctx.set(a.awvalid, 0)
        ctx.set(a.wvalid, 0)
        await ctx.tick().until(a.bvalid)

    async def read_addr(self, addr: int) -> int:
        ctx, a = self.ctx, self.dut.s_axil
        ctx.set(a.araddr, addr)
        ctx.set(a.arvalid, 1)
        ctx.set(a.rready, 1)
        await ctx.tick().until(a.arready)
        ctx.set(a.arvalid, 0)
        (data,) = await ctx.tick().sample(a.rdata).until(a.rvalid)
        return int(data)

    async def read(self, name: str) -> int:
        return await self.read_addr(regmap.offset(name))

    async def send(self, words: np.ndarray) -> None:
        ctx, s = self.ctx, self.dut.s_axis
        n = len(words)
        for k, w in enumerate(np.asarray(words, np.uint32).tolist()):
            if self.rng is not None and self.rng.random() < 0.2:
                ctx.set(s.tvalid, 0)
                await ctx.tick().repeat(self.rng.randint(1, 3))
            ctx.set(s.tdata, w)
            ctx.set(s.tlast, int(k == n - 1))
            ctx.set(s.tvalid, 1)
            await ctx.tick().until(s.tready)
        ctx.set(s.tvalid, 0)
        ctx.set(s.tlast, 0)

    async def wait_done(self, what: str) -> None:
        for _ in range(self.max_cycles // 4):
            status = await self.read("STATUS")
            if regmap.field("STATUS", "done").get(status) and not regmap.field("STATUS", "busy").get(status):
                return
        regs = {n: await self.read(n) for n in ("STATUS", "ERROR", "CYCLES", "SAMPLES")}
        raise SimTimeout(f"{what}: core not done; registers " + ", ".join(f"{k}=0x{v:x}" for k, v in regs.items()))


def ctrl_word(start=0, soft_reset=0, clear_errors=0, mode=0) -> int:
    f = regmap.register("CTRL")
    return (
        (start << f.field("start").lsb)
        | (soft_reset << f.field("soft_reset").lsb)
        | (clear_errors << f.field("clear_errors").lsb)
        | (mode << f.field("mode").lsb)
    )


def run_amaranth_jobs(
    capacity: Capacity,
    jobs: Sequence[Job],
    *,
    seed: int | None = 0,
    max_cycles: int = 2_000_000,
    vcd: str | None = None,
) -> list[JobResult]:
    """Run ``jobs`` one after the other on one simulated core.

    ``seed`` drives random idle cycles on ``s_axis`` and backpressure on
    ``m_axis`` (``None``: none). Raises :class:`SimTimeout` when the core
    stops making progress.
    """
    dut = EAVSCore(capacity)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = random.Random(seed) if seed is not None else None
    out: list[JobResult] = []
    received: list[int] = []
    ends: list[int] = []  # cycle of each record's last word
    state = {"cycles": 0, "stop": False}

    async def sink(ctx):
        m = dut.m_axis
        srng = random.Random(None if seed is None else seed + 1)
        cycle = 0
        while True:
            ready = 1 if seed is None else int(srng.random() < 0.7)
            ctx.set(m.tready, ready)
            _, _, valid, data, last = await ctx.tick().sample(m.tvalid, m.tdata, m.tlast)
            cycle += 1
            if valid and ready:
                received.append(int(data))
                if last:
                    ends.append(cycle)

    async def bench(ctx):
        bus = _Bus(dut, ctx, rng, max_cycles)
        await ctx.tick().repeat(2)
        ident = await bus.read("ID")
        if ident != regmap.MAGIC:
            raise AssertionError(f"ID register reads 0x{ident:08x}, expected 0x{regmap.MAGIC:08x}")
        for job in jobs:
            res = JobResult(model_valid=False, load_errors=0, results=None)
            await bus.write("CTRL", ctrl_word(clear_errors=1))
            image = job.image if job.image is not None else protocol.pack_model(job.net, capacity)
            await bus.write("CTRL", ctrl_word(start=1, mode=regmap.MODE_LOAD))
            await bus.send(image)
            await bus.wait_done("model load")
            res.model_valid = bool(regmap.field("STATUS", "model_valid").get(await bus.read("STATUS")))
            res.load_errors = await bus.read("ERROR")
            packets = job.packets if job.packets is not None else (
                protocol.event_packets(job.spikes) if job.spikes is not None else []
            )
            n_out = job.n_out if job.n_out is not None else (job.net.readout.n if job.net is not None else 0)
            if job.force_run and not res.model_valid:
                received.clear()
                await bus.write("CTRL", ctrl_word(start=1, mode=regmap.MODE_RUN))
                await bus.wait_done("run without a model")
                await ctx.tick().repeat(20)
                res.registers = {n: await bus.read(n) for n in ("ERROR", "STATUS", "SAMPLES")}
                res.results = protocol.decode_results(np.array(received, np.uint32), n_out)
            elif res.model_valid and packets and job.abort_after is not None:
                received.clear()
                await bus.write("BATCH", len(packets))
                await bus.write("CTRL", ctrl_word(start=1, mode=regmap.MODE_RUN))
                for p in packets[: job.abort_after]:
                    await bus.send(p)
                await ctx.tick().repeat(50)
                await bus.write("CTRL", ctrl_word(soft_reset=1))
                res.registers = {n: await bus.read(n) for n in ("ERROR", "STATUS", "SAMPLES")}
            elif res.model_valid and packets:
                n_samples = job.n_samples if job.n_samples is not None else len(packets)
                received.clear()
                ends.clear()
                await bus.write("CTRL", ctrl_word(clear_errors=1))
                await bus.write("BATCH", n_samples)
                await bus.write("CTRL", ctrl_word(start=1, mode=regmap.MODE_RUN))
                for k, p in enumerate(packets):
                    await bus.send(p)
                    if k == 0:
                        for name, value in job.writes_during_run:
                            await bus.write(name, value)
                await bus.wait_done("run")
                need = n_samples * protocol.result_words(n_out)
                for _ in range(1000):
                    if len(received) >= need:
                        break
                    await ctx.tick()
                if len(received) != need:
                    raise AssertionError(f"expected {need} result words, got {len(received)}")
                res.results = protocol.decode_results(np.array(received, np.uint32), n_out)
                res.record_ends = list(ends)
                for name in ("ERROR", "CYCLES", "IN_EVENTS", "SPIKES", "SOPS", "PREDICTION", "SAMPLE_ERRORS",
                             "SAMPLES", "MODEL_INPUTS", "MODEL_TIMESTEPS", "MODEL_LAYERS", "MODEL_OUTPUTS", "STATUS"):
                    res.registers[name] = await bus.read(name)
                res.readout_window = np.array(
                    [np.int32(np.uint32(await bus.read_addr(regmap.READOUT.offset + 4 * i))) for i in range(n_out)],
                    np.int64,
                )
            out.append(res)
        state["stop"] = True

    async def watchdog(ctx):
        while not state["stop"]:
            await ctx.tick()
            state["cycles"] += 1
            if state["cycles"] > max_cycles:
                raise SimTimeout(f"simulation exceeded {max_cycles} cycles")

    sim.add_testbench(bench)
    sim.add_process(sink)
    sim.add_testbench(watchdog, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    for r in out:
        r.sim_cycles = state["cycles"]
    return out


def run_amaranth(
    net: QNet,
    spikes: np.ndarray,
    capacity: Capacity | None = None,
    *,
    seed: int | None = 0,
    max_cycles: int = 2_000_000,
) -> JobResult:
    """Load ``net`` and run ``spikes [B, T, N_in]`` on a simulated core.

    ``capacity`` defaults to the smallest :class:`Capacity` the model fits
    with 8 lanes. Returns per-sample prediction, readout, counters and cycles
    (:class:`JobResult`); raises if the core rejects the model.
    """
    if capacity is None:
        capacity = fitting_capacity(net)
    capacity.require_fits(net)
    spikes = np.asarray(spikes)
    if spikes.ndim == 2:
        spikes = spikes[None]
    (res,) = run_amaranth_jobs(capacity, [Job(net, spikes)], seed=seed, max_cycles=max_cycles)
    if not res.model_valid:
        raise RuntimeError(f"core rejected the model: ERROR = {regmap.decode_errors(res.load_errors)}")
    return res


def fitting_capacity(net: QNet, lanes: int = 8) -> Capacity:
    """A small capacity that holds ``net`` (for simulation; boards use boards.toml)."""
    from hw.spec.capacity import weight_words

    return Capacity(
        lanes=lanes,
        max_layers=max(2, len(net.layers)),
        max_neurons=max(layer.n for layer in net.layers),
        max_sources=max(len(net.inputs), max(len(layer.sources) for layer in net.layers)),
        max_inputs=net.n_inputs,
        weight_depth=max(1, weight_words(net, lanes)),
        weight_bits=max(max(s.weight_bits for s in layer.sources) for layer in net.layers),
        v_bits=max(4, max(layer.v_bits for layer in net.layers)),
        max_timesteps=net.timesteps,
    )
