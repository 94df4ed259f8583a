"""minigan: a small reverse-mode autodiff engine on NumPy and CuPy that trains GANs.

Read it in this order: backend (devices), autograd (the graph and backprop), tensor,
functional (the ops), gradcheck.
"""
import numpy as _np

from . import backend, cpu
from .autograd import (Function, backward, enable_grad, grad, is_grad_enabled, no_grad, profile,
                       set_grad_enabled)
from .backend import Device, cuda_is_available
from .backend import Device as device  # torch.device("cuda" if torch.cuda.is_available() else "cpu")
from .tensor import Tensor
from .creation import (arange, empty, empty_like, from_numpy, full, full_like, linspace, manual_seed, ones,
                       ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros,
                       zeros_like)
from . import functional
from .ops import (abs, add, allclose, amax, amin, argmax, argmin, bmm, cat, chunk, clamp, clip, clone, concat,
                  div, eq, exp, flatten, is_floating_point, is_tensor, isfinite, isnan, log, log_softmax,
                  logsumexp, matmul, max, maximum, mean, min, minimum, mm, mul, neg, norm, numel, permute, pow,
                  relu, reshape, sigmoid, sign, softmax, sqrt, squeeze, stack, std, sub, sum, t, tanh,
                  transpose, unsqueeze, var, where)
from .legacy import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor, LongTensor)
from .dlpack import from_dlpack
from . import backends, cuda, nn, optim
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import data, io, utils
from .io import CheckpointError, load, save
from . import gan
from . import classifier, metrics, viz

# dtypes under PyTorch's names, so minigan.zeros(3, dtype=minigan.float64) reads like PyTorch
float32 = float = _np.dtype("float32")
float64 = double = _np.dtype("float64")
float16 = half = _np.dtype("float16")
int64 = long = _np.dtype("int64")
int32 = int = _np.dtype("int32")
int16 = short = _np.dtype("int16")
int8 = _np.dtype("int8")
uint8 = _np.dtype("uint8")
bool = _np.dtype("bool")

__version__ = "0.1.0"

cpu.retain_freed_memory()  # a step's arrays reuse the last step's pages (see minigan/cpu.py)
