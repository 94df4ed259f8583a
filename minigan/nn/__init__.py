"""Layers and models, PyTorch style: ``Module``, ``Parameter``, ``Sequential`` and the layers.

Names, arguments, default initialisation, weight layouts and ``state_dict`` keys follow
PyTorch, so a model's weights move between minigan and PyTorch by name. Read
``module.py`` (the bookkeeping), then ``layers.py``, then ``init.py``.
"""
from . import init
from .module import Module, Parameter, Sequential
from .layers import (BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Embedding, Flatten,
                     LeakyReLU, Linear, ReLU, Sigmoid, Tanh, Unflatten)
from .gan_layers import MinibatchDiscrimination, MinibatchStdDev
from .sync_batchnorm import SyncBatchNorm

__all__ = ["init", "Module", "Parameter", "Sequential", "BatchNorm1d", "BatchNorm2d", "Conv2d",
           "ConvTranspose2d", "Dropout", "Embedding", "Flatten", "LeakyReLU", "Linear", "ReLU",
           "Sigmoid", "SyncBatchNorm", "Tanh", "Unflatten", "MinibatchDiscrimination", "MinibatchStdDev"]
