"""``minigan.cuda``: what ``torch.cuda`` offers GAN scripts, on CuPy.

``is_available()`` says whether a CUDA GPU can be used (CuPy installed and a GPU present);
``FloatTensor`` and its siblings are :mod:`minigan.legacy`'s types on the GPU
(``minigan.cuda.FloatTensor(2, 3)``). Seeding is shared: ``manual_seed`` seeds every device's
generator, as :func:`minigan.manual_seed` does.
"""
from __future__ import annotations

from . import backend
from .legacy import CUDA_TYPES

FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor, ByteTensor, BoolTensor = CUDA_TYPES


def is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA GPUs CuPy sees (0 without CuPy or a GPU)."""
    if not is_available():
        return 0
    return int(backend.Device("cuda").xp.cuda.runtime.getDeviceCount())


def manual_seed(seed: int) -> None:
    """Seed the random generators (every device's, as :func:`minigan.manual_seed`)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Wait until the GPU has finished its queued work."""
    backend.synchronize(backend.Device("cuda", device))
