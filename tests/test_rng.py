"""Random numbers (minigan/rng.py): one generator per device, and exact resumes.

A GPU's generator (played here by the sim device's, which is the same code) is counter-based:
its state is (seed, offset), so a checkpoint restores it exactly and a draw of n + m values
is a draw of n followed by a draw of m. The GPU kernel that computes the stream is checked
against the array form through sim.ElementwiseKernel, as the other kernels are.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import backend, cuda_kernels, rng, sim, sim_kernel
from minigan.functional import dropout

from helpers import device_settings

DEVICES = ["cpu", "sim"]


def draws(device):
    """A few draws of each kind and dtype on ``device``, as host arrays."""
    return [minigan.randn(3, 4, device=device).numpy(), minigan.rand(5, dtype="float64", device=device).numpy(),
            dropout(minigan.ones(50, device=device), 0.5).numpy()]


@pytest.mark.parametrize("device", DEVICES)
def test_a_saved_state_repeats_the_draws_after_a_checkpoint_round_trip(device, tmp_path):
    minigan.manual_seed(3)
    draws("cpu"), draws(device)  # move both generators away from the seed
    minigan.save({"rng": backend.rng_state()}, tmp_path / "rng.npz")
    expected = draws("cpu") + draws(device)
    draws(device)  # and on, so that restoring has something to undo
    backend.set_rng_state(minigan.load(tmp_path / "rng.npz")["rng"])
    for e, g in zip(expected, draws("cpu") + draws(device)):
        np.testing.assert_array_equal(g, e)


def test_each_device_has_its_own_generator():
    minigan.manual_seed(0)
    cpu = minigan.randn(5).numpy()
    minigan.manual_seed(0)
    minigan.randn(1000, device="sim")  # draws on another device leave the CPU's stream alone
    np.testing.assert_array_equal(minigan.randn(5).numpy(), cpu)
    assert set(backend.rng_state()) == {"seed", "cpu", "sim"}
    assert backend.rng_state()["sim"] == {"seed": 0, "offset": 1000}


@device_settings()
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=4), seed=st.integers(0, 2**64 - 1),
       dtype=st.sampled_from(["float32", "float64"]), normal=st.booleans())
def test_the_counter_stream_is_one_sequence_whatever_the_draw_sizes(sizes, seed, dtype, normal):
    """Draws of n, m, ... values are the first n, the next m, ... of one long draw."""
    draw = minigan.randn if normal else minigan.rand
    minigan.manual_seed(seed)
    whole = draw(sum(sizes), dtype=dtype, device="sim").numpy()
    minigan.manual_seed(seed)
    parts = [draw(n, dtype=dtype, device="sim").numpy() for n in sizes]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_the_array_form_is_splitmix64_of_the_counter():
    """Word c of the stream of seed s, computed one at a time with Python ints."""
    seed, offset, n = 12345, 7, 6
    key = rng.stream_key(seed)
    counters = np.arange(2 * offset, 2 * (offset + n), dtype=np.uint64)
    expected = [rng.mix64_int((key + (int(c) + 1) * rng.GOLDEN) & rng.MASK64) for c in counters]
    assert rng.random_bits(np, key, counters).tolist() == expected
    words = np.array(expected, dtype=np.uint64)
    u = rng.uniform_from_bits(words[0::2], np.float64)
    np.testing.assert_array_equal(u, [(w >> 11) / 2.0**53 for w in expected[0::2]])
    z = rng.normal_from_bits(words[0::2], words[1::2], np.float64)
    by_hand = [math.sqrt(-2 * math.log(((a >> 11) + 1) / 2.0**53)) * math.cos(2 * math.pi * ((b >> 11) / 2.0**53))
               for a, b in zip(expected[0::2], expected[1::2])]
    np.testing.assert_allclose(z, by_hand, rtol=8 * np.finfo(np.float64).eps, atol=8 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_streams_have_the_right_distribution(dtype):
    """Mean, variance (six standard errors) and the Kolmogorov-Smirnov distance (its 0.1% critical
    value, 1.95 / sqrt(n)) of 200,000 draws of each kind."""
    n = 200_000
    minigan.manual_seed(1)
    u = np.sort(minigan.rand(n, dtype=dtype, device="sim").numpy().astype(np.float64))
    z = np.sort(minigan.randn(n, dtype=dtype, device="sim").numpy().astype(np.float64))
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 6 * math.sqrt(1 / 12 / n) and abs(u.var() - 1 / 12) < 6 * math.sqrt(1 / 180 / n)
    assert abs(z.mean()) < 6 / math.sqrt(n) and abs(z.var() - 1) < 6 * math.sqrt(2 / n)
    ecdf = np.arange(1, n + 1) / n
    normal_cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    for values, cdf in ((u, u), (z, normal_cdf)):
        assert np.max(np.maximum(ecdf - cdf, cdf - (ecdf - 1 / n))) < 1.95 / math.sqrt(n)


def test_different_seeds_give_different_streams():
    minigan.manual_seed(0)
    a = minigan.rand(8, device="sim").numpy()
    minigan.manual_seed(1)
    assert not np.any(a == minigan.rand(8, device="sim").numpy())


@pytest.mark.skipif(sim_kernel.compiler() is None, reason="the stand-in compiles the CUDA kernels with a C++ compiler; none found")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_random_kernels_equal_the_array_form(monkeypatch, dtype):
    """The GPU's one-kernel draws (run by sim.ElementwiseKernel) against the array form: uniforms
    bit for bit; normals up to the last bits of log and cos (the C library's against NumPy's)."""
    minigan.manual_seed(9)
    minigan.rand(11, device="sim")  # an offset that is not 0
    state = backend.rng_state()
    expected = [minigan.rand(3, 5, dtype=dtype, device="sim").numpy(), minigan.randn(7, 3, dtype=dtype, device="sim").numpy()]
    monkeypatch.setattr(cuda_kernels, "uses_kernels", lambda array: isinstance(array, sim.ndarray))
    backend.set_rng_state(state)
    got = [minigan.rand(3, 5, dtype=dtype, device="sim").numpy(), minigan.randn(7, 3, dtype=dtype, device="sim").numpy()]
    assert backend.rng_state() == {**state, "sim": {"seed": 9, "offset": 11 + 15 + 21}}
    np.testing.assert_array_equal(got[0], expected[0])
    ulps = 16 * np.finfo(dtype).eps  # |z| < 10: a few ulps of log and cos, and one rounding to dtype
    np.testing.assert_allclose(got[1], expected[1], rtol=ulps, atol=ulps)


def test_a_gpu_state_restores_where_that_gpu_is_absent_and_is_used_when_it_draws():
    """A GPU's state is two integers: restoring needs no GPU; drawing on a missing one raises."""
    minigan.manual_seed(0)
    state = {**backend.rng_state(), "cuda:3": {"seed": 4, "offset": 1000}}
    backend.set_rng_state(state)
    assert backend.rng_state()["cuda:3"] == {"seed": 4, "offset": 1000}
    if not minigan.cuda_is_available():
        with pytest.raises(RuntimeError, match="device 'cuda:3'"):
            minigan.randn(2, device="cuda:3")


def test_a_bare_pcg64_state_restores_the_cpu():
    """What checkpoints held before each device had its own generator."""
    minigan.manual_seed(2)
    old = backend.rng_state()["cpu"]
    expected = minigan.randn(4).numpy()
    backend.set_rng_state(old)
    np.testing.assert_array_equal(minigan.randn(4).numpy(), expected)


@pytest.mark.parametrize("state, error, message", [
    ([1, 2], TypeError, "expected the dict that rng_state"),
    ({"cpu": {}}, ValueError, "expected keys 'seed' and 'cpu'"),
    ({"seed": 0, "cpu": None, "tpu": {}}, ValueError, "unknown device 'tpu'"),
    ({"seed": 0, "cpu": None, "sim": {"seed": 1}}, ValueError, "the state of sim must be"),
    ({"seed": 0, "cpu": None, "sim": {"seed": -1, "offset": 0}}, ValueError, "integers >= 0"),
])
def test_a_bad_state_is_refused_and_changes_nothing(state, error, message):
    minigan.manual_seed(6)
    minigan.randn(2, device="sim")
    before = backend.rng_state()
    if isinstance(state, dict) and state.get("cpu", 0) is None:
        state = {**state, "cpu": before["cpu"]}
    with pytest.raises(error, match=message):
        backend.set_rng_state(state)
    assert backend.rng_state() == before
