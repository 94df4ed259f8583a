"""How minigan decides whether CUDA can be used, and what it says when it cannot.

``cuda_is_available()`` is True only when CuPy imports, sees a GPU, and compiles and runs a
tiny kernel (NVRTC) and a matrix product (cuBLAS) on it: CuPy 14's wheels carry no CUDA
libraries, so on a machine with only the driver CuPy imports and counts GPUs and then fails at
the first kernel. Each way of failing is played here by a stand-in ``cupy`` module; the answer
is one line that names what to install, and the examples print it instead of a traceback.
"""
import contextlib
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import minigan
from minigan import backend, sim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL = ('pip install -e ".[cuda12]"', 'pip install "cupy-cuda12x[ctk]"', '"cupy-cuda13x[ctk]"')


@pytest.fixture
def unchecked(monkeypatch):
    """backend as before its first CUDA check (restored afterwards)."""
    monkeypatch.setattr(backend, "_cuda_problem", None)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_gpu_count", 0)
    return monkeypatch


def stand_in_cupy(gpus=1, driver_error=None, kernel_error=None):
    """A 'cupy' module that is enough for backend's check, failing where told to."""
    def device_count():
        if driver_error is not None:
            raise driver_error
        return gpus

    class Kernel:
        def __init__(self, in_params, out_params, body, name):
            self.name = name

        def __call__(self, x):
            if kernel_error is not None:
                raise kernel_error
            return x * 2

    cupy = types.ModuleType("cupy")
    cupy.ndarray = type("ndarray", (), {})
    cupy.float32, cupy.arange, cupy.matmul, cupy.ElementwiseKernel = np.float32, sim.arange, sim.matmul, Kernel
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count),
                                      Device=lambda index: contextlib.nullcontext())
    return cupy


def assert_names_the_install_commands(text):
    for command in INSTALL:
        assert command in text


def test_without_cupy_the_reason_says_what_to_install(unchecked):
    unchecked.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail, as when not installed
    assert not minigan.cuda_is_available()
    reason = backend.cuda_unavailable_reason()
    assert reason.startswith("CuPy is not installed: ") and "\n" not in reason
    assert_names_the_install_commands(reason)
    with pytest.raises(RuntimeError, match=r"device 'cuda:0': CuPy is not installed: pip install"):
        minigan.zeros(2, device="cuda")


def test_without_a_driver_the_reason_says_so(unchecked):
    error = RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient\nsecond line")
    unchecked.setitem(sys.modules, "cupy", stand_in_cupy(driver_error=error))
    assert not minigan.cuda_is_available()
    assert backend.cuda_unavailable_reason() == (
        "no usable CUDA driver (RuntimeError: cudaErrorInsufficientDriver: CUDA driver version is "
        "insufficient); CuPy needs an NVIDIA GPU and its driver")


def test_without_gpus_the_reason_says_so(unchecked):
    unchecked.setitem(sys.modules, "cupy", stand_in_cupy(gpus=0))
    assert backend.cuda_unavailable_reason() == "CuPy sees no CUDA GPU"


def test_a_gpu_that_cannot_compile_a_kernel_is_not_available(unchecked):
    """The driver-only machine: CuPy counts the GPU, then NVRTC is not found at the first kernel."""
    error = OSError('Failure finding "libnvrtc.so": no such file')
    unchecked.setitem(sys.modules, "cupy", stand_in_cupy(kernel_error=error))
    assert not minigan.cuda_is_available()
    reason = backend.cuda_unavailable_reason()
    assert reason.startswith("CuPy sees 1 GPU(s) but cannot compile and run a kernel "
                             "(OSError: Failure finding \"libnvrtc.so\": no such file): its CUDA libraries are missing")
    assert_names_the_install_commands(reason)


def test_a_working_gpu_is_available_and_checked_once(unchecked):
    cupy = stand_in_cupy(gpus=2)
    unchecked.setitem(sys.modules, "cupy", cupy)
    assert minigan.cuda_is_available()
    assert backend._cupy is cupy
    assert backend.cuda_unavailable_reason(1) is None
    assert backend.cuda_unavailable_reason(2) == "there is no GPU cuda:2: CuPy sees 2 (cuda:0 to cuda:1)"
    unchecked.setitem(sys.modules, "cupy", None)  # the answer is cached: no second import
    assert minigan.cuda_is_available()
    with pytest.raises(RuntimeError, match=r"device 'cuda:2': there is no GPU cuda:2"):
        backend.Device("cuda:2").xp


def test_device_argument_turns_a_problem_into_a_usage_error(unchecked):
    import argparse
    unchecked.setitem(sys.modules, "cupy", None)
    assert backend.device_argument("cpu") == "cpu" and backend.device_argument("sim") == "sim"
    with pytest.raises(argparse.ArgumentTypeError, match="cuda:1 cannot be used: CuPy is not installed"):
        backend.device_argument("cuda:1")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown device 'tpu'"):
        backend.device_argument("tpu")


@pytest.mark.skipif(minigan.cuda_is_available(), reason="CUDA works here: there is no problem to print")
@pytest.mark.parametrize("script", ["mnist_gan.py", "acgan.py", "sample.py"])
def test_the_examples_print_the_reason_and_stop(script):
    """`--device cuda` where CUDA cannot be used: one line that says why and what to install, no
    traceback, exit status 2 (argparse's usage error), before any data is read."""
    extra = ["checkpoint.npz"] if script == "sample.py" else []
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *extra, "--device", "cuda"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: error: argument --device: cuda cannot be used: ")
    assert last.endswith(backend.cuda_unavailable_reason())


# -- which GPU runs an op ------------------------------------------------------------------------
def test_on_device_of_switches_only_between_gpus(unchecked):
    """CuPy launches on the current GPU: with two, an op on a cuda:1 array must make GPU 1
    current (the array's ``.device`` is that context); with one GPU, or off CUDA, nothing to do."""
    cupy = stand_in_cupy(gpus=2)
    cupy.ndarray = type("ndarray", (), {"device": "the context of GPU 1"})
    unchecked.setitem(sys.modules, "cupy", cupy)
    assert minigan.cuda_is_available()
    on_gpu1 = cupy.ndarray()
    assert backend.on_device_of(on_gpu1) == "the context of GPU 1"
    assert backend.on_device_of(np.zeros(2)) is backend.on_device_of(sim.zeros(2)) is backend._SAME_DEVICE
    unchecked.setattr(backend, "_gpu_count", 1)
    assert backend.on_device_of(on_gpu1) is backend._SAME_DEVICE


def test_ops_backward_steps_and_creation_enter_their_device(monkeypatch):
    """The places that must run on the array's GPU ask for its context: every Function's
    forward (with its first input), the backward pass (with the seed gradient), each optimizer
    update (with the parameter) and the creation functions (with the device)."""
    entered = []

    class Recorder:
        def __init__(self, what):
            self.what = what

        def __enter__(self):
            entered.append(self.what)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(backend, "on_device_of", lambda array: Recorder(array))
    monkeypatch.setattr(backend, "on_device", lambda device: Recorder(str(backend.Device(device))))
    w = minigan.randn(3, device="sim", requires_grad=True)
    x = minigan.ones(3, device="sim")
    assert entered == ["sim", "sim"]
    loss = (w * x).sum()
    assert entered[2] is w.array and entered[3].shape == (3,) and len(entered) == 4  # Mul, then Sum
    loss.backward()
    seed = entered[4]
    assert seed.shape == () and float(seed.get()) == 1.0  # the backward pass, on the seed's device
    before, param = len(entered), w.array
    minigan.optim.SGD([w], lr=0.1).step()
    assert entered[before] is param
