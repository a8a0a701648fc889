"""The Amaranth gateware: one component per module (see ``hw.rtl.core`` for how they are wired)."""
