"""Bit-exact verification of ``eavs_core`` in Verilator, Icarus and the Amaranth simulator.

Layout (one job per module):

- :mod:`sim.build`: ``build_core(capacity, simulator, build_dir)`` /
  ``build_verilog`` (cocotb runners, lean Verilator flags, runtime object
  cache :mod:`sim.objcache`, Icarus -g2005, FST waves with ``EAVS_WAVES=1``)
  and ``run_cocotb(build, module, plan)`` (JSON plan in, JSON record out).
- :mod:`sim.tb`: the cocotb ``TB`` (clock, reset, cocotbext-axi AXI-Lite
  master and AXI-Stream source/sink with random pause generators).
- :mod:`sim.cocotb_core`: the cocotb test module that executes a plan on the core.
- :mod:`sim.plan`: plans (bus operations) and records.
- :mod:`sim.compare`: expected results from ``sw.golden`` and
  ``hw.spec.capacity.sample_cycles``; exact comparisons, one line per difference.
- :mod:`sim.scenarios`: random-model and fault scenarios with their expectations.
- :mod:`sim.compare_run`: one model + samples on one simulator (``eavs sim``, bench).
- :mod:`sim.selftest` / :mod:`sim.cocotb_selftest`: a tiny loopback design
  that proves the stack itself.
"""
