"""Each block's latency, in clock cycles: the one place the core's timing is written.

Why a module of its own: the cycle model (:mod:`hw.spec.capacity`) is the
sum of these latencies, and each gateware block in :mod:`hw.rtl` states its
own ``LATENCY`` from here. A block's tests *measure* its latency in
simulation and compare it with the figure below, so a block that gains or
loses a register fails its own test, and a changed figure here moves the
cycle model with it (the hand-worked literal cycle counts in
``tests/test_capacity_cycles.py`` and ``tests/test_hw_core.py`` are the
independent check that the sum is still right).

Pure Python, no imports: the host and the board import the cycle model.

The chain behind ``DRAIN`` (a chunk's last issue in cycle ``i``)::

    i                      last issue (I0)                 hw.rtl.issue_pipe
    i + ISSUE              its accumulate (I4)
    i + TAG_ENTRY          the chunk's update tag enters   hw.rtl.update_tags
    i + TAG_ENTRY + UPDATE_READ_STAGE  = i + ISSUE
                           membranes and decays read
    ... + MEM_READ         the LIF array takes the chunk   hw.rtl.lif_array
    ... + LIF              write-back (stage WRITE_BACK_STAGE)
    ... + MEM_WRITE        the written queue counts and membranes are readable:
                           i + DRAIN, the first cycle a set-up may latch them
"""

from __future__ import annotations

__all__ = [
    "DRAIN",
    "ENTER",
    "EXIT_DECIDE",
    "EXIT_INPUT",
    "EXIT_LANES",
    "EVENT_STEP",
    "INIT",
    "INPUT_WORD",
    "ISSUE",
    "LATCH",
    "LIF",
    "MEM_READ",
    "MEM_WRITE",
    "SETUP",
    "SKIP",
    "TAG_ENTRY",
    "UPDATE_READ_STAGE",
    "WRITE_BACK_STAGE",
    "exit_monitor",
    "exit_tree_lanes",
    "exit_wait",
]

#: Synchronous block RAM: data one cycle after its address.
MEM_READ = 1
#: A memory or register written in a cycle is read back from the next.
MEM_WRITE = 1

#: :class:`hw.rtl.input_demux.InputDemux`: a bus word reaches its consumer
#: one cycle after the handshake (one registered word). Stream I/O, not
#: counted by the cycle model.
INPUT_WORD = 1

#: :class:`hw.rtl.event_input.EventInput`: from the cycle a step's marker is
#: accepted to its ``step_valid`` (three stages and the ``ready`` register).
#: The host's time: the cycle model does not count it.
EVENT_STEP = 4

#: :class:`hw.rtl.issue_pipe.IssuePipeline`: from an issue (I0) to its
#: accumulate (I4): queue read, row index, weight read, registered row.
ISSUE = 4

#: :class:`hw.rtl.lif_array.LIFArray` (and each
#: :class:`hw.rtl.lif_pipe.LIFPipeLane`): from a chunk entering the lanes to
#: its new membranes and spikes.
LIF = 4

#: :class:`hw.rtl.update_tags.UpdateTags`: a chunk's tag is registered the
#: cycle after its last issue (or its one R_CEND cycle).
TAG_ENTRY = 1
#: The tag stage that reads the chunk's membranes and decays: the cycle of
#: the chunk's last accumulate.
UPDATE_READ_STAGE = ISSUE - TAG_ENTRY
#: The tag stage that writes the chunk's membranes, counts and spikes back.
WRITE_BACK_STAGE = UPDATE_READ_STAGE + MEM_READ + LIF

#: :class:`hw.rtl.sequencer.LayerSequencer` states, one cycle each:
#: R_INIT clears the sample's counters;
INIT = 1
#: R_LATCH latches a layer's parameters and its sources' queue counts (or
#: skips a layer that has no step in this wave);
LATCH = 1
#: R_SETUP enters the layer's first chunk from those registers.
ENTER = 1
#: A layer's set-up in a wave.
SETUP = LATCH + ENTER
#: A layer with no step in this wave: its R_LATCH slot only.
SKIP = LATCH

#: Cycles from a run's last issue to the first cycle a set-up may latch the
#: queue (or membranes) it wrote: the chain in the module docstring.
DRAIN = TAG_ENTRY + WRITE_BACK_STAGE + MEM_WRITE

#: :class:`hw.rtl.exit_monitor.ExitMonitor`: the written-back chunk is
#: registered on entry (the counts come straight from a block RAM's
#: unregistered output and a carry chain; comparing them in the same cycle
#: was the ULX3S build's critical path).
EXIT_INPUT = 1
#: :class:`hw.rtl.exit_monitor.ExitMonitor`, after its tree over the lanes:
#: one register for the step's running top-2, one for the margin compare.
EXIT_DECIDE = 2
#: :class:`hw.rtl.exit_monitor.ExitMonitor` compares the first
#: ``min(P, EXIT_LANES)`` lanes of a readout chunk. A wide core's top-2 tree
#: over all P lanes cost area for readouts of a handful of classes (at P = 32,
#: Yosys xc7: 1,152 LUT more than the 16-lane tree, 19,146 against 17,994); so
#: a model with an exit rule on a core with P > EXIT_LANES needs a readout of
#: at most EXIT_LANES neurons (:meth:`hw.spec.capacity.Capacity.problems`).
#: With P <= EXIT_LANES every readout size works: its chunks merge in turn.
EXIT_LANES = 16


def exit_tree_lanes(lanes: int) -> int:
    """Lanes of a readout chunk the exit monitor's top-2 tree compares."""
    return min(int(lanes), EXIT_LANES)


def exit_monitor(lanes: int) -> int:
    """:class:`hw.rtl.exit_monitor.ExitMonitor`: from a readout chunk's
    write-back to the cycle its step's decision is visible: the input
    register (``EXIT_INPUT``), one register per level of the top-2 tree over
    ``exit_tree_lanes(P)`` lanes (``ceil(log2)`` of it), then ``EXIT_DECIDE``."""
    return EXIT_INPUT + max(0, (exit_tree_lanes(lanes) - 1).bit_length()) + EXIT_DECIDE


def exit_wait(lanes: int) -> int:
    """R_EXIT (:class:`hw.rtl.sequencer.LayerSequencer`): compute cycles from
    the readout's last issue of a step the rule may end to the cycle the
    sequencer moves on: its last write-back (``TAG_ENTRY + WRITE_BACK_STAGE``
    cycles after the issue) plus the monitor's decision."""
    return TAG_ENTRY + WRITE_BACK_STAGE + exit_monitor(lanes)
