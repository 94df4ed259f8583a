"""Layers and models, PyTorch style: ``Module``, ``Parameter``, ``Sequential``, the layers and the
loss modules.

Names, arguments, default initialisation, weight layouts and ``state_dict`` keys follow
PyTorch, so a model's weights move between minigan and PyTorch by name. Read
``module.py`` (the bookkeeping), then ``layers.py``, ``image_layers.py`` (padding, pixel shuffle,
instance norm), ``losses.py`` and ``init.py``;
``parallel.py`` gives ``DataParallel`` its one-device meaning; ``sync_batchnorm.py`` is batch
norm over the ranks of a data-parallel job (minigan/distributed/).
"""
from .. import functional  # so that nn.functional.relu(x) works, as in PyTorch
from . import init, parallel
from .module import Module, Parameter, Sequential
from .layers import (BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Dropout2d, Embedding, Flatten,
                     Identity, LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, Unflatten, Upsample)
from .image_layers import (ConstantPad1d, ConstantPad2d, InstanceNorm1d, InstanceNorm2d, PixelShuffle, PixelUnshuffle,
                           ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .parallel import DataParallel
from .gan_layers import MinibatchDiscrimination, MinibatchStdDev
from .sync_batchnorm import SyncBatchNorm
from .equalized import EqualizedConv2d, EqualizedLinear  # progressive and style-based generators
from .style_layers import AdaIN, ConstantInput, MappingNetwork, NoiseInput, PixelNorm

__all__ = ["functional", "init", "parallel", "Module", "Parameter", "Sequential", "BatchNorm1d", "BatchNorm2d",
           "Conv2d", "ConvTranspose2d", "Dropout", "Dropout2d", "Embedding", "Flatten", "Identity", "LeakyReLU",
           "Linear", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "SyncBatchNorm", "Tanh", "Unflatten", "Upsample",
           "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss", "DataParallel",
           "MinibatchDiscrimination", "MinibatchStdDev", "ConstantPad1d", "ConstantPad2d", "InstanceNorm1d",
           "InstanceNorm2d", "PixelShuffle", "PixelUnshuffle", "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d",
           "ReplicationPad2d", "ZeroPad1d", "ZeroPad2d",
           "EqualizedConv2d", "EqualizedLinear", "AdaIN", "ConstantInput", "MappingNetwork", "NoiseInput", "PixelNorm"]
