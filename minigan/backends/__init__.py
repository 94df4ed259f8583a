"""``minigan.backends``: the place of ``torch.backends``, so that ``torch.backends.cudnn``
settings in GAN scripts import and run. minigan has one implementation per op and no
cuDNN: see :mod:`minigan.backends.cudnn`."""
from . import cudnn  # noqa: F401
