"""hw.rtl.spike_queues.SpikeQueues against a plain model of double-buffered
per-layer spike queues (one list per queue and lane), and against a
hand-worked sequence with literal addresses, entries and counts."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.spec.capacity import Capacity
from hw.rtl.spike_queues import SpikeQueues


class QueueModel:
    """The contract, without addresses: queue q's lane-j bank is a list of
    chunk indices; a run's first chunk empties the queue's lists; a chunk
    appends its index to the list of every lane that spiked; clear empties
    every list (it wins over a write in the same cycle)."""

    def __init__(self, queues: int, lanes: int):
        self.lists = [[[] for _ in range(lanes)] for _ in range(queues)]

    def write(self, q, first, chunk, spikes):
        if first:
            self.lists[q] = [[] for _ in self.lists[q]]
        for j, lst in enumerate(self.lists[q]):
            if spikes >> j & 1:
                lst.append(chunk)

    def clear(self):
        self.lists = [[[] for _ in lanes] for lanes in self.lists]

    def counts(self):
        return [[len(lst) for lst in lanes] for lanes in self.lists]


def _sim(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _counts(ctx, dut):
    counts = [[ctx.get(dut.count[q][j]) for j in range(len(dut.count[q]))] for q in range(len(dut.count))]
    flags = [[ctx.get(dut.nonzero[q][j]) for j in range(len(dut.count[q]))] for q in range(len(dut.count))]
    # the nonzero flag is its own register: it must agree with the count in every checked cycle
    assert flags == [[int(c != 0) for c in row] for row in counts], (flags, counts)
    return counts


def _idle(ctx, dut, rng):
    """No write-back this cycle; the other write inputs hold garbage."""
    ctx.set(dut.wr_valid, 0)
    ctx.set(dut.wr_first, int(rng.integers(2)))
    ctx.set(dut.wr_spikes, int(rng.integers(1 << len(dut.wr_spikes))))
    ctx.set(dut.wr_chunk, int(rng.integers(dut.qd)))


def _random_session(cap: Capacity, seed: int, runs: int):
    dut = SpikeQueues(cap)
    P, Q, QD = cap.lanes, 2 * cap.max_layers, dut.qd
    model = QueueModel(Q, P)
    checked = {"reads": 0, "entries": 0, "counts": 0}

    async def bench(ctx):
        rng = np.random.default_rng(seed)
        pending_read = None  # (q, k): the address presented this cycle

        async def tick(writing_q):
            """One cycle; meanwhile read a random entry of a queue not being
            written (as the issue does), and check it and the counts after."""
            nonlocal pending_read
            q = int(rng.choice([x for x in range(Q) if x != writing_q]))
            k = int(rng.integers(QD))
            ctx.set(dut.rd_addr, q * QD + k)
            expect = [lst[k] if k < len(lst) else None for lst in model.lists[q]]
            await ctx.tick()
            got = [ctx.get(dut.rd_data[j]) for j in range(P)]
            for j in range(P):
                if expect[j] is not None:
                    assert got[j] == expect[j], f"queue {q} lane {j} entry {k}"
                    checked["entries"] += 1
            checked["reads"] += 1

        for _ in range(runs):
            q = int(rng.integers(Q))
            n = int(rng.integers(1, QD + 1))  # a run writes 1..QD chunks
            clear_at_end = rng.random() < 0.1
            for c in range(n):
                while rng.random() < 0.3:  # cycles without a write-back
                    _idle(ctx, dut, rng)
                    await tick(q)
                spikes = int(rng.integers(1 << P))
                ctx.set(dut.wr_valid, 1)
                ctx.set(dut.wr_first, int(c == 0))
                ctx.set(dut.wr_queue, q)
                ctx.set(dut.wr_qbase, q * QD)
                ctx.set(dut.wr_chunk, c)
                ctx.set(dut.wr_spikes, spikes)
                model.write(q, c == 0, c, spikes)
                last = c == n - 1
                ctx.set(dut.clear, int(last and clear_at_end))
                if last and clear_at_end:
                    model.clear()
                await tick(q)
                ctx.set(dut.clear, 0)
                assert _counts(ctx, dut) == model.counts()
                checked["counts"] += 1
            _idle(ctx, dut, rng)
            if rng.random() < 0.1:  # a clear on its own
                ctx.set(dut.clear, 1)
                model.clear()
                await tick(None)
                ctx.set(dut.clear, 0)
                assert _counts(ctx, dut) == model.counts()
            # read back every entry of every bank of the queue just written,
            # from the cycle after its last write
            for k in range(QD):
                ctx.set(dut.rd_addr, q * QD + k)
                await ctx.tick()
                for j in range(P):
                    lst = model.lists[q][j]
                    if k < len(lst):
                        assert ctx.get(dut.rd_data[j]) == lst[k], f"queue {q} lane {j} entry {k}"
                        checked["entries"] += 1

    _sim(dut, bench)
    return checked


@pytest.mark.parametrize(
    "cap, seed",
    [
        (Capacity(lanes=4, max_layers=2, max_neurons=12, max_sources=2, max_inputs=16, weight_depth=64), 1),
        (Capacity(lanes=3, max_layers=3, max_neurons=20, max_sources=2, max_inputs=16, weight_depth=64), 2),
        (Capacity(lanes=1, max_layers=2, max_neurons=5, max_sources=1, max_inputs=16, weight_depth=64), 3),
    ],
    ids=["P4_L2_QD3", "P3_L3_QD7", "P1_L2_QD5"],
)
def test_random_runs_match_model(cap, seed):
    checked = _random_session(cap, seed, runs=150)
    # the session must have compared something, or a broken bench passes
    assert checked["entries"] > 200 and checked["counts"] > 150


def test_hand_worked_sequence():
    """P = 2, L = 2, max_neurons 8: QD = 4, queue q at bank addresses 4q..4q+3."""
    cap = Capacity(lanes=2, max_layers=2, max_neurons=8, max_sources=2, max_inputs=16, weight_depth=64)
    dut = SpikeQueues(cap)
    assert (dut.qd, dut.depth, dut.slot_bits, dut.cnt_bits) == (4, 16, 2, 3)
    reads = {}

    async def write(ctx, q, first, chunk, spikes, clear=0):
        ctx.set(dut.wr_valid, 1)
        ctx.set(dut.wr_first, first)
        ctx.set(dut.wr_queue, q)
        ctx.set(dut.wr_qbase, 4 * q)
        ctx.set(dut.wr_chunk, chunk)
        ctx.set(dut.wr_spikes, spikes)
        ctx.set(dut.clear, clear)
        await ctx.tick()
        ctx.set(dut.wr_valid, 0)
        ctx.set(dut.clear, 0)

    async def read(ctx, addr):
        ctx.set(dut.rd_addr, addr)
        await ctx.tick()
        return [ctx.get(dut.rd_data[j]) for j in range(2)]

    async def bench(ctx):
        # layer 1, parity 1 (queue 3, base 12): chunks 0..2 spike 0b01, 0b11, 0b10
        await write(ctx, 3, 1, 0, 0b01)
        assert _counts(ctx, dut) == [[0, 0], [0, 0], [0, 0], [1, 0]]
        await write(ctx, 3, 0, 1, 0b11)
        await write(ctx, 3, 0, 2, 0b10)
        assert _counts(ctx, dut) == [[0, 0], [0, 0], [0, 0], [2, 2]]
        reads["q3"] = [await read(ctx, a) for a in (12, 13)]  # lane 0: 0, 1; lane 1: 1, 2
        # a new run of queue 3 restarts it at 12: chunk 0 spikes in lane 1 only
        await write(ctx, 3, 1, 0, 0b10)
        assert _counts(ctx, dut) == [[0, 0], [0, 0], [0, 0], [0, 1]]
        reads["q3b"] = await read(ctx, 12)  # lane 0 keeps its stale 0; lane 1: 0
        # queue 0 (base 0) does not touch queue 3
        await write(ctx, 0, 1, 0, 0b01)
        await write(ctx, 0, 0, 1, 0b01)
        assert _counts(ctx, dut) == [[2, 0], [0, 0], [0, 0], [0, 1]]
        reads["q0"] = [await read(ctx, a) for a in (0, 1)]
        # clear in the cycle of a write-back: every count is 0 afterwards
        await write(ctx, 1, 1, 3, 0b11, clear=1)
        assert _counts(ctx, dut) == [[0, 0], [0, 0], [0, 0], [0, 0]]
        reads["q1"] = await read(ctx, 4)  # the entries themselves were written

    _sim(dut, bench)
    assert reads == {"q3": [[0, 1], [1, 2]], "q3b": [0, 0], "q0": [[0, 0], [1, 0]], "q1": [3, 3]}


def test_rejects_non_capacity():
    with pytest.raises(TypeError, match="SpikeQueues needs a hw.spec.capacity.Capacity"):
        SpikeQueues({"lanes": 4})
