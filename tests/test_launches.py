"""How many GPU launches a DCGAN iteration makes, counted on the sim device.

On a GPU each CuPy call that computes something is a kernel launch, which costs the host some
microseconds whatever the arrays' size; at batch 64 an iteration's arithmetic takes a fraction
of a millisecond on a large GPU, so the launches set its speed. sim counts the calls minigan
makes into the array module (``sim.calls``) and tells views and allocations, which launch
nothing in CuPy, from the rest (``sim.launches()``). With the CUDA kernels' branches taken, as
on a GPU, one iteration (D step, G step, Adam, the trainer's metrics) makes at most 250
launches: 443 before activations, batch norm, Adam, the gradient norms and constants were
fused or cached (1153 with the array forms).
"""
import numpy as np
import pytest

import minigan
from minigan import cuda_kernels, optim, sim, sim_kernel
from minigan.gan import GANTrainer, build, get_loss

from helpers import gamma

pytestmark = pytest.mark.skipif(sim_kernel.compiler() is None,
                                reason="the stand-in compiles the CUDA kernels with a C++ compiler; none found")
MAX_LAUNCHES = 250


def _use_kernels(monkeypatch, on=True):
    monkeypatch.setattr(cuda_kernels, "uses_kernels", lambda array: on and isinstance(array, sim.ndarray))


def _trainer(loss, dtype=np.float32, seed=0):
    minigan.manual_seed(seed)
    G, D = build("dcgan", loss)
    G.to("sim", dtype)
    D.to("sim", dtype)
    return GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                      optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)), get_loss(loss), device="sim")


def test_sim_counts_launches_not_views_or_allocations():
    a = sim.ones((2, 3))
    sim.reset_calls()
    a.reshape(3, 2), a.T, sim.empty((4,)), sim.ascontiguousarray(a), a[0]  # views and an allocation
    assert sim.launches() == 0 and sim.calls["reshape (no launch)"] == 1
    a + 1.0, sim.exp(a), a.sum(), sim.ascontiguousarray(a.T), a[[0, 1]]  # computing, copying, gathering
    assert sim.launches() == 5, dict(sim.calls)


def test_a_dcgan_iteration_makes_at_most_250_launches(monkeypatch):
    _use_kernels(monkeypatch)
    trainer = _trainer("non-saturating")
    real = minigan.rand(4, 1, 28, 28, device="sim")
    trainer.step(real)  # the first step makes the optimizers' state
    sim.reset_calls()
    sim.reset_transfers()
    trainer.step(real)
    launches = sim.launches()
    print(f"one DCGAN iteration on the CUDA path: {launches} launches, {sum(sim.calls.values())} calls")
    assert launches <= MAX_LAUNCHES, sorted(sim.calls.items(), key=lambda kv: -kv[1])
    assert sim.transfers == {"to_host": 0, "to_device": 0}


def test_a_wgan_gp_iteration_on_the_kernels_equals_the_array_forms(monkeypatch):
    """The gradient penalty differentiates a backward pass (create_graph), where the fused
    backward kernels give way to Tensor ops: its iteration must not change. Both runs are on
    sim, so they draw the same noise; D's gradients after one step, normwise, to 40 roundings
    of the longest sum (a 128 * 7 * 7-feature Linear) in float64."""
    grads = []
    for kernels in (False, True):
        _use_kernels(monkeypatch, kernels)
        trainer = _trainer("wgan-gp", np.float64)
        trainer.sample_z = lambda n: minigan.randn(n, 100, dtype="float64", device="sim")
        trainer.step(minigan.rand(4, 1, 28, 28, dtype="float64", device="sim") * 2.0 - 1.0)
        grads.append([p.grad.numpy() for p in trainer.D.parameters()])
    scale = np.sqrt(sum(float(np.sum(g ** 2)) for g in grads[0]))
    for a, b in zip(*grads):
        assert np.linalg.norm((a - b).ravel()) <= 40 * 2 * gamma(128 * 7 * 7, np.float64) * scale
