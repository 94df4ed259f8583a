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

import numbers

import numpy as np

from . import sim

_cupy = None  # the cupy module, once imported


def _import_cupy():
    """Import CuPy on first use, or explain what to install."""
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as err:
            raise RuntimeError(
                "device 'cuda' needs CuPy: pip install 'minigan[cuda12]' (CUDA 12) "
                "or 'minigan[cuda13]' (CUDA 13)") from err
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # CUDA driver missing or broken
            raise RuntimeError(f"device 'cuda': CuPy is installed but no CUDA GPU is usable ({err})") from err
        if count == 0:
            raise RuntimeError("device 'cuda': CuPy is installed but no CUDA GPU was found")
        _cupy = cupy
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except RuntimeError:
        return False
    return True


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
        return _import_cupy()

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
    return device_of(array).xp


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
    cupy = _import_cupy()
    with cupy.cuda.Device(device.index):
        return cupy.asarray(host)


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


# Random numbers: one generator per kind of device, reseeded together by manual_seed.
_generators: dict = {}


def manual_seed(seed: int) -> None:
    """Seed the random generators of every backend (CPU, sim and, if imported, CUDA).

    Any int in [-2**63, 2**64) works, as in PyTorch: a negative seed stands for seed + 2**64
    (its 64-bit two's complement), so ``manual_seed(-1)`` is ``manual_seed(2**64 - 1)``.
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__} {seed!r}")
    if not -2**63 <= seed < 2**64:
        raise ValueError(f"manual_seed: seed must be in [-2**63, 2**64), got {seed}")
    seed = int(seed) % 2**64
    _generators.clear()
    _generators["seed"] = seed
    if _cupy is not None:
        _cupy.random.seed(seed)


def _generator(device: Device):
    key = "cuda" if device.type == "cuda" else "host"
    if key not in _generators:
        seed = _generators.get("seed")
        if key == "cuda":
            _generators[key] = _import_cupy().random.RandomState(seed)
        else:
            _generators[key] = np.random.default_rng(seed)
    return _generators[key]


def rng_state() -> dict:
    """The host generator's state (a dict of plain numbers), for checkpoints."""
    return _generator(CPU).bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`rng_state`."""
    _generator(CPU).bit_generator.state = state


def standard_normal(shape, dtype, device: Device):
    """Samples of N(0, 1) of ``dtype``, generated on ``device``."""
    device = Device(device)
    gen = _generator(device)
    if device.type == "cuda":
        with _cupy.cuda.Device(device.index):
            return gen.standard_normal(shape, dtype=dtype)
    out = gen.standard_normal(shape, dtype=dtype)
    return sim.asarray(out, count=False) if device.type == "sim" else out


def uniform(shape, dtype, device: Device):
    """Samples of U[0, 1) of ``dtype``, generated on ``device``."""
    device = Device(device)
    gen = _generator(device)
    if device.type == "cuda":
        with _cupy.cuda.Device(device.index):
            return gen.random_sample(shape, dtype=dtype)
    out = gen.random(shape, dtype=dtype)
    return sim.asarray(out, count=False) if device.type == "sim" else out
