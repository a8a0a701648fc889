"""Hardware: the Amaranth accelerator. Pure-Python modules here (capacity, regmap) import no amaranth."""
