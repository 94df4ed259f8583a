"""What a bad-input case is, and how its outcome is judged (used by tests/test_fuzz_*.py and
tests/fuzz_report.py).

A :class:`Case` builds its inputs with ``setup`` (fresh each run), then ``act`` calls the API.
It expects one of two outcomes:

- an error (``raises``): an exception of that type whose message contains every one of
  ``words`` (the op's name and the offending shapes, dtypes, devices or values; compared
  without case), after which every Tensor, Module and Optimizer that ``setup`` made is as it
  was (values, versions, ``.grad``, buffers, optimizer state): a failed call changes nothing;
- a defined result (``expect``): ``expect(result)`` asserts it, usually against PyTorch.

:func:`judge` returns ``"ok"`` or what went wrong: ``"silent"`` (no error where one was due,
or a wrong result), ``"unclear"`` (an error of another type, or a message without the words),
``"state"`` (the error came after a change of state), ``"error"`` (an error where a result
was due).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

import minigan
from minigan import backend


@dataclass
class Case:
    family: str
    name: str
    act: Callable
    setup: Optional[Callable] = None
    raises: Any = None  # an exception type (or tuple of them) ...
    words: tuple = ()  # ... whose message holds each of these
    expect: Optional[Callable] = None  # or a check of the result
    needs_torch: bool = False
    needs_no_gpu: bool = False  # the case is about what happens without CuPy or a GPU

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"


CASES: list = []


def err(family, name, act, raises, *words, setup=None, **flags):
    """A case that must raise ``raises`` with ``words`` in its message, changing no state."""
    CASES.append(Case(family, name, act, setup, raises=raises, words=tuple(str(w) for w in words), **flags))


def ok(family, name, act, expect, setup=None, **flags):
    """A case with a defined result that ``expect(result)`` checks."""
    CASES.append(Case(family, name, act, setup, expect=expect, **flags))


def like_torch(torch_fn, rtol=1e-6, dtype=True):
    """``expect``: the result has PyTorch's values (NaN where PyTorch has NaN), shape and dtype."""
    def expect(result):
        import torch
        want = torch_fn(torch)
        got = result.numpy() if isinstance(result, minigan.Tensor) else np.asarray(result)
        want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
        assert got.shape == want.shape, f"shape {got.shape}, PyTorch {want.shape}"
        if dtype:
            assert got.dtype == want.dtype, f"dtype {got.dtype}, PyTorch {want.dtype}"
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, equal_nan=True)
    expect.torch = True
    return expect


def shaped(shape, dtype=None):
    """``expect``: a Tensor of this shape (and dtype)."""
    def expect(result):
        assert isinstance(result, minigan.Tensor), type(result)
        assert result.shape == shape, f"shape {result.shape}, expected {shape}"
        if dtype is not None:
            assert result.dtype == np.dtype(dtype), f"dtype {result.dtype}, expected {dtype}"
    return expect


def returns_normally(result):
    """``expect``: any result; the point of the case is that the call works."""


# -- state ----------------------------------------------------------------------------------------
def snapshot(obj, seen=None):
    """Everything a call could change in ``obj`` (Tensors, Modules, Optimizers, containers), as
    plain host values to compare."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return "seen"
    seen.add(id(obj))
    if isinstance(obj, minigan.Tensor):
        grad = None if obj.grad is None else snapshot(obj.grad, seen)
        return ("tensor", _host(obj.array), str(obj.device), getattr(obj, "_version", None), grad)
    if isinstance(obj, minigan.nn.Module):
        tensors = [(n, snapshot(t, seen)) for n, t in obj.named_parameters()]
        tensors += [(n, snapshot(t, seen)) for n, t in obj.named_buffers()]
        return ("module", obj.training, tensors)
    if isinstance(obj, minigan.optim.Optimizer):
        state = [sorted((k, _plain(v)) for k, v in s.items()) for s in obj.state.values()]
        groups = [sorted((k, repr(v)) for k, v in g.items() if k != "params") for g in obj.param_groups]
        params = [snapshot(p, seen) for g in obj.param_groups for p in g["params"]]
        return ("optimizer", state, groups, params)
    if isinstance(obj, (list, tuple)):
        return [snapshot(v, seen) for v in obj]
    if isinstance(obj, dict):
        return [(k, snapshot(v, seen)) for k, v in obj.items()]
    return ("other", type(obj).__name__)


def _host(array):
    return backend.to_numpy(array).copy() if backend.is_array(array) else array


def _plain(value):
    return _host(value.array) if isinstance(value, minigan.Tensor) else _host(value)


def same(a, b) -> bool:
    """Equal snapshots (arrays equal value for value, NaN equal to NaN, and of one dtype)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# -- judging ----------------------------------------------------------------------------------------
def judge(case: Case):
    """``("ok", "")`` or ``(kind, detail)`` with kind silent, unclear, state or error."""
    objs = case.setup() if case.setup is not None else ()
    objs = objs if isinstance(objs, tuple) else (objs,)
    before = snapshot(objs)
    try:
        with np.errstate(all="ignore"):  # NaN and inf are values here, not reasons to stop
            result = case.act(*objs)
    except Exception as exc:  # noqa: BLE001  (judging any exception is the point)
        message = f"{type(exc).__name__}: {exc}"
        if case.raises is None:
            return "error", message
        if not isinstance(exc, case.raises):
            return "unclear", f"expected {_names(case.raises)}, got {message}"
        missing = [w for w in case.words if w.lower() not in str(exc).lower()]
        if missing:
            return "unclear", f"message lacks {missing}: {message}"
        if not same(before, snapshot(objs)):
            return "state", f"the failed call changed state ({message})"
        return "ok", ""
    if case.raises is not None:
        return "silent", f"no error; returned {_short(result)}"
    try:
        case.expect(result)
    except AssertionError as wrong:
        return "silent", f"wrong result: {wrong}"
    return "ok", ""


def _names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 160 else text[:157] + "..."


# -- shared inputs ------------------------------------------------------------------------------------
def t(values, dtype=None, device=None, requires_grad=False):
    """A tensor from values (float32 for Python floats, as minigan.tensor does)."""
    return minigan.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def r(*shape, dtype=np.float32, device=None, requires_grad=False, seed=0):
    """Seeded N(0, 1) values of ``shape`` (a leaf that may require grad)."""
    values = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return minigan.tensor(values, device=device, requires_grad=requires_grad)


def cuda_usable() -> bool:
    return minigan.cuda_is_available()
