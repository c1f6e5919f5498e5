"""The vectorised seed sequences give NumPy's bits, for any seed and patient ids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.population.seeds import spawned_states

EDGES = [0, 1, 2**32 - 1, 2**32, 2**63 - 1]


def numpy_states(seed: int, ids: np.ndarray, n_words: int) -> np.ndarray:
    rows = [
        np.random.SeedSequence(seed, spawn_key=(int(i),)).generate_state(n_words, np.uint64)
        for i in ids
    ]
    return np.array(rows, dtype=np.uint64).reshape(ids.size, n_words)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.one_of(
        st.sampled_from([0, 2**32 - 1, 2**32, 2**64 + 5, 2**130]), st.integers(0, 2**70)
    ),
    ids=st.lists(st.one_of(st.sampled_from(EDGES), st.integers(0, 2**63 - 1)), max_size=12),
    n_words=st.integers(0, 9),
)
def test_the_states_are_numpys(seed: int, ids: list[int], n_words: int) -> None:
    pids = np.array(ids, dtype=np.int64)
    np.testing.assert_array_equal(
        spawned_states(seed, pids, n_words), numpy_states(seed, pids, n_words)
    )


def test_a_patients_state_does_not_depend_on_the_others() -> None:
    ids = np.array([5, 2**40, 3, 0], dtype=np.int64)
    whole = spawned_states(7, ids, 4)
    for j, pid in enumerate(ids):
        np.testing.assert_array_equal(spawned_states(7, ids[j : j + 1], 4)[0], whole[j])
        assert whole[j].tolist() == numpy_states(7, np.array([pid]), 4)[0].tolist()


@pytest.mark.parametrize(("seed", "ids"), [(-1, [0]), (0, [-3])])
def test_negative_seeds_and_ids_are_refused(seed: int, ids: list[int]) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        spawned_states(seed, np.array(ids, dtype=np.int64), 2)
