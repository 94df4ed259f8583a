"""minigan: a small reverse-mode autodiff engine on NumPy and CuPy that trains GANs.

Read it in this order: backend (devices), autograd (the graph and backprop), tensor,
functional (the ops), gradcheck.
"""
import numpy as _np

from . import backend, cpu
from .autograd import Function, backward, enable_grad, grad, is_grad_enabled, no_grad, profile
from .backend import Device, cuda_is_available
from .tensor import (Tensor, arange, from_numpy, full, manual_seed, ones, ones_like, rand, randn,
                     tensor, zeros, zeros_like)
from . import functional
from . import nn, optim
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import data, io
from .io import CheckpointError, load, save
from . import gan
from . import classifier, metrics, viz

float32 = _np.dtype("float32")  # so minigan.zeros(3, dtype=minigan.float64) reads like PyTorch
float64 = _np.dtype("float64")

__version__ = "0.1.0"

cpu.retain_freed_memory()  # a step's arrays reuse the last step's pages (see minigan/cpu.py)
