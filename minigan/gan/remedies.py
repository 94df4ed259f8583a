"""Remedies against mode collapse for the reference discriminators of ``minigan.gan.models``:
:func:`with_remedy` puts a minibatch layer (:mod:`minigan.nn.gan_layers`) before the last
Linear and widens that Linear to match (``examples/mnist_gan.py --remedy``)."""
from __future__ import annotations

from .. import nn
from ..autograd import no_grad
from ..nn.gan_layers import MinibatchDiscrimination, MinibatchStdDev
from ..tensor import Tensor

REMEDIES = ("none", "minibatch-stddev", "minibatch-discrimination")


def with_remedy(discriminator: nn.Sequential, remedy: str, image_shape=(1, 28, 28), group_size: int = 4,
                kernels: int = 32, kernel_dims: int = 8) -> nn.Sequential:
    """A reference discriminator (``minigan.gan.models``: a Sequential ending in a Linear)
    with a minibatch layer inserted before its last Linear, which is widened to match.

    - ``"minibatch-stddev"``: :class:`~minigan.nn.gan_layers.MinibatchStdDev` (``group_size``),
      on the feature maps when a Flatten precedes the last Linear (DCGAN: 128 -> 129
      channels of 7x7), else on the flat features (MLP);
    - ``"minibatch-discrimination"``: :class:`~minigan.nn.gan_layers.MinibatchDiscrimination`
      (``kernels`` kernels of ``kernel_dims`` dimensions) on the flat features;
    - ``"none"``: ``discriminator`` itself.

    The result is a new Sequential around the same layer objects (its state_dict keys are
    renumbered). The widened Linear starts with the old weights for the old features and zeros
    for the new ones, so the new D starts out computing exactly what the old one did.
    """
    if remedy not in REMEDIES:
        raise ValueError(f"with_remedy: unknown remedy {remedy!r}: choose one of {', '.join(REMEDIES)}")
    if remedy == "none":
        return discriminator
    layers = list(discriminator)
    last = max((i for i, m in enumerate(layers) if isinstance(m, nn.Linear)), default=None)
    if last is None:
        raise ValueError("with_remedy: the discriminator has no Linear layer to widen")
    if remedy == "minibatch-stddev":
        at = last - 1 if last > 0 and isinstance(layers[last - 1], nn.Flatten) else last
        layers.insert(at, MinibatchStdDev(group_size))
    else:
        at = last
        layers.insert(at, MinibatchDiscrimination(layers[last].in_features, kernels, kernel_dims))
    head = layers[last + 1]
    layers[last + 1] = _widened(head, _features_in(layers[:last + 1], head, image_shape))
    return nn.Sequential(*layers).to(head.weight.device, head.weight.dtype)


def _features_in(layers: list, head: nn.Linear, image_shape) -> int:
    """How many features ``layers`` hand to the head, found by running them on two zero images
    in eval mode (so batch norm's running statistics are untouched); the layers are then put
    back in the head's mode."""
    probe = nn.Sequential(*layers)
    was_training = head.training
    probe.eval()
    with no_grad():
        out = probe(Tensor(head.weight.device.xp.zeros((2,) + tuple(image_shape), dtype=head.weight.dtype)))
    probe.train(was_training)
    return out.shape[1]


def _widened(head: nn.Linear, in_features: int) -> nn.Linear:
    """A Linear with ``in_features`` inputs whose first columns and bias are ``head``'s, the rest 0."""
    wide = nn.Linear(in_features, head.out_features, bias=head.bias is not None)
    wide.to(head.weight.device, head.weight.dtype)
    nn.init.zeros_(wide.weight)
    wide.weight.array[:, :head.in_features] = head.weight.array
    wide.weight._bump_version()
    if head.bias is not None:
        wide.bias.array[...] = head.bias.array
        wide.bias._bump_version()
    return wide
