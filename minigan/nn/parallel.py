"""``nn.parallel`` and ``nn.DataParallel`` with their single-device meaning.

PyTorch's data parallelism copies a model to several GPUs, splits each batch between them
and gathers the outputs; with one device that is just the model on the whole batch, and
that is what minigan does (it runs on one device). Scripts written for several GPUs
(``nn.DataParallel(netG, list(range(ngpu)))``, ``nn.parallel.data_parallel(self.main, input,
range(ngpu))``) then run unchanged, and compute what PyTorch computes on one GPU. Training
on several processes, one CPU core or GPU each, is minigan.distributed's (the reading guide's
step 14).
"""
from __future__ import annotations

from .module import Module


class DataParallel(Module):
    """Wraps ``module``; ``forward`` calls it on the whole batch. As in PyTorch, the wrapped
    model is ``self.module``, so ``state_dict`` keys start with ``"module."``."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: expected a Module, got {type(module).__name__}")
        self.module = module
        self.device_ids = None if device_ids is None else list(device_ids)
        self.output_device, self.dim = output_device, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim: int = 0, module_kwargs=None):
    """``module(*inputs, **module_kwargs)`` on the whole batch (PyTorch's multi-GPU helper, on one device)."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    return module(*inputs, **(module_kwargs or {}))
