"""Every differentiable op, one file per family (read them in this order):

elementwise, shape, padding, reduce, linalg, activation, conv, norm, loss, resample (naming: PyTorch's
``dim``/``keepdim`` beside NumPy's ``axis``/``keepdims``).
"""
from .elementwise import (abs, add, astype, clip, compare, div, exp, log, maximum, minimum, mul,
                          neg, pow, sqrt, sub, to_device, where)
from .shape import (broadcast_to, concatenate, flatten, getitem, permute, reshape, squeeze, stack, sum_to,
                    transpose, unsqueeze)
from .padding import pad
from .reduce import argmax, argmin, logsumexp, max, mean, min, sum, var  # (and norm: minigan.norm)
from .linalg import linear, matmul
from .activation import leaky_relu, log_softmax, logsigmoid, relu, sigmoid, softmax, softplus, tanh
from .conv import conv2d, conv_transpose2d
from .norm import batch_norm, dropout, dropout2d, instance_norm
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss,
                   nll_loss)
from .resample import interpolate, pixel_shuffle, pixel_unshuffle, upsample
from .generator import adaptive_instance_norm, fade_in, pixel_norm  # style-based and progressive generators
