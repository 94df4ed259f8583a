"""Optimizers: SGD (with momentum), Adam and RMSprop, step for step as PyTorch computes them.

An optimizer holds ``param_groups`` (lists of parameters, each group with its own
hyper-parameters) and per-parameter ``state`` (moment estimates). ``step()`` reads each
``param.grad`` and updates ``param.array`` in place with array operations on the parameter's
own device (bumping its version: a graph built before the step can no longer backprop through
it); it never writes into ``.grad`` (gradients may share memory) and skips parameters
whose ``.grad`` is None. ``state_dict()`` gives plain dicts of numbers and Tensors, keyed by
parameter index as in PyTorch, so a checkpoint resumes training exactly.
"""
from __future__ import annotations

import math
import numbers

from . import backend, cuda_kernels
from .autograd import enable_grad, no_grad
from .tensor import Tensor


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``, ``step`` and (de)serialisation.

    Subclasses define ``_update(param, grad, state, group)``, which works on raw arrays.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = {}  # param -> {name: array or number}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or of dicts, "
                            "got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones take the defaults)."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf or not p.requires_grad:
                raise ValueError(f"{name}: can only optimize leaf Tensors that require grad "
                                 f"(got one of shape {p.shape})")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point Tensors, got {p.dtype}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter of shape {p.shape} appears twice (in one or two groups)")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{name}: unknown hyper-parameter(s) {sorted(unknown)} in a parameter group")
        self._check_hyperparameters({**self.defaults, **group})
        self.param_groups.append({**self.defaults, **group, "params": params})

    def _check_hyperparameters(self, group: dict) -> None:
        """Raise ValueError on an invalid hyper-parameter (subclasses add their own checks)."""
        for key in ("lr", "eps", "weight_decay", "momentum", "dampening", "alpha"):
            value = group.get(key, 0)
            if isinstance(value, bool) or not (isinstance(value, numbers.Real) and 0 <= value < math.inf):
                raise ValueError(f"{type(self).__name__}: invalid {key} {value!r} (must be a finite number >= 0)")

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes the loss
        and is called first, with gradients on. Returns its loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        todo = [(index, group, p) for index, group in enumerate(self.param_groups)
                for p in group["params"] if p.grad is not None]
        for index, _, p in todo:  # every check before the first update: a failed step changes nothing
            self._check_grad(p, index)
        with no_grad():
            for index, group in enumerate(self.param_groups):
                params = [p for i, _, p in todo if i == index]
                self._update_group(params, group)
                for p in params:
                    p._bump_version()  # p changed in place: a graph that saved it must not backprop
        return loss

    def _update_group(self, params: list, group: dict) -> None:
        """Update ``params``, the group's parameters that have a gradient, one by one."""
        for p in params:
            state = self.state.get(p, {})
            with backend.on_device_of(p.array):
                self._update(p, p.grad.array, state, group)
            if state:  # plain SGD keeps none
                self.state[p] = state

    def _check_grad(self, p: Tensor, group_index: int) -> None:
        g = p.grad
        if not isinstance(g, Tensor):
            raise TypeError(f"{type(self).__name__}: a parameter of shape {p.shape} (group {group_index}) has a "
                            f".grad that is a {type(g).__name__}, not a Tensor")
        if g.shape != p.shape or g.dtype != p.dtype or g.device != p.device:
            raise RuntimeError(f"{type(self).__name__}: a parameter of shape {p.shape}, {p.dtype} on {p.device} "
                               f"(group {group_index}) has a gradient of shape {g.shape}, {g.dtype} on {g.device}")

    def _update(self, p: Tensor, grad, state: dict, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__}._update")

    # -- checkpoints ------------------------------------------------------------------------
    def _indexed_params(self):
        """(index, param) with indices counting through the groups in order, as in PyTorch."""
        return enumerate(p for group in self.param_groups for p in group["params"])

    def state_dict(self) -> dict:
        """``{"state": {index: {name: Tensor or number}}, "param_groups": [{..., "params": [indices]}]}``.

        The Tensors share memory with the optimizer's state (as in PyTorch): save them, or copy
        them, before stepping on.
        """
        state = {}
        for index, p in self._indexed_params():
            if self.state.get(p):
                state[index] = {k: Tensor(v) if backend.is_array(v) else v for k, v in self.state[p].items()}
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict` (into an optimizer
        built over the same parameters); arrays are copied onto each parameter's device and dtype.

        Everything is checked first (group sizes, hyper-parameters, each state's keys, and each
        state array's shape against its parameter's): a failed load changes nothing.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' "
                            f"(from state_dict()), got {type(state_dict).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter "
                             f"groups, this optimizer {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: saved group {i} has {len(saved['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
        by_saved_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            by_saved_index.update(zip((int(i) for i in saved["params"]), group["params"]))
        new_state = {}
        for index, entries in state_dict["state"].items():
            p = by_saved_index.get(int(index))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: the saved state has an entry for parameter "
                                 f"{index}, which no saved group lists")
            self._check_state(int(index), p, entries)
            new_state[p] = {k: _copy_to(v, p) for k, v in entries.items()}
        new_groups = [{**group, **{k: v for k, v in saved.items() if k != "params"}}
                      for saved, group in zip(saved_groups, self.param_groups)]
        for i, group in enumerate(new_groups):
            unknown = set(group) - set(self.defaults) - {"params"}
            if unknown:
                raise ValueError(f"{name}.load_state_dict: saved group {i} has unknown hyper-parameter(s) "
                                 f"{sorted(unknown)}")
            self._check_hyperparameters(group)
        self.state = new_state
        for group, new in zip(self.param_groups, new_groups):
            group.update(new)

    state_keys: tuple = ()  # what a non-empty per-parameter state must hold (subclasses)

    def _check_state(self, index: int, p: Tensor, entries) -> None:
        """Raise unless ``entries`` is a state ``_update`` can use for ``p``: the keys it needs,
        arrays of p's shape, and a whole, non-negative step count."""
        name = type(self).__name__
        if not isinstance(entries, dict):
            raise TypeError(f"{name}.load_state_dict: the state of parameter {index} must be a dict, "
                            f"got {type(entries).__name__}")
        missing = [k for k in self.state_keys if k not in entries]
        if entries and missing:
            raise ValueError(f"{name}.load_state_dict: the state of parameter {index} lacks {missing}")
        for key, value in entries.items():
            array = value.array if isinstance(value, Tensor) else value
            if backend.is_array(array):
                if array.dtype.kind not in "biuf":
                    raise TypeError(f"{name}.load_state_dict: state {key!r} of parameter {index} holds "
                                    f"{array.dtype} values, not real numbers")
                if key != "step" and array.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {index} has shape "
                                     f"{tuple(array.shape)}, but the parameter has shape {p.shape}")
        step = entries.get("step", 0)
        if isinstance(step, bool) or not (isinstance(step, numbers.Integral) and step >= 0):
            raise ValueError(f"{name}.load_state_dict: state 'step' of parameter {index} must be a "
                             f"non-negative int, got {step!r}")

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines + [")"])


def _copy_to(value, p: Tensor):
    """A state value for ``p``: arrays and Tensors copied onto p's device (floating ones in p's
    dtype); numbers as they are."""
    if isinstance(value, Tensor):
        value = value.array
    if not backend.is_array(value):
        return value
    array = backend.to_device(value, p.device)
    dtype = p.dtype if array.dtype.kind == "f" else array.dtype
    with backend.on_device_of(array):  # CuPy's astype allocates on the current GPU
        return array.astype(dtype, copy=True)


def _zeros_like(array):
    return backend.array_module(array).zeros_like(array)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay (L2):

        g = grad + weight_decay * p
        buf = g (first step), then momentum * buf + (1 - dampening) * g
        p -= lr * (g + momentum * buf if nesterov else buf)       (p -= lr * g without momentum)
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, p, grad, state, group):
        ### BEGIN SOLUTION sgd
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * p.array  # a new array: .grad is never written
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.array -= lr * grad
        ### END SOLUTION


class Adam(Optimizer):
    """Adam (Kingma & Ba), with PyTorch's arrangement of the bias corrections:

        g = grad + weight_decay * p
        m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0):
        betas = tuple(betas) if isinstance(betas, (tuple, list)) else betas
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _update_group(self, params, group):
        """On a GPU, every parameter of the group in one kernel (a few for many parameters):
        the same arithmetic as :meth:`_update`, without a launch per parameter."""
        arrays = [p.array for p in params]
        if len(params) < 2 or not all(cuda_kernels.uses_kernels(a) for a in arrays) or \
                len({backend.device_of(a) for a in arrays}) > 1:
            return super()._update_group(params, group)
        (beta1, beta2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
        with backend.on_device_of(arrays[0]):
            states = [self.state.get(p) or {"step": 0, "exp_avg": _zeros_like(p.array),
                                            "exp_avg_sq": _zeros_like(p.array)} for p in params]
            steps = [s["step"] + 1 for s in states]
            cuda_kernels.adam_multi(arrays, [p.grad.array for p in params], [s["exp_avg"] for s in states],
                                    [s["exp_avg_sq"] for s in states], [lr / (1 - beta1 ** t) for t in steps],
                                    [math.sqrt(1 - beta2 ** t) for t in steps], beta1, beta2, eps, wd)
        for p, state, t in zip(params, states, steps):
            state["step"] = t
            self.state[p] = state

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2 or \
                not all(isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: invalid betas {betas!r} (two numbers in [0, 1))")

    def _update(self, p, grad, state, group):
        ### BEGIN SOLUTION adam
        (beta1, beta2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=_zeros_like(p.array), exp_avg_sq=_zeros_like(p.array))
        if wd != 0:
            grad = grad + wd * p.array
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        if cuda_kernels.uses_kernels(p.array):  # on a GPU: the lines below as one kernel
            cuda_kernels.adam(p.array, grad, m, v, beta1, beta2, lr / (1 - beta1 ** t), math.sqrt(1 - beta2 ** t), eps)
            return
        m += (1 - beta1) * (grad - m)  # = beta1 m + (1 - beta1) g, as torch's lerp computes it
        v *= beta2
        v += (1 - beta2) * grad * grad
        step_size = lr / (1 - beta1 ** t)
        denom = backend.array_module(v).sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
        p.array -= step_size * (m / denom)
        ### END SOLUTION


class RMSprop(Optimizer):
    """RMSprop (Hinton), as PyTorch computes it:

        g = grad + weight_decay * p
        v = alpha v + (1 - alpha) g^2
        p -= lr * g / (sqrt(v) + eps)                (without momentum)
        buf = momentum buf + g / (sqrt(v) + eps);  p -= lr * buf     (with momentum)
    """

    state_keys = ("step", "square_avg")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum))

    def _update(self, p, grad, state, group):
        ### BEGIN SOLUTION rmsprop
        lr, alpha, eps, wd, momentum = (group[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum"))
        if not state:
            state.update(step=0, square_avg=_zeros_like(p.array))
            if momentum > 0:
                state["momentum_buffer"] = _zeros_like(p.array)
        if wd != 0:
            grad = grad + wd * p.array
        state["step"] += 1
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * grad * grad
        avg = backend.array_module(v).sqrt(v) + eps
        if momentum > 0:
            buf = state.setdefault("momentum_buffer", _zeros_like(p.array))
            buf *= momentum
            buf += grad / avg
            p.array -= lr * buf
        else:
            p.array -= lr * (grad / avg)
        ### END SOLUTION
