"""The GPU path end to end: what one run on a GPU must show to call the CUDA path sound.

Each test runs on three devices:

- ``sim``: the strict stand-in for CuPy, taking the array forms (no GPU needed);
- ``sim-kernels``: the same, with the CUDA kernels' branches taken (their C++ bodies compiled
  for the CPU by ``sim.ElementwiseKernel``), which is what a GPU runs;
- ``cuda``: a real GPU (marked ``cuda``; skipped, with the reason, where there is none).

Against the CPU: a whole DCGAN iteration from the same weights and the same noise (float64
to a tolerance derived from the size of the computation, float32 loosely), Adam's update,
checkpoints saved on the device and loaded on the CPU and back, the data loader feeding the
device, and ``examples/mnist_gan.py`` for a few steps plus a ``--resume`` that gives the same
bits as a straight run.
"""
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minigan
from minigan import autograd, backend, cuda_kernels, optim, sim, sim_kernel
from minigan.data import ArrayDataset, DataLoader
from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss

from helpers import gamma, unit_roundoff

ROOT = pathlib.Path(__file__).resolve().parent.parent
NO_COMPILER = sim_kernel.compiler() is None
DEVICES = [
    pytest.param("sim", id="sim"),
    pytest.param("sim-kernels", id="sim-kernels", marks=pytest.mark.skipif(
        NO_COMPILER, reason="the stand-in compiles the CUDA kernels with a C++ compiler; none found")),
    pytest.param("cuda", id="cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
        not minigan.cuda_is_available(), reason=f"needs a usable CUDA GPU: {backend.cuda_unavailable_reason()}")]),
]


@pytest.fixture(params=DEVICES)
def device(request, monkeypatch):
    """The device to run on; for sim-kernels, the library takes its CUDA-kernel branches on sim."""
    if request.param == "sim-kernels":
        monkeypatch.setattr(cuda_kernels, "uses_kernels", lambda array: isinstance(array, sim.ndarray))
        return "sim"
    return request.param


# -- a DCGAN iteration against the CPU -------------------------------------------------------
BATCH, LR, ADAM_EPS = 8, 2e-4, 1e-8
# The longest sum in the iteration: D's last layer, a Linear over 128 * 7 * 7 features.
LONGEST_SUM = 128 * 7 * 7
# Functions on the longest path of a G step, forward and backward: G (linear, batch norm, relu,
# conv_transpose2d, batch norm, relu, conv_transpose2d, tanh), D (conv2d, leaky relu, conv2d,
# batch norm, leaky relu, flatten, linear), the loss, and as many again backwards; rounded up.
DEPTH = 40


def gradient_tolerance(dtype) -> float:
    """Normwise, relative to the whole model's gradient: each op on the path adds at most
    2 gamma_n (both devices' rounding) of the magnitudes it works on, which are of the order
    of the gradient's norm."""
    return DEPTH * 2 * gamma(LONGEST_SUM, dtype)


def _initial_weights(seed=0):
    minigan.manual_seed(seed)
    G, D = dcgan_init_(dcgan_generator()), dcgan_init_(dcgan_discriminator())
    return G.state_dict(), D.state_dict()


def _models(weights, device, dtype):
    G, D = dcgan_generator(), dcgan_discriminator()
    G.load_state_dict(weights[0])
    D.load_state_dict(weights[1])
    return G.to(device, dtype), D.to(device, dtype)


def _inputs(dtype):
    rng = np.random.default_rng(123)
    real = rng.uniform(-1, 1, (BATCH, 1, 28, 28)).astype(dtype)
    return real, [rng.standard_normal((BATCH, 100)).astype(dtype) for _ in range(2)]


def _gradients_at_fixed_weights(weights, device, dtype):
    """D's loss and its gradient in D's weights; G's loss and its gradient in G's weights."""
    G, D = _models(weights, device, dtype)
    real_np, (z1, z2) = _inputs(dtype)
    loss = get_loss("non-saturating")
    real = minigan.tensor(real_np, device=device)
    with minigan.no_grad():
        fake = G(minigan.tensor(z1, device=device))
    d_loss = loss.d_loss(D(real), D(fake))
    d_grads = autograd.grad(d_loss, list(D.parameters()))
    g_loss = loss.g_loss(D(G(minigan.tensor(z2, device=device))))
    g_grads = autograd.grad(g_loss, list(G.parameters()))
    return [d_loss.item(), g_loss.item()], [g.numpy() for g in d_grads], [g.numpy() for g in g_grads]


def _assert_gradients_close(got, expected, tolerance, what):
    scale = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in expected))
    for i, (a, e) in enumerate(zip(got, expected)):
        assert a.shape == e.shape and a.dtype == e.dtype
        error = float(np.linalg.norm((a.astype(np.float64) - e).ravel()))
        assert error <= tolerance * scale, f"{what} gradient {i}: off by {error:.3g}, allowed {tolerance * scale:.3g}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dcgan_gradients_match_the_cpu(device, dtype):
    weights = _initial_weights()
    expected = _gradients_at_fixed_weights(weights, "cpu", dtype)
    got = _gradients_at_fixed_weights(weights, device, dtype)
    tolerance = gradient_tolerance(dtype)
    np.testing.assert_allclose(got[0], expected[0], rtol=tolerance)  # the losses
    _assert_gradients_close(got[1], expected[1], tolerance, "D")
    _assert_gradients_close(got[2], expected[2], tolerance, "G")


def _one_iteration(weights, device, dtype):
    """One GANTrainer.step (a D step, then a G step, each with Adam) from ``weights``."""
    G, D = _models(weights, device, dtype)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), LR, betas=(0.5, 0.999), eps=ADAM_EPS),
                         optim.Adam(D.parameters(), LR, betas=(0.5, 0.999), eps=ADAM_EPS),
                         get_loss("non-saturating"), device=device)
    real, zs = _inputs(dtype)
    queue = [minigan.tensor(z, device=device) for z in zs]
    trainer.sample_z = lambda n: queue.pop(0)  # the same noise on both devices
    params = list(D.parameters()) + list(G.parameters())
    before = [p.numpy().copy() for p in params]  # on the CPU, numpy() is the array itself
    metrics = trainer.step(minigan.tensor(real, device=device))
    assert all(p.device == device for p in params) and all(m.device == device for m in metrics.values())
    return {k: v.item() for k, v in metrics.items()}, before, [p.numpy() for p in params], [p.grad.numpy() for p in params]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_dcgan_iteration_matches_the_cpu(device, dtype):
    """D's metrics (before its update) to the gradient tolerance; every weight after the
    iteration within what Adam's first step allows for the gradients' difference: its update
    lr g / (|g| + eps) moves by at most lr / eps times a change of g, and by at most 2 lr."""
    weights = _initial_weights()
    cpu_metrics, before, cpu_params, cpu_grads = _one_iteration(weights, "cpu", dtype)
    metrics, _, params, grads = _one_iteration(weights, device, dtype)
    assert metrics.keys() == cpu_metrics.keys()
    tolerance = gradient_tolerance(dtype)
    for key in ("d_loss", "d_real", "d_fake", "d_accuracy"):
        np.testing.assert_allclose(metrics[key], cpu_metrics[key], rtol=tolerance, err_msg=key)
    u = unit_roundoff(dtype)
    for i, (p, e, g, ge) in enumerate(zip(params, cpu_params, grads, cpu_grads)):
        gradient_change = np.abs(g.astype(np.float64) - ge)
        allowed = np.minimum(2 * LR, LR / ADAM_EPS * gradient_change) + 16 * u * (np.abs(e) + LR)
        assert np.all(np.abs(p.astype(np.float64) - e) <= allowed), f"parameter {i}"
    moved = [np.max(np.abs(p - b)) for p, b in zip(cpu_params, before) if p.ndim > 1]
    assert min(moved) > LR / 2  # every weight matrix moved (biases before a batch norm have 0 gradients)


# -- Adam's kernel -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, transposed", [((33, 7), False), ((4, 8, 3, 3), False), ((6, 5), True)])
def test_adam_on_the_device_matches_the_cpu(device, dtype, shape, transposed):
    """Five steps with weight decay, the gradient of a Linear-like weight non-contiguous in one
    case. Each step rounds each of param, m and v a handful of times on each device (the
    kernel's compiler may fuse multiply-adds): 16 u per step of each array's scale."""
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape).astype(dtype)
    grads = rng.standard_normal((5,) + (shape[::-1] if transposed else shape)).astype(dtype)
    results = []
    for dev in ("cpu", device):
        p = minigan.tensor(start, device=dev, requires_grad=True)
        opt = optim.Adam([p], lr=0.01, betas=(0.5, 0.999), weight_decay=0.1)
        for g in grads:
            g = minigan.tensor(g, device=dev)
            p.grad = g.T if transposed else g
            opt.step()
        state = opt.state[p]
        results.append([p.numpy()] + [backend.to_numpy(state[k]) for k in ("exp_avg", "exp_avg_sq")])
    steps, u = len(grads), unit_roundoff(dtype)
    for name, got, expected in zip(("param", "exp_avg", "exp_avg_sq"), results[1], results[0]):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=0, atol=16 * steps * u * np.max(np.abs(expected)), err_msg=name)
    assert not np.array_equal(results[0][0], start)


# -- checkpoints and the data loader -------------------------------------------------------------
def _tiny_trainer(device):
    minigan.manual_seed(0)
    G = minigan.nn.Sequential(minigan.nn.Linear(4, 16), minigan.nn.BatchNorm1d(16), minigan.nn.ReLU(),
                              minigan.nn.Linear(16, 6), minigan.nn.Tanh()).to(device)
    D = minigan.nn.Sequential(minigan.nn.Linear(6, 8), minigan.nn.LeakyReLU(0.2), minigan.nn.Linear(8, 1)).to(device)
    return GANTrainer(G, D, optim.Adam(G.parameters(), 1e-2), optim.Adam(D.parameters(), 1e-2),
                      get_loss("non-saturating"), latent_dim=4, device=device)


def _state_arrays(trainer):
    """Every array of the trainer's state (weights, buffers, optimizer moments) with its device."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, minigan.Tensor):
            out[prefix] = (str(value.device), value.numpy())
    walk("", trainer.state_dict())
    return out


def test_a_checkpoint_saved_on_the_device_loads_on_the_cpu_and_back(device, tmp_path):
    trainer = _tiny_trainer(device)
    real = minigan.randn(8, 6, device=device)
    for _ in range(2):
        trainer.step(real)
    saved = _state_arrays(trainer)
    minigan.save({"trainer": trainer.state_dict(), "rng": backend.rng_state()}, tmp_path / "ck.npz")
    expected = [trainer.step(real)["d_loss"].item() for _ in range(2)]  # what the run does next

    on_cpu = minigan.load(tmp_path / "ck.npz", device="cpu")
    cpu_trainer = _tiny_trainer("cpu")
    cpu_trainer.load_state_dict(on_cpu["trainer"])
    for key, (dev, values) in _state_arrays(cpu_trainer).items():
        assert dev == "cpu" and saved[key][0] == str(backend.Device(device))
        np.testing.assert_array_equal(values, saved[key][1], err_msg=key)

    back = minigan.load(tmp_path / "ck.npz")
    resumed = _tiny_trainer(device)
    resumed.load_state_dict(back["trainer"])
    backend.set_rng_state(back["rng"])
    for key, (dev, values) in _state_arrays(resumed).items():
        assert dev == saved[key][0]
        np.testing.assert_array_equal(values, saved[key][1], err_msg=key)
    got = [resumed.step(real)["d_loss"].item() for _ in range(2)]
    assert got == expected  # the same bits: same device, same state, same noise


def test_the_data_loader_feeds_the_device(device):
    images = np.random.default_rng(0).uniform(-1, 1, (10, 1, 4, 4)).astype(np.float32)
    labels = np.arange(10)
    batches = {}
    for dev in ("cpu", device):
        loader = DataLoader(ArrayDataset(images, labels), batch_size=4, shuffle=True, seed=1, device=dev)
        batches[dev] = [(x.device, y.device, x.numpy(), y.numpy()) for x, y in loader]
    assert len(batches[device]) == 3
    for (xd, yd, x, y), (_, _, cx, cy) in zip(batches[device], batches["cpu"]):
        assert xd == yd == device
        np.testing.assert_array_equal(x, cx)
        np.testing.assert_array_equal(y, cy)


# -- the example, with --resume -------------------------------------------------------------------
TINY = ["--limit", "32", "--batch-size", "16", "--log-every", "1"]  # 2 steps an epoch


def _run_example(device, args, tmp_path):
    """examples/mnist_gan.py with ``args``: on a GPU as a subprocess, as users run it; on sim
    in this process (the sim-kernels branch choice lives here)."""
    dead_proxy = "http://127.0.0.1:9"  # downloads fail at once: the embedded 10,000 digits are used
    env = {**os.environ, "MINIGAN_DATA": str(tmp_path / "no-data"), "HOME": str(tmp_path / "home"),
           **{k: dead_proxy for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}}
    env.pop("no_proxy", None), env.pop("NO_PROXY", None)
    env.setdefault("CUPY_CACHE_DIR", os.path.expanduser("~/.cupy/kernel_cache"))  # compiled kernels, kept
    if device.startswith("cuda"):
        result = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist_gan.py"), "--device", device, *args],
                                capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return
    spec = importlib.util.spec_from_file_location("mnist_gan", ROOT / "examples" / "mnist_gan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--device", device, *args])


@pytest.mark.slow
@pytest.mark.parametrize("device", [p for p in DEVICES if p.id != "sim"], indirect=True)  # sim-kernels is a GPU's path
def test_the_example_trains_on_the_device_and_resumes_to_the_same_bits(device, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",), raising=False)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _run_example(device, TINY + ["--epochs", "2", "--out", str(straight)], tmp_path)
    _run_example(device, TINY + ["--epochs", "1", "--out", str(resumed)], tmp_path)
    _run_example(device, TINY + ["--epochs", "2", "--resume", "--out", str(resumed)], tmp_path)
    a, b = (minigan.load(d / "checkpoint.npz") for d in (straight, resumed))
    assert a["trainer"]["d_steps"] == b["trainer"]["d_steps"] == 4
    assert a["rng"] == b["rng"] and str(backend.Device(device)) in a["rng"]  # the device's generator, saved
    for part in ("generator", "discriminator", "g_optimizer", "d_optimizer"):
        flat_a, flat_b = _flatten(a["trainer"][part]), _flatten(b["trainer"][part])
        assert flat_a.keys() == flat_b.keys() and flat_a
        for key in flat_a:
            np.testing.assert_array_equal(flat_a[key], flat_b[key], err_msg=f"{part}/{key}")
    steps_a, steps_b = ((d / "steps.jsonl").read_text() for d in (straight, resumed))
    assert steps_a == steps_b  # every step's losses, to the last digit


def _flatten(state, prefix=""):
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, minigan.Tensor):
            out[f"{prefix}{k}"] = v.numpy()
    return out
