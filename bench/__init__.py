"""Benchmarks: each module's ``main()`` measures and returns rows of figures
with the baseline they were compared with (run in the same process)."""
