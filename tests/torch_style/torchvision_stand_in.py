"""For the PyTorch runs of tests/test_torch_style.py where torchvision is not installed: its
``utils`` on PyTorch tensors, by way of NumPy and minigan's ``save_image`` / ``make_grid``.
(The scripts' ``datasets`` and ``transforms`` are mapped onto minigan's and never called in
those runs: their batches are handed in.)"""
import minigan
import minigan.utils


def _mine(tensor):
    if isinstance(tensor, (list, tuple)):
        return [_mine(t) for t in tensor]
    return minigan.tensor(tensor.detach().cpu().numpy())


def make_grid(tensor, **kwargs):
    import torch
    return torch.from_numpy(minigan.utils.make_grid(_mine(tensor), **kwargs).numpy())


def save_image(tensor, fp, **kwargs):
    minigan.utils.save_image(_mine(tensor), fp, **kwargs)
