"""Devices and array modules: the one place that knows NumPy from CuPy.

A :class:`Device` names where a tensor's array lives:

- ``"cpu"``: a NumPy array.
- ``"cuda"`` / ``"cuda:N"``: a CuPy array on GPU N (CuPy is imported lazily, only here).
- ``"sim"``: a strict NumPy-backed stand-in for CuPy (see :mod:`minigan.sim`), used by
  the tests on machines without a GPU to prove that no op touches device data with NumPy.

Ops never import an array library themselves: they ask :func:`array_module` for the
module that owns their input arrays and call ``xp.exp``, ``xp.matmul`` and so on.
"""
from __future__ import annotations

import contextlib
import numbers
import sys

import numpy as np

from . import sim

_cupy = None  # the cupy module, once a kernel has compiled and run on it
_cuda_problem = None  # why CUDA cannot be used ("" when it can), once checked
_gpu_count = 0  # GPUs that CuPy sees, once checked

# minigan is installed from a checkout (it is not on PyPI); CuPy 14's [ctk] extra brings the CUDA
# libraries its wheels leave out (NVRTC, cuBLAS, cuRAND, the runtime headers) from the package index.
INSTALL_HINT = ('pip install -e ".[cuda12]" in the minigan checkout, or pip install "cupy-cuda12x[ctk]" '
                '(CUDA 12 driver; for a CUDA 13 driver: ".[cuda13]" or "cupy-cuda13x[ctk]")')


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _check_cuda() -> str:
    """'' when CuPy imports, sees a GPU and compiles and runs a kernel on it; else why not."""
    global _gpu_count
    try:
        import cupy
    except ImportError:
        return f"CuPy is not installed: {INSTALL_HINT}"
    except Exception as err:  # a broken install raises other errors at import
        return f"CuPy does not import ({_first_line(err)}): reinstall it: {INSTALL_HINT}"
    try:
        _gpu_count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # no driver, or one too old for this CuPy
        return f"no usable CUDA driver ({_first_line(err)}); CuPy needs an NVIDIA GPU and its driver"
    if _gpu_count == 0:
        return "CuPy sees no CUDA GPU"
    try:
        with cupy.cuda.Device(0):
            x = cupy.arange(4, dtype=cupy.float32)
            twice = cupy.ElementwiseKernel("T x", "T y", "y = 2 * x", "minigan_probe")(x)  # NVRTC
            total = float(cupy.matmul(twice[None, :], x[:, None])[0, 0])  # cuBLAS
    except Exception as err:  # typically: libnvrtc, libcublas or the CUDA headers not found
        return (f"CuPy sees {_gpu_count} GPU(s) but cannot compile and run a kernel ({_first_line(err)}): "
                f"its CUDA libraries are missing: {INSTALL_HINT}")
    if total != 28.0:
        return f"a test kernel on GPU 0 computed {total} instead of 28.0: the GPU or its driver is broken"
    return ""


def cuda_unavailable_reason(index: int = 0):
    """None when ``cuda:index`` can be used; otherwise one line that says why, with what to
    install. The first call imports CuPy and compiles and runs a tiny kernel (cached after)."""
    global _cuda_problem, _cupy
    if _cuda_problem is None:
        _cuda_problem = _check_cuda()
        if not _cuda_problem:
            import cupy
            _cupy = cupy
    if _cuda_problem:
        return _cuda_problem
    if not 0 <= index < _gpu_count:
        return f"there is no GPU cuda:{index}: CuPy sees {_gpu_count} (cuda:0 to cuda:{_gpu_count - 1})"
    return None


def _import_cupy(index: int = 0):
    """CuPy, once it has run a kernel on GPU ``index``; otherwise a RuntimeError that says why."""
    if _cupy is None or index >= _gpu_count:
        problem = cuda_unavailable_reason(index)
        if problem:
            raise RuntimeError(f"device 'cuda:{index}': {problem}")
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy compiles and runs a kernel on a GPU (checked once, then cached)."""
    return cuda_unavailable_reason() is None


def device_argument(spec: str) -> str:
    """``spec`` if it names a device that works here, for ``argparse``'s ``type=``: a CUDA
    device that cannot be used becomes a one-line usage error that says why and what to install."""
    import argparse
    try:
        device = Device(spec)
    except (TypeError, ValueError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if device.type == "cuda":
        problem = cuda_unavailable_reason(device.index)
        if problem:
            raise argparse.ArgumentTypeError(f"{spec} cannot be used: {problem}")
    return spec


class Device:
    """Where a tensor lives: ``Device("cpu")``, ``Device("cuda:0")`` or ``Device("sim")``.

    As in PyTorch, ``Device(1)`` means ``"cuda:1"``, ``Device("cuda", 1)`` too, and anything
    with ``.type`` and ``.index`` (a ``torch.device``) is read by those.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            spec = str(spec)
        elif hasattr(spec, "type") and hasattr(spec, "index") and not isinstance(spec, str):
            spec, index = spec.type, spec.index  # a torch.device
        if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
            spec, index = "cuda", spec  # PyTorch: an int is a GPU index
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', or a GPU index, got "
                            f"{type(spec).__name__}")
        kind, _, number = spec.partition(":")
        if index is not None:
            if number:
                raise ValueError(f"device {spec!r} has an index already; got index={index!r} too")
            if not isinstance(index, numbers.Integral) or isinstance(index, bool) or index < 0:
                raise ValueError(f"device: the GPU index must be a non-negative int, got {index!r}")
            number = str(int(index))
        if kind not in ("cpu", "cuda", "sim") or (number and kind == "sim"):
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda', 'cuda:N', 'sim' or a GPU index N")
        if number and not number.isdigit():
            raise ValueError(f"unknown device {spec!r}: the GPU index must be a non-negative number")
        if kind == "cpu" and number not in ("", "0"):
            raise ValueError(f"unknown device {spec!r}: the CPU is device 'cpu' (or 'cpu:0')")
        self.type = kind
        self.index = int(number) if kind == "cuda" and number else (0 if kind == "cuda" else None)

    @property
    def xp(self):
        """The array module (numpy, cupy or the sim stand-in) for this device."""
        if self.type == "cpu":
            return np
        if self.type == "sim":
            return sim
        return _import_cupy(self.index)

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device('{self}')"


CPU = Device("cpu")
SIM = Device("sim")


def device_of(array) -> Device:
    """The device that holds ``array``."""
    if isinstance(array, (np.ndarray, np.generic)):
        return CPU
    if isinstance(array, sim.ndarray):
        return SIM
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return Device(f"cuda:{array.device.id}")
    cupy = sys.modules.get("cupy")  # a CuPy array made before minigan checked CUDA
    if cupy is not None and isinstance(array, getattr(cupy, "ndarray", ())):
        _import_cupy(array.device.id)  # checks CUDA once; from then on the branch above serves
        return Device(f"cuda:{array.device.id}")
    raise TypeError(f"expected a NumPy or CuPy array, got {type(array).__name__}")


def is_array(value) -> bool:
    """True for a NumPy, CuPy or sim array (anything :func:`device_of` can place)."""
    try:
        device_of(value)
        return True
    except TypeError:
        return False


def is_cupy(array) -> bool:
    """True for a CuPy array (on a GPU); False for NumPy and sim arrays."""
    return _cupy is not None and isinstance(array, _cupy.ndarray)


def array_module(array):
    """numpy, cupy or the sim stand-in: the module whose functions work on ``array``."""
    if isinstance(array, np.ndarray):
        return np
    if isinstance(array, sim.ndarray):
        return sim
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return device_of(array).xp  # raises the TypeError for what is no array


def check_same_device(op: str, arrays) -> None:
    """Raise if the arrays of one op live on different devices, naming both."""
    first = type(arrays[0])
    if all(type(a) is first for a in arrays) and first is not getattr(_cupy, "ndarray", None):
        return
    devices = [device_of(a) for a in arrays]
    for d in devices[1:]:
        if d != devices[0]:
            raise RuntimeError(f"{op}: expected all tensors on one device, got {devices[0]} and {d}")


def to_device(array, device: Device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = Device(device)
    if device_of(array) == device:
        return array
    host = to_numpy(array)
    if device.type == "cpu":
        return host
    if device.type == "sim":
        return sim.asarray(host)
    with on_device(device):
        return _cupy.asarray(host)


_SAME_DEVICE = contextlib.nullcontext()


def on_device(device):
    """Context in which CuPy allocates and launches on ``device`` (a no-op for cpu and sim)."""
    device = Device(device)
    if device.type == "cuda":
        return _import_cupy(device.index).cuda.Device(device.index)
    return _SAME_DEVICE


def on_device_of(array):
    """Context in which CuPy calls on ``array`` run on its GPU. CuPy allocates and launches on
    the *current* GPU, so ops on a cuda:1 array must make GPU 1 current; with one GPU it always
    is, and off CUDA there is nothing to switch: then this is a no-op."""
    if _gpu_count > 1 and _cupy is not None and isinstance(array, _cupy.ndarray):
        return array.device
    return _SAME_DEVICE


def to_numpy(array) -> np.ndarray:
    """A NumPy copy of ``array`` (the array itself when it is on the CPU): a device-to-host copy."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np.asarray(array)
    return array.get()


def synchronize(device) -> None:
    """Wait until ``device`` has finished its queued work (a no-op off CUDA); for timing."""
    device = Device(device)
    if device.type == "cuda":
        _import_cupy().cuda.Device(device.index).synchronize()


def scatter_add(target, index, values) -> None:
    """``target[index] += values``, adding repeated indices up (NumPy's ``add.at``)."""
    if isinstance(target, np.ndarray):
        np.add.at(target, index, values)
    elif isinstance(target, sim.ndarray):
        sim.scatter_add(target, index, values)
    else:
        import cupyx  # installed together with cupy
        cupyx.scatter_add(target, index, values)


# Random numbers: one generator per device (minigan/rng.py), reseeded together by manual_seed.
def manual_seed(seed: int) -> None:
    """Seed the random generators of every device (the CPU, sim and each GPU) with ``seed``.

    Any int in [-2**63, 2**64) works, as in PyTorch: a negative seed stands for seed + 2**64
    (its 64-bit two's complement), so ``manual_seed(-1)`` is ``manual_seed(2**64 - 1)``.
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__} {seed!r}")
    if not -2**63 <= seed < 2**64:
        raise ValueError(f"manual_seed: seed must be in [-2**63, 2**64), got {seed}")
    rng.seed_all(int(seed) % 2**64)


def rng_state() -> dict:
    """The seed and every device's generator state (plain numbers), for checkpoints."""
    return rng.get_state()


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`rng_state`."""
    rng.set_state(state)


def standard_normal(shape, dtype, device: Device):
    """Samples of N(0, 1) of ``dtype``, generated on ``device`` by its generator."""
    return rng.generator(device).standard_normal(shape, dtype)


def uniform(shape, dtype, device: Device):
    """Samples of U[0, 1) of ``dtype``, generated on ``device`` by its generator."""
    return rng.generator(device).uniform(shape, dtype)


from . import rng  # noqa: E402  (rng uses Device)
