"""Random numbers: one generator per device, each with a state that a checkpoint can save.

- The CPU draws from NumPy's default generator (PCG64); its state is NumPy's dict of integers.
- A GPU, and the sim stand-in for one, draw from a *counter-based* generator: the c-th random
  word of the stream is a pure function of the seed and c, SplitMix64's mixing function
  (Steele, Lea and Flood 2014) applied to ``mix(seed) + (c + 1) * golden``. Its whole state is
  two integers, ``seed`` and ``offset`` (how many values were drawn so far), every value of a
  draw is computed on its own (on a GPU: one thread each, one kernel launch per draw), and
  restoring the two integers repeats the stream exactly, on this GPU or another one.

Value ``j`` of a draw at ``offset`` uses the words ``c = 2 (offset + j)`` and ``c + 1``:
a uniform is the top bits of word ``c`` scaled to [0, 1); a normal is Box-Muller's
``sqrt(-2 ln u1) cos(2 pi u2)`` of the uniforms ``u1`` in (0, 1] and ``u2`` in [0, 1) of the
two words, computed in float64. :func:`random_bits` and friends below are the array forms;
on a GPU, minigan/cuda_kernels.py does the same in one kernel.

:func:`minigan.manual_seed` seeds every device's generator with the same seed (as PyTorch's
does); :func:`get_state` is what ``minigan.backend.rng_state()`` puts into a checkpoint.
"""
from __future__ import annotations

import math
import secrets

import numpy as np

from . import backend, cuda_kernels

GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: the step between counters
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # SplitMix64's multipliers
MASK64 = (1 << 64) - 1


def mix64_int(z: int) -> int:
    """SplitMix64's mixing function on one Python int (mod 2^64)."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def stream_key(seed: int) -> int:
    """The stream's 64-bit key: the seed, mixed, so that seeds 0, 1, 2 start far apart."""
    return mix64_int((seed + GOLDEN) & MASK64)


def random_bits(xp, key: int, counters):
    """The 64-bit words of the stream ``key`` at ``counters`` (a uint64 array), by array ops."""
    z = counters * xp.uint64(GOLDEN) + xp.uint64((key + GOLDEN) & MASK64)  # key + (c + 1) golden, mod 2^64
    z = (z ^ (z >> xp.uint64(30))) * xp.uint64(MIX1)
    z = (z ^ (z >> xp.uint64(27))) * xp.uint64(MIX2)
    return z ^ (z >> xp.uint64(31))


def uniform_from_bits(bits, dtype):
    """Words -> U[0, 1): the top 24 bits for float32, the top 53 for float64 (each value exact)."""
    if np.dtype(dtype) == np.float32:
        return (bits >> bits.dtype.type(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return (bits >> bits.dtype.type(11)).astype(np.float64) * 2.0 ** -53


def normal_from_bits(bits1, bits2, dtype):
    """Two words -> N(0, 1) by Box-Muller, in float64, rounded to ``dtype`` at the end."""
    u1 = ((bits1 >> bits1.dtype.type(11)).astype(np.float64) + 1.0) * 2.0 ** -53  # in (0, 1]: log(u1) is finite
    u2 = (bits2 >> bits2.dtype.type(11)).astype(np.float64) * 2.0 ** -53
    xp = backend.array_module(u1)
    return (xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(2.0 * math.pi * u2)).astype(dtype)


class HostGenerator:
    """The CPU's generator: NumPy's PCG64."""

    def __init__(self, seed=None):
        self.numpy = np.random.default_rng(seed)

    def standard_normal(self, shape, dtype):
        return self.numpy.standard_normal(shape, dtype=dtype)

    def uniform(self, shape, dtype):
        return self.numpy.random(shape, dtype=dtype)

    def state(self) -> dict:
        return self.numpy.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.numpy.bit_generator.state = state


class CounterGenerator:
    """A GPU's (or sim's) generator: the counter-based stream of ``seed``, ``offset`` values in."""

    def __init__(self, device, seed: int, offset: int = 0):
        self.device, self.seed, self.offset = backend.Device(device), int(seed), int(offset)
        self.key = stream_key(self.seed)

    def _draw(self, kind: str, shape, dtype):
        xp = self.device.xp
        with backend.on_device(self.device):
            out = xp.empty(shape, dtype=dtype)
            start, self.offset = self.offset, self.offset + out.size
            if cuda_kernels.uses_kernels(out):  # on a GPU: one kernel
                return cuda_kernels.random_fill(kind, self.key, start, out)
            counters = (xp.arange(out.size, dtype=np.uint64) + xp.uint64(start)) * xp.uint64(2)
            bits = random_bits(xp, self.key, counters)
            if kind == "uniform":
                values = uniform_from_bits(bits, dtype)
            else:
                values = normal_from_bits(bits, random_bits(xp, self.key, counters + xp.uint64(1)), dtype)
            return values.reshape(out.shape)

    def standard_normal(self, shape, dtype):
        return self._draw("normal", shape, dtype)

    def uniform(self, shape, dtype):
        return self._draw("uniform", shape, dtype)

    def state(self) -> dict:
        return {"seed": self.seed, "offset": self.offset}


# -- the generators of this process: one per device, created on first use -----------------
_seed = None  # the last manual_seed; None: fresh entropy for each new generator
_generators: dict = {}  # Device -> generator


def seed_all(seed: int) -> None:
    """Forget every generator; each device's is created again from ``seed`` on first use."""
    global _seed
    _generators.clear()
    _seed = int(seed)


def generator(device):
    """The generator of ``device`` (created from the current seed on first use)."""
    device = backend.Device(device)
    gen = _generators.get(device)
    if gen is None:
        if device.type == "cpu":
            gen = HostGenerator(_seed)
        else:
            gen = CounterGenerator(device, _seed if _seed is not None else secrets.randbits(63))
        _generators[device] = gen
    return gen


def get_state() -> dict:
    """``{"seed": ..., "cpu": PCG64's state, "cuda:0": {"seed", "offset"}, ...}``: the seed and
    the state of every generator used so far (plain numbers, as checkpoints store them)."""
    generator("cpu")  # always there, so that a checkpoint restores the CPU's stream
    return {"seed": _seed, **{str(device): gen.state() for device, gen in _generators.items()}}


def set_state(state: dict) -> None:
    """Restore what :func:`get_state` returned. A GPU's state is two integers that need no GPU
    to restore: it is kept and used when that GPU draws. A bare PCG64 state (what checkpoints
    held before GPUs had their own generators) restores the CPU's."""
    global _seed
    if not isinstance(state, dict):
        raise TypeError(f"set_rng_state: expected the dict that rng_state() returns, got {type(state).__name__}")
    if "bit_generator" in state:
        state = {"seed": _seed, "cpu": state}
    if "seed" not in state or "cpu" not in state:
        raise ValueError(f"set_rng_state: expected keys 'seed' and 'cpu' (what rng_state() returns), got {sorted(state)}")
    generators = {}
    for name, value in state.items():
        if name == "seed":
            continue
        device = backend.Device(name)  # ValueError for what is no device
        if device.type == "cpu":
            host = HostGenerator()
            host.set_state(value)
            generators[device] = host
        else:
            generators[device] = CounterGenerator(device, *_counter_state(name, value))
    _seed = None if state["seed"] is None else int(state["seed"])
    _generators.clear()
    _generators.update(generators)


def _counter_state(name: str, value) -> tuple:
    if not isinstance(value, dict) or set(value) != {"seed", "offset"}:
        raise ValueError(f"set_rng_state: the state of {name} must be {{'seed': int, 'offset': int}}, got {value!r}")
    seed, offset = value["seed"], value["offset"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (seed, offset)):
        raise ValueError(f"set_rng_state: the seed and offset of {name} must be integers >= 0, got {value!r}")
    return seed, offset
