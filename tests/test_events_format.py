"""AER event words (docs/design.md section 4)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sw.events import END_OF_STEP, EventError, decode_events, encode_events


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 12), n=st.integers(1, 70))
def test_round_trip(seed, T, n):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((T, n)) < rng.random()).astype(np.uint8)
    words = encode_events(spikes)
    assert (words == END_OF_STEP).sum() == T
    assert len(words) == spikes.sum() + T
    np.testing.assert_array_equal(decode_events(words, n, T), spikes)


def test_empty_step_is_a_lone_marker():
    spikes = np.array([[0, 1], [0, 0], [1, 1]], np.uint8)
    assert encode_events(spikes).tolist() == [1, END_OF_STEP, END_OF_STEP, 0, 1, END_OF_STEP]


def test_decode_errors_name_the_word():
    with pytest.raises(EventError, match="event word 0: index 5 out of range for 4 inputs"):
        decode_events(np.array([5, END_OF_STEP]), 4, 1)
    with pytest.raises(EventError, match="event word 2: event after the 1-th end-of-step marker"):
        decode_events(np.array([1, END_OF_STEP, 2]), 4, 1)
    with pytest.raises(EventError, match="marker 0x80000001 has other bits set"):
        decode_events(np.array([END_OF_STEP | 1]), 4, 1)
    with pytest.raises(EventError, match="1 end-of-step markers, expected 2"):
        decode_events(np.array([END_OF_STEP]), 4, 2)
