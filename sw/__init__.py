"""Numpy-level software: data, encoders, the .qnet file, the golden model; torch-level: model, training, export."""
