"""hw.rtl.walker.SegmentWalker against a plain model: for a chunk, the entries of
the non-empty segments in ascending segment order (s*P + j), entry 0 first,
one per cycle; ``last`` on the final one; a chunk entered in the cycle of the
previous chunk's last issue follows it with no gap."""

import random

import pytest
from amaranth.sim import Simulator

from hw.rtl.walker import SegmentWalker


def _model(mask_bits, counts, P):
    out = []
    for seg, (bit, n) in enumerate(zip(mask_bits, counts)):
        if bit:
            out += [(seg // P, seg % P, k) for k in range(n)]
    return out


def _run(S, P, chunks):
    """Each chunk is (mask bits, counts); chunks are entered back to back, the
    next one in the cycle the walker says ``last``. Returns the issued
    (s, j, k, last) per chunk, and the cycles each chunk took."""
    dut = SegmentWalker(S, P, 8)
    got, took = [], []

    async def bench(ctx):
        for mask_bits, counts in chunks:
            ctx.set(dut.mask, sum(b << i for i, b in enumerate(mask_bits)))
            for i, n in enumerate(counts):
                ctx.set(dut.counts[i], n)
            ctx.set(dut.enter, 1)
            assert ctx.get(dut.any) == any(mask_bits)
            await ctx.tick()
            ctx.set(dut.enter, 0)
            seq, cycles = [], 0
            if not any(mask_bits):
                got.append(seq)
                took.append(1)
                continue
            while True:
                cycles += 1
                assert cycles <= sum(counts) + 1, "no last: the walker runs past the chunk's entries"
                last = ctx.get(dut.last)
                seq.append((ctx.get(dut.s), ctx.get(dut.j), ctx.get(dut.k), last))
                if last:
                    break
                ctx.set(dut.step, 1)
                await ctx.tick()
                ctx.set(dut.step, 0)
            got.append(seq)
            took.append(cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, took


def test_hand_worked_chunk():
    """S = 2, P = 2: segments 1 (2 entries) and 2 (1 entry): (0,1,0), (0,1,1), (1,0,0)."""
    got, took = _run(2, 2, [([0, 1, 1, 0], [9, 2, 1, 7])])
    assert got == [[(0, 1, 0, 0), (0, 1, 1, 0), (1, 0, 0, 1)]]
    assert took == [3]


@pytest.mark.parametrize("S,P,seed", [(1, 1, 0), (2, 3, 1), (3, 4, 2), (3, 8, 3)])
def test_random_chunks_follow_the_model(S, P, seed):
    rng = random.Random(seed)
    chunks = []
    for _ in range(25):
        counts = [rng.randint(1, 4) for _ in range(S * P)]
        mask_bits = [int(rng.random() < 0.4) for _ in range(S * P)]
        chunks.append((mask_bits, counts))
    got, took = _run(S, P, chunks)
    for (mask_bits, counts), seq, cyc in zip(chunks, got, took):
        want = _model(mask_bits, counts, P)
        assert [x[:3] for x in seq] == want
        if want:
            assert [x[3] for x in seq] == [0] * (len(want) - 1) + [1]
            assert cyc == len(want)  # one entry per cycle, no bubble between segments


def test_rejects_bad_parameters():
    with pytest.raises(TypeError, match="lanes must be a positive integer, not 0"):
        SegmentWalker(2, 0, 8)
