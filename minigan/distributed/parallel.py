"""Data parallelism: one model, N ranks, each on its own shard of every batch.

Every rank holds the same weights (:func:`broadcast_module` makes them rank 0's at the start),
computes the gradient of its shard's mean loss, and then :class:`GradientAllReduce` replaces
each rank's gradients by their mean over the ranks,

    g = (1 / N) sum_r g_r,

which, when the N shards are equally large, is the gradient of the whole global batch's mean
loss. Every rank then takes the same optimizer step from the same gradient, so the weights
stay equal without ever being sent again. The gradients of a model travel as one flat buffer:
one all-reduce per step, not one per tensor (a collective costs a fixed latency, however small
its array).

:func:`rank_seed` gives each rank its own random stream (noise, dropout masks), derived from
the run's seed and the rank so that a run is reproducible.
"""
from __future__ import annotations

import time

import numpy as np

from .. import backend
from ..tensor import Tensor


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random stream in a run seeded with ``seed``.

    Rank 0 keeps ``seed`` itself, so that a one-process job is exactly the plain run; rank
    r > 0 gets 63 bits of NumPy's ``SeedSequence(seed, spawn_key=(r,))``, the independent
    child streams NumPy recommends for parallel work."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 0:
        raise ValueError(f"rank_seed: rank must be an int >= 0, got {rank!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"rank_seed: seed must be an int >= 0, got {seed!r}")
    if rank == 0:
        return int(seed)
    words = np.random.SeedSequence(int(seed), spawn_key=(int(rank),)).generate_state(1, dtype=np.uint64)
    return int(words[0]) >> 1


def _layout(tensors) -> dict:
    """{(dtype, device): [(index, start, stop)]}: where each tensor sits in the flat buffer
    of its dtype and device (one buffer, and so one collective, per kind)."""
    layout, sizes = {}, {}
    for i, t in enumerate(tensors):
        key = (t.dtype, t.device)
        start = sizes.get(key, 0)
        sizes[key] = start + t.numel()
        layout.setdefault(key, []).append((i, start, sizes[key]))
    return layout


def _flatten(arrays, device):
    """The arrays (of one dtype) laid end to end in one new 1-D array (one copy call)."""
    xp = backend.Device(device).xp
    with backend.on_device(device):
        if len(arrays) == 1:
            return arrays[0].reshape(-1).copy()
        return xp.concatenate([a.reshape(-1) for a in arrays])


def broadcast_module(module, group, src: int = 0) -> None:
    """Every rank's parameters and buffers (running statistics) become rank ``src``'s, in place:
    one broadcast per dtype. Raises on every rank, before sending anything, when the ranks'
    models differ in their tensors' names, shapes or dtypes."""
    named = [(name, t) for name, t in list(module.named_parameters()) + list(module.named_buffers())
             if t is not None]
    mine = [[name, list(t.shape), t.dtype.name] for name, t in named]
    theirs = group.all_gather_object(mine)
    for rank, other in enumerate(theirs):
        if other != theirs[src]:
            differ = next((a, b) for a, b in zip(other + [None], theirs[src] + [None]) if a != b)
            raise RuntimeError(f"broadcast_module: rank {rank}'s model differs from rank {src}'s: {differ[0]} "
                               f"against {differ[1]} (every rank must build the same model)")
    tensors = [t for _, t in named]
    for (_, device), places in _layout(tensors).items():
        flat = _flatten([tensors[i].array for i, _, _ in places], device)
        group.broadcast(flat, src)
        with backend.on_device(device):
            for i, start, stop in places:
                t = tensors[i]
                t.array[...] = flat[start:stop].reshape(t.shape)
                t._bump_version()


class GradientAllReduce:
    """Averages the gradients of ``params`` over the ranks of ``group``:
    ``grads = reducer.average(grads)`` on every rank, once per step, returns the mean of the
    ranks' gradients (new tensors, views into a new flat buffer per dtype).

    ``seconds`` adds up the wall-clock time spent in the collectives, waiting for the slowest
    rank included (on a GPU the calls are asynchronous: it is the host's time to enqueue them);
    ``calls`` counts them."""

    def __init__(self, params, group):
        self.params, self.group = list(params), group
        if not self.params:
            raise ValueError("GradientAllReduce: no parameters")
        self._layout = _layout(self.params)
        self.seconds, self.calls = 0.0, 0

    def average(self, grads) -> list:
        """The mean over the ranks of ``grads`` (one gradient per parameter, in order)."""
        grads = list(grads)
        self._check(grads)
        out = [None] * len(grads)
        for (_, device), places in self._layout.items():
            flat = _flatten([grads[i].array for i, _, _ in places], device)
            started = time.perf_counter()
            self.group.all_reduce(flat)
            self.seconds += time.perf_counter() - started
            self.calls += 1
            with backend.on_device(device):
                if self.group.world_size > 1:
                    flat /= flat.dtype.type(self.group.world_size)
                for i, start, stop in places:
                    out[i] = Tensor(flat[start:stop].reshape(self.params[i].shape))
        return out

    def _check(self, grads) -> None:
        if len(grads) != len(self.params):
            raise ValueError(f"GradientAllReduce.average: got {len(grads)} gradients for {len(self.params)} parameters")
        for i, (g, p) in enumerate(zip(grads, self.params)):
            if g is None:
                raise ValueError(f"GradientAllReduce.average: parameter {i} (shape {p.shape}) has no gradient; "
                                 "every rank must send every gradient (zeros for an unused parameter)")
            if g.shape != p.shape or g.dtype != p.dtype or g.device != p.device:
                raise ValueError(f"GradientAllReduce.average: gradient {i} is {g.dtype} {g.shape} on {g.device}, "
                                 f"but its parameter is {p.dtype} {p.shape} on {p.device}")
