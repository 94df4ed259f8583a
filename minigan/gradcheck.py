"""Check backprop against finite differences: the tool for testing your own op.

``gradcheck(fn, inputs)`` compares, for every element of every input that requires grad,
the analytic derivative of ``L = sum(fn(*inputs) * r)`` (``r`` a fixed random upstream
gradient with distinct entries, so mixed-up elements cannot cancel) with the central
difference ``(L(x + eps) - L(x - eps)) / (2 eps)``. ``gradgradcheck`` does the same for the
gradient itself, which checks the backward of every backward.
"""
from __future__ import annotations

import numpy as np

from . import autograd, backend
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numeric one."""


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _upstream(shape, device, seed):
    """A fixed random upstream gradient whose entries are all distinct (and nonzero)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    values = (rng.permutation(n) + 1) / n * rng.choice([-1.0, 1.0], size=n) + rng.uniform(-0.1, 0.1, n) / n
    return Tensor(backend.to_device(values.reshape(shape), device))


def _weighted_sum(outputs, upstreams):
    """L = sum_k sum(out_k * r_k), as a float64 scalar tensor."""
    total = None
    for out, r in zip(outputs, upstreams):
        term = (out * r).sum()
        total = term if total is None else total + term
    return total


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare backprop through ``fn`` with central differences; return True or raise.

    ``inputs`` is a Tensor or a sequence of Tensors; the float64 ones that require grad are
    checked (float32 is too coarse for finite differences: cast with ``.double()``).
    ``fn`` returns a Tensor or a sequence of Tensors. On a mismatch :class:`GradcheckError`
    names the input, the element, and both values.
    """
    inputs = _as_tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64")
    outputs = _as_tuple(fn(*inputs))
    upstreams = [_upstream(o.shape, o.device, seed + k) for k, o in enumerate(outputs)]
    differentiable = [o for o in outputs if o.requires_grad]
    if differentiable:
        analytic = autograd.grad(_weighted_sum(outputs, upstreams), [inputs[i] for i in checked],
                                 allow_unused=True)
    else:
        analytic = [None] * len(checked)

    def loss_value():
        with autograd.no_grad():
            return float(_weighted_sum(_as_tuple(fn(*inputs)), upstreams).item())

    for i, g in zip(checked, analytic):
        _compare_input(i, inputs[i], g, loss_value, eps, atol, rtol)
    return True


def _compare_input(i, x, g, loss_value, eps, atol, rtol):
    grad = np.zeros(x.shape) if g is None else backend.to_numpy(g.array)
    if grad.shape != x.shape:
        raise GradcheckError(f"gradcheck: gradient of input {i} has shape {grad.shape}, expected {x.shape}")
    original = backend.to_numpy(x.array).copy()
    host = original.copy()
    for index in np.ndindex(*x.shape):
        host[index] = original[index] + eps
        _write(x, host)
        plus = loss_value()
        host[index] = original[index] - eps
        _write(x, host)
        minus = loss_value()
        host[index] = original[index]
        numeric = (plus - minus) / (2 * eps)
        if not abs(grad[index] - numeric) <= atol + rtol * abs(numeric):
            _write(x, original)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}), element {index}: "
                f"analytic {grad[index]:.8g} but numeric {numeric:.8g}")
    _write(x, original)


def _write(x, host) -> None:
    """x's values := host's, in place (an in-place write: x's version goes up)."""
    x.array[...] = backend.to_device(host, x.device)
    x._bump_version()


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of ``(inputs, r) -> d<fn(inputs), r>/d inputs``.

    The gradient is built with ``create_graph=True``, so this exercises each op's backward
    as a differentiable function of both the inputs and the upstream gradient ``r``.
    """
    inputs = _as_tuple(inputs)
    outputs = _as_tuple(fn(*inputs))
    upstreams = [_upstream(o.shape, o.device, seed + 100 + k).requires_grad_() for k, o in enumerate(outputs)]
    n = len(inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]

    def first_derivative(*args):
        xs, rs = args[:n], args[n:]
        with autograd.enable_grad():  # gradcheck evaluates under no_grad; this needs a graph
            outs = _as_tuple(fn(*xs))
            grads = autograd.grad(outs, [xs[i] for i in wrt], grad_outputs=list(rs), create_graph=True,
                                  allow_unused=True)
        return tuple(g if g is not None else xs[i] * 0.0 for i, g in zip(wrt, grads))

    return gradcheck(first_derivative, tuple(inputs) + tuple(upstreams), eps, atol, rtol, seed + 200)
