"""Batched matrix exponential and phi-functions against scipy and closed forms."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.engine.exact import MatrixBatch, expm_batch, phi_functions


def compartmental(rng: np.random.Generator, size: int, n: int, scale: float) -> np.ndarray:
    """Random rate matrices: nonnegative transfers, columns losing what they give."""
    rates = scale * np.exp(rng.uniform(-6, 0, (size, n, n)))
    rates[:, np.arange(n), np.arange(n)] = 0
    a = rates.copy()
    a[:, np.arange(n), np.arange(n)] = -rates.sum(axis=1) - rng.uniform(0, scale, (size, n))
    return a


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 8),
    scale=st.sampled_from([1e-3, 1.0, 50.0, 2e3]),
)
def test_batched_expm_matches_scipy_expm_matrix_by_matrix(seed: int, n: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    a = compartmental(rng, 12, n, scale)
    ours = expm_batch(a)
    for p in range(a.shape[0]):
        ref = scipy.linalg.expm(a[p])
        np.testing.assert_allclose(
            ours[p], ref, rtol=1e-10, atol=1e-13 * max(1.0, np.abs(ref).max())
        )


def test_batched_expm_of_a_stiff_two_state_system_matches_the_closed_form() -> None:
    k1, k2, t = 990.0, 0.7, 0.25
    a = np.array([[[-k1, 0.0], [k1, -k2]]]) * t
    e = expm_batch(a)[0]
    assert math.isclose(e[0, 0], math.exp(-k1 * t), rel_tol=1e-10, abs_tol=1e-200)
    bateman = k1 / (k2 - k1) * (math.exp(-k1 * t) - math.exp(-k2 * t))
    assert math.isclose(e[1, 0], bateman, rel_tol=1e-13)
    assert math.isclose(e[1, 1], math.exp(-k2 * t), rel_tol=1e-13)


def test_each_matrix_result_is_independent_of_the_batch() -> None:
    rng = np.random.default_rng(7)
    a = compartmental(rng, 30, 5, 100.0)
    whole = expm_batch(a)
    np.testing.assert_array_equal(expm_batch(a[:7]), whole[:7])


def test_phi_functions_satisfy_their_recurrence() -> None:
    rng = np.random.default_rng(3)
    z = compartmental(rng, 5, 4, 10.0)
    phi = phi_functions(z, 3)
    eye = np.eye(4)
    for k in range(3):
        # z phi_{k+1}(z) = phi_k(z) - I / k!
        np.testing.assert_allclose(z @ phi[k + 1], phi[k] - eye / math.factorial(k), atol=1e-12)


def test_matrix_batch_applies_shared_and_per_patient_matrices_alike() -> None:
    rng = np.random.default_rng(1)
    m = rng.standard_normal((6, 3, 3))
    y = rng.standard_normal((3, 6))
    expected = np.einsum("pij,jp->ip", m, y)
    np.testing.assert_allclose(MatrixBatch.of(m).apply(y), expected, rtol=1e-14)
    shared = MatrixBatch.of(m[:1])
    np.testing.assert_allclose(shared.apply(y), m[0] @ y, rtol=1e-14)
    np.testing.assert_allclose(
        MatrixBatch.of(m).take(np.array([4, 1])).apply(y[:, [4, 1]]),
        expected[:, [4, 1]],
        rtol=1e-14,
    )


def test_phi_functions_of_a_doubled_argument_follow_from_the_halves() -> None:
    from mscsim.engine.exact import _doubled

    rng = np.random.default_rng(11)
    z = compartmental(rng, 6, 5, 30.0)
    direct = phi_functions(2 * z, 3)
    doubled = _doubled(phi_functions(z, 3))
    for d, ref in zip(doubled, direct, strict=True):
        np.testing.assert_allclose(d, ref, rtol=1e-11, atol=1e-13)
