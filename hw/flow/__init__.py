"""Tool flows: Verilog generation, bitstream builds (Vivado, yowasp ECP5), estimates, Amaranth simulation."""
