"""Spike events (AER) between host and fabric: docs/design.md section 4.

One 32-bit word per event: bit 31 is the end-of-timestep marker (its other
bits are zero), bits 15..0 the flat input index (input groups concatenated in
header order). A step with no spikes is a lone marker; exactly T markers end
a sample. This module is the one definition of that format: the driver, the
testbenches and the RTL's constants all import it.

numpy only (it runs on the board).
"""

from __future__ import annotations

import numpy as np

__all__ = ["END_OF_STEP", "INDEX_BITS", "INDEX_MASK", "encode_events", "decode_events", "EventError"]

END_OF_STEP = 1 << 31
INDEX_BITS = 16
INDEX_MASK = (1 << INDEX_BITS) - 1


class EventError(ValueError):
    """An event stream or spike array that breaks the format."""


def encode_events(spikes: np.ndarray) -> np.ndarray:
    """Binary spikes ``[T, N_in]`` -> uint32 event words, step by step.

    Within a step, indices are in increasing order (the result does not
    depend on the order, docs/design.md section 3, but a fixed order makes streams
    reproducible).
    """
    spikes = np.asarray(spikes)
    if spikes.ndim != 2:
        raise EventError(f"spikes must be [T, N_in], not shape {spikes.shape}")
    if spikes.shape[1] > INDEX_MASK + 1:
        raise EventError(f"{spikes.shape[1]} inputs do not fit the {INDEX_BITS}-bit event index")
    t_idx, i_idx = np.nonzero(spikes)
    counts = np.bincount(t_idx, minlength=spikes.shape[0])
    out = np.empty(len(i_idx) + spikes.shape[0], np.uint32)
    # Positions of the markers: after each step's events.
    marker_pos = np.cumsum(counts + 1) - 1
    is_marker = np.zeros(out.size, bool)
    is_marker[marker_pos] = True
    out[is_marker] = END_OF_STEP
    out[~is_marker] = i_idx.astype(np.uint32)
    return out


def decode_events(words: np.ndarray, n_inputs: int, timesteps: int) -> np.ndarray:
    """uint32 event words -> binary spikes ``[T, N_in]``; strict about the format."""
    words = np.asarray(words, dtype=np.uint32)
    out = np.zeros((timesteps, n_inputs), np.uint8)
    t = 0
    for k, w in enumerate(words.tolist()):
        if w & END_OF_STEP:
            if w != END_OF_STEP:
                raise EventError(f"event word {k}: marker 0x{w:08x} has other bits set")
            t += 1
            continue
        if t >= timesteps:
            raise EventError(f"event word {k}: event after the {timesteps}-th end-of-step marker")
        if w > INDEX_MASK:
            raise EventError(f"event word {k}: reserved bits set in 0x{w:08x}")
        if w >= n_inputs:
            raise EventError(f"event word {k}: index {w} out of range for {n_inputs} inputs")
        out[t, w] = 1
    if t != timesteps:
        raise EventError(f"stream has {t} end-of-step markers, expected {timesteps}")
    return out
