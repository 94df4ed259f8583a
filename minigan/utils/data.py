"""Datasets and batches, as PyTorch's ``torch.utils.data``: ``Dataset``, ``TensorDataset``,
``DataLoader(dataset, batch_size, shuffle, num_workers=..., drop_last=...)``.

A dataset is anything with ``len()`` and ``dataset[i]`` (PyTorch's "map-style" dataset). The
loader gathers a batch in one of two ways:

- fast: a dataset with ``get_batch(indices)`` (minigan's :class:`ArrayDataset`,
  :class:`TensorDataset`, the MNIST classes) hands over the whole batch as arrays, one
  fancy-indexing gather per array, with no Python loop over the examples;
- general: ``dataset[i]`` for each index, then ``collate_fn`` (PyTorch's
  :func:`default_collate`: tensors and arrays are stacked, numbers become tensors).

Each epoch's order is a fresh permutation from the loader's own NumPy generator. Its seed is
``seed=`` if given, else drawn from minigan's CPU generator when the loader is made, so that
``minigan.manual_seed(s)`` fixes the order, as ``torch.manual_seed(s)`` does in PyTorch.
:meth:`DataLoader.state_dict` and :meth:`DataLoader.load_state_dict` resume an epoch midway.
``num_workers`` is accepted and loading stays in this process: a batch of MNIST is one
gather, which worker processes would only slow down.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} has no __len__")


class ArrayDataset(Dataset):
    """A dataset of equally long arrays (e.g. images and labels): ``ArrayDataset(x, y)``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"ArrayDataset: the arrays differ in length: {lengths}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple:
        """The rows at ``indices`` of every array (one fancy-indexing gather each)."""
        return tuple(a[indices] for a in self.arrays)


class TensorDataset(Dataset):
    """Equally long tensors, indexed together along their first axis: ``TensorDataset(images,
    labels)[i]`` is ``(images[i], labels[i])``, as in PyTorch."""

    def __init__(self, *tensors):
        if not tensors or not all(isinstance(t, Tensor) for t in tensors):
            raise TypeError("TensorDataset: expected one or more Tensors")
        if any(t.ndim == 0 for t in tensors) or len({t.shape[0] for t in tensors}) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {[t.shape[:1] for t in tensors]}")
        self.tensors = tensors

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def get_batch(self, indices: np.ndarray) -> tuple:
        """The rows at ``indices`` of every tensor, as arrays (outside any graph)."""
        return tuple(t.array[backend.to_device(indices, t.device)] for t in self.tensors)


def default_collate(batch):
    """PyTorch's default_collate: a list of examples into one batch. Tensors and arrays are
    stacked along a new first axis, Python ints become an int64 tensor, floats a float64 one
    (as in PyTorch), and tuples, lists and dicts are collated field by field."""
    first = batch[0]
    if isinstance(first, Tensor):
        return Tensor(first.device.xp.stack([t.array for t in batch]))
    if backend.is_array(first) or isinstance(first, np.generic):
        return Tensor(np.stack([np.asarray(a) for a in batch]))
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(first, dict):
        return {key: default_collate([example[key] for example in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if len({len(example) for example in batch}) != 1:
            raise RuntimeError("each element in list of batch should be of equal size")
        return type(first)(default_collate(list(field)) for field in zip(*batch)) if isinstance(first, tuple) \
            else [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found "
                    f"{type(first).__name__}")


def _check_shard(rank, world_size, drop_last, shuffle, seed) -> None:
    for name, value in (("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"DataLoader: {name} must be an int, got {value!r}")
    if not 0 <= rank < world_size:
        raise ValueError(f"DataLoader: rank must be in [0, world_size), got rank {rank} and world_size {world_size}")
    if world_size > 1 and not drop_last:
        raise ValueError(f"DataLoader: world_size {world_size} needs drop_last=True (every rank must get a full "
                         "shard of every batch)")
    if world_size > 1 and shuffle and seed is None:
        raise ValueError(f"DataLoader: world_size {world_size} with shuffle=True needs seed= (the same on every "
                         "rank: the ranks must draw one order to take disjoint shards of it)")


class DataLoader:
    """Batches of a dataset as tensors on ``device``: ``for images, labels in loader: ...``.

    PyTorch's arguments and defaults (``batch_size=1``, ``shuffle=False``, ``drop_last=False``;
    ``num_workers``, ``pin_memory``, ``timeout``, ``worker_init_fn``, ``persistent_workers``,
    ``prefetch_factor`` are accepted and change nothing: loading stays in this process), and
    minigan's ``seed=`` (the shuffling seed) and ``device=`` (where the batches go). Custom
    ``sampler``, ``batch_sampler`` and ``generator`` are not supported.

    minigan's ``rank=`` and ``world_size=`` shard it for data-parallel training
    (minigan/distributed/), as PyTorch's DistributedSampler does: ``batch_size`` is per rank.
    Every rank draws the same order (so every rank must give the same ``seed``), cuts it into
    global batches of ``world_size * batch_size`` and takes block ``rank`` of each; an epoch is
    ``len(dataset) // (world_size * batch_size)`` batches (``drop_last`` is needed: every rank
    gets a full shard of every batch).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", seed=None, device="cpu", rank=0, world_size=1):
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: the dataset ({type(dataset).__name__}) needs __len__ and __getitem__ "
                            "(a map-style dataset), or get_batch(indices)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler), ("generator", generator)):
            if value is not None:
                raise NotImplementedError(f"DataLoader: {name}= is not supported by minigan (shuffle=True and "
                                          "seed= choose the order)")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative; use num_workers=0 to disable "
                             f"multiprocessing. Got {num_workers!r}")
        _check_shard(rank, world_size, drop_last, shuffle, seed)
        self.dataset, self.batch_size, self.rank, self.world_size = dataset, batch_size, rank, world_size
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.num_workers, self.collate_fn = num_workers, collate_fn or default_collate
        self.device = backend.Device(device)
        if seed is None and self.shuffle:  # from minigan's CPU generator: minigan.manual_seed fixes it
            seed = int(backend.integers(0, 2**62, (), backend.CPU))
        self._rng = np.random.default_rng(seed)
        self._epoch_start = None  # the generator state when the epoch in progress began
        self._served = 0  # batches of that epoch handed out so far
        self._resume_at = 0  # batches to skip at the start of the next epoch (after a restore)

    def __len__(self):
        n, step = len(self.dataset), self.batch_size * self.world_size
        return n // step if self.drop_last else -(-n // step)

    def __iter__(self):
        start = self._rng.bit_generator.state
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        first, self._resume_at = self._resume_at, 0
        self._epoch_start, self._served = start, first
        for b in range(first, len(self)):
            start = (b * self.world_size + self.rank) * self.batch_size  # this rank's block of global batch b
            batch = self._batch(order[start:start + self.batch_size])
            self._served = b + 1
            yield batch
        self._epoch_start, self._served = None, 0

    def _batch(self, indices: np.ndarray):
        """One batch: the dataset's own gather when it has one, else collated examples."""
        if hasattr(self.dataset, "get_batch") and self.collate_fn is default_collate:
            return tuple(Tensor(backend.to_device(a, self.device)) for a in self.dataset.get_batch(indices))
        return _to_device(self.collate_fn([self.dataset[int(i)] for i in indices]), self.device)

    def state_dict(self) -> dict:
        """What :meth:`load_state_dict` needs to continue from here: the generator state at
        the start of the epoch in progress (or now, between epochs) and the batches served."""
        if self._epoch_start is None:
            return {"rng": self._rng.bit_generator.state, "batches_served": 0}
        return {"rng": self._epoch_start, "batches_served": self._served}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output: the next epoch replays the saved one's order
        and starts after its ``batches_served`` batches (all of them: an empty rest of that
        epoch). A count past this loader's epoch raises ValueError; nothing changes then."""
        missing = {"rng", "batches_served"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        served = state["batches_served"]
        if isinstance(served, bool) or not isinstance(served, (int, np.integer)) or not 0 <= served <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: batches_served must be an int from 0 to the "
                             f"{len(self)} batches of an epoch here ({len(self.dataset)} items, batch_size "
                             f"{self.batch_size}), got {served!r}: a state from another dataset or batch size?")
        self._rng.bit_generator.state = state["rng"]
        self._resume_at = int(served)
        self._epoch_start, self._served = None, 0


def _to_device(batch, device):
    """A collated batch with every tensor in it moved to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch
