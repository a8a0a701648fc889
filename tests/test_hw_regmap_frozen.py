"""A frozen copy of the register map and the stream formats, keyed by VERSION.

The live map in hw.spec.regmap is compared with a copy typed here as literal
numbers (not derived from hw.spec.regmap), so a swapped offset, a moved field or a
changed format fails this test. The rule it enforces: the frozen copies are
append-only. Changing the map or the formats means adding a new entry under
a new major VERSION (and bumping ``hw.spec.regmap.VERSION`` to it), never editing
the entry of a version that bitstreams and drivers already carry.
"""

from __future__ import annotations

from hw.spec import protocol, regmap

ERR = (("event_index", 0, 1), ("extra_events", 1, 1), ("truncated", 2, 1), ("over_capacity", 3, 1),
       ("start_busy", 4, 1), ("bad_model", 5, 1), ("no_model", 6, 1), ("bad_word", 7, 1))  # fmt: skip

V1_REGISTERS = {
    # name: (offset, access, ((field, lsb, width[, access]), ...))
    "ID": (0x000, "ro", ()),
    "VERSION": (0x004, "ro", ()),
    "CTRL": (0x008, "rw", (("start", 0, 1, "pulse"), ("soft_reset", 1, 1, "pulse"), ("clear_errors", 2, 1, "pulse"), ("mode", 3, 1))),
    "STATUS": (0x00C, "ro", (("busy", 0, 1), ("done", 1, 1), ("error", 2, 1), ("model_valid", 3, 1))),
    "ERROR": (0x010, "ro", ERR),
    "BATCH": (0x014, "rw", ()),
    "SAMPLES": (0x018, "ro", ()),
    "MODEL_INPUTS": (0x020, "ro", ()),
    "MODEL_TIMESTEPS": (0x024, "ro", ()),
    "MODEL_LAYERS": (0x028, "ro", ()),
    "MODEL_OUTPUTS": (0x02C, "ro", ()),
    "CYCLES": (0x030, "ro", ()),
    "IN_EVENTS": (0x034, "ro", ()),
    "SPIKES": (0x038, "ro", ()),
    "SOPS": (0x03C, "ro", ()),
    "PREDICTION": (0x040, "ro", ()),
    "SAMPLE_ERRORS": (0x044, "ro", ERR),
    "CAP_LANES": (0x080, "ro", ()),
    "CAP_MAX_LAYERS": (0x084, "ro", ()),
    "CAP_MAX_NEURONS": (0x088, "ro", ()),
    "CAP_MAX_SOURCES": (0x08C, "ro", ()),
    "CAP_MAX_INPUTS": (0x090, "ro", ()),
    "CAP_WEIGHT_DEPTH": (0x094, "ro", ()),
    "CAP_WEIGHT_BITS": (0x098, "ro", ()),
    "CAP_V_BITS": (0x09C, "ro", ()),
    "CAP_MAX_TIMESTEPS": (0x0A0, "ro", ()),
}
V1_FORMATS = {
    "MAGIC": 0x45415653, "MODE_RUN": 0, "MODE_LOAD": 1, "READOUT": (0x400, "max_neurons"),
    "MODEL_MAGIC": 0x454D444C, "RESULT_MAGIC": 0xE5A5, "HEADER_WORDS": 9, "GROUP_WORDS": 2, "LAYER_WORDS": 8,
    "SOURCE_WORDS": 3, "RESULT_HEADER_WORDS": 7, "SOURCE_DELAY": 0x100, "SOURCE_IS_LAYER": 0x200,
}  # fmt: skip

#: 2.0: the model image gained per-neuron decay words after the bias words
#: (d [12:0], extra product shift [17:16]); the flags' leak-shift bits are reserved.
#: Layer flag bit 6: the last layer is read out by spike count.
V2_FORMATS = {**V1_FORMATS, "DECAY_BITS": 12, "DECAY_ONE": 4096, "DECAY_SHIFT_LSB": 16, "FLAG_READOUT_SPIKES": 0x40}

#: Layer flags bits [19:16]: the layer's stage in the wave schedule (hw.spec.schedule).
V3_FORMATS = {**V2_FORMATS, "FLAG_STAGE_LSB": 16}

#: 4.0: model image header words 9-10 carry the early-exit rule (margin M,
#: min_step; 0 and T-1 without one); result record word 7 is the exit step.
V4_FORMATS = {**V3_FORMATS, "HEADER_WORDS": 11, "RESULT_HEADER_WORDS": 8}

#: Every released VERSION (major << 16 | minor) with its map; append only.
FROZEN = {
    0x0001_0000: (V1_REGISTERS, V1_FORMATS),
    0x0002_0000: (V1_REGISTERS, V2_FORMATS),
    0x0003_0000: (V1_REGISTERS, V3_FORMATS),
    0x0004_0000: (V1_REGISTERS, V4_FORMATS),
}


def live_registers() -> dict:
    return {
        r.name: (r.offset, r.access, tuple((f.name, f.lsb, f.width) + ((f.access,) if f.access else ()) for f in r.fields))
        for r in regmap.REGISTERS
    }


def live_formats() -> dict:
    names = ("MODEL_MAGIC", "RESULT_MAGIC", "HEADER_WORDS", "GROUP_WORDS", "LAYER_WORDS", "SOURCE_WORDS",
             "RESULT_HEADER_WORDS", "SOURCE_DELAY", "SOURCE_IS_LAYER", "DECAY_BITS", "DECAY_ONE", "DECAY_SHIFT_LSB",
             "FLAG_READOUT_SPIKES", "FLAG_STAGE_LSB")  # fmt: skip
    out = {"MAGIC": regmap.MAGIC, "MODE_RUN": regmap.MODE_RUN, "MODE_LOAD": regmap.MODE_LOAD,
           "READOUT": (regmap.READOUT.offset, regmap.READOUT.length_field)}  # fmt: skip
    out.update({n: getattr(protocol, n) for n in names if hasattr(protocol, n)})
    return out


def test_version_is_the_newest_frozen_one():
    assert regmap.VERSION in FROZEN, (
        f"hw.spec.regmap.VERSION 0x{regmap.VERSION:x} has no frozen copy here: add one (append only) when you bump it"
    )
    assert regmap.VERSION == max(FROZEN)


def test_register_map_equals_its_frozen_copy():
    frozen, _ = FROZEN[regmap.VERSION]
    live = live_registers()
    diff = {k: (live.get(k), frozen.get(k)) for k in set(live) | set(frozen) if live.get(k) != frozen.get(k)}
    assert not diff, (
        f"register map differs from the frozen copy of version 0x{regmap.VERSION:x} (live, frozen): {diff}; "
        "a changed map needs a new major VERSION and a new frozen entry"
    )


def test_stream_formats_equal_their_frozen_copy():
    _, frozen = FROZEN[regmap.VERSION]
    live = live_formats()
    diff = {k: (live.get(k), frozen.get(k)) for k in set(live) | set(frozen) if live.get(k) != frozen.get(k)}
    assert not diff, f"stream formats differ from the frozen copy of version 0x{regmap.VERSION:x}: {diff}"


def test_each_version_bump_changed_something():
    """Two versions with one frozen map usually mean an entry was copied
    without recording the change (or edited in place): refuse it."""
    majors = sorted(FROZEN)
    for a, b in zip(majors, majors[1:]):
        assert FROZEN[a] != FROZEN[b], f"versions 0x{a:x} and 0x{b:x} have identical frozen maps"
