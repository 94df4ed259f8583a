"""minigan: a small reverse-mode autodiff engine on NumPy and CuPy that trains GANs.

Read it in this order: backend (devices), autograd (the graph and backprop), tensor,
functional (the ops), gradcheck.
"""
from . import backend
from .autograd import Function, backward, enable_grad, grad, is_grad_enabled, no_grad, profile
from .backend import Device, cuda_is_available
from .tensor import (Tensor, arange, from_numpy, full, manual_seed, ones, ones_like, rand, randn,
                     tensor, zeros, zeros_like)
from . import functional
from . import nn, optim
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import data, io
from .io import CheckpointError, load, save

float32 = "float32"
float64 = "float64"

__version__ = "0.1.0"
