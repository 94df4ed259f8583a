"""``minigan.utils``: what ``torchvision.utils`` and ``torch.utils.data`` give GAN scripts.

- :func:`save_image` and :func:`make_grid` (torchvision's): a batch of image tensors as one
  grid, and as a PNG file (:mod:`minigan.utils.images`, which also writes minigan's own grids);
- :mod:`minigan.utils.data`: ``Dataset``, ``TensorDataset`` and ``DataLoader``.
"""
from . import data  # noqa: F401
from .images import make_grid, save_image  # noqa: F401
