"""hw.rtl.update_tags.UpdateTags against a plain model: a tag given at
``i_tag`` in cycle c is at stage s in cycle c + 1 + s, so ``upd`` shows it in
c + 4, ``lanes`` in c + 5, ``pre_wb`` in c + 8 and ``wb`` in c + 9 (worked
from the core's timing: last issue c, last accumulate and membrane read
c + 4, lanes c + 5, write-back c + 9); ``wb_qbase`` is (layer*2 + par) *
queue_depth of ``wb``'s tag; an abort drops every tag in flight."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hw.rtl.update_tags import UpdateTags
from hw.spec import protocol, timing
from hw.spec.capacity import Capacity

CAP = Capacity(lanes=4, max_layers=3, max_neurons=40, max_inputs=64, weight_depth=256, max_timesteps=16)
FIELDS = ("valid", "maddr", "c", "lanes", "layer", "par", "zero", "first")
# hand-worked: the cycles after its entry at which each output shows a tag
AT = {"upd": 4, "lanes": 5, "pre_wb": 8, "wb": 9}


def _random_tag(rng):
    return {"valid": rng.randint(0, 1), "maddr": rng.randrange(protocol.membrane_depth(CAP)),
            "c": rng.randrange(protocol.queue_depth(CAP)), "lanes": rng.randint(1, 4),
            "layer": rng.randrange(3), "par": rng.randint(0, 1), "zero": rng.randint(0, 1),
            "first": rng.randint(0, 1)}  # fmt: skip


def _run(tags, aborts=()):
    """Give tag ``tags[c]`` in cycle c (abort in the cycles ``aborts``);
    return every output's tag (as a dict) and ``wb_qbase``, per cycle."""
    dut = UpdateTags(CAP)
    seen = []

    async def bench(ctx):
        for c in range(len(tags) + 12):
            tag = tags[c] if c < len(tags) else dict.fromkeys(FIELDS, 0)
            for f in FIELDS:
                ctx.set(getattr(dut.i_tag, f), tag[f])
            ctx.set(dut.abort, c in aborts)
            row = {out: {f: ctx.get(getattr(getattr(dut, out), f)) for f in FIELDS} for out in AT}
            row["wb_qbase"] = ctx.get(dut.wb_qbase)
            seen.append(row)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def _model(tags, aborts=()):
    """Per cycle, the tag each output shows: the one given ``AT[out]``
    cycles before, its valid cleared when an abort came in between."""
    out = []
    for c in range(len(tags) + 12):
        row = {}
        for name, lag in AT.items():
            src = c - lag
            tag = dict(tags[src]) if 0 <= src < len(tags) else dict.fromkeys(FIELDS, 0)
            if any(src <= a < c for a in aborts):
                tag["valid"] = 0
            row[name] = tag
        wb = row["wb"]
        row["wb_qbase"] = (wb["layer"] * 2 + wb["par"]) * protocol.queue_depth(CAP) if c - 9 >= 0 else 0
        out.append(row)
    return out


def test_latency_is_hw_spec_timing():
    """One tag: measured at ``wb`` 9 cycles after entry = TAG_ENTRY + WRITE_BACK_STAGE."""
    tag = {"valid": 1, "maddr": 5, "c": 2, "lanes": 3, "layer": 1, "par": 1, "zero": 0, "first": 1}
    seen = _run([tag])
    at = [c for c, row in enumerate(seen) if row["wb"]["valid"]]
    assert at == [9]
    assert seen[9]["wb"] == tag
    assert seen[9]["wb_qbase"] == 3 * protocol.queue_depth(CAP)
    assert at[0] == UpdateTags.LATENCY == timing.TAG_ENTRY + timing.WRITE_BACK_STAGE
    assert [c for c, row in enumerate(seen) if row["upd"]["valid"]] == [timing.TAG_ENTRY + timing.UPDATE_READ_STAGE]


def test_random_tags_follow_the_model():
    rng = random.Random(0)
    tags = [_random_tag(rng) for _ in range(60)]
    assert _run(tags) == _model(tags)


def test_abort_drops_every_tag_in_flight():
    rng = random.Random(1)
    tags = [dict(_random_tag(rng), valid=1) for _ in range(30)]
    got = _run(tags, aborts=(12,))
    assert got == _model(tags, aborts=(12,))
    assert not any(got[c]["wb"]["valid"] for c in range(13, 22)), "tags given up to the abort never reach write-back"
