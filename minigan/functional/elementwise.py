"""Elementwise ops, with NumPy broadcasting.

For ``y = f(a, b)`` with broadcasting, each input's gradient is the local derivative times
the upstream gradient, summed back to the input's shape with :func:`sum_to` (an input
value broadcast to many outputs collects all their gradients).
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import DEFAULT_DTYPE, Tensor, check_dtype
from .shape import sum_to


# -- operands -------------------------------------------------------------------------------
_device_constants = {}  # (type, repr, dtype, device) -> a 0-d array on a GPU (or sim), made once


def _constant(op: str, value, dtype, device) -> Tensor:
    """A Python number as a 0-d constant tensor, made on ``device`` (no host transfer). On a
    GPU, filling one is a kernel launch, so each distinct constant is made once and shared
    (no op writes into its inputs; at most 1024 are kept)."""
    device = backend.Device(device)
    try:
        if device.type == "cpu":
            return Tensor(np.full((), value, dtype=dtype))
        key = (type(value), repr(value), np.dtype(dtype).str, device)  # repr: -0.0 is not 0.0
        array = _device_constants.get(key)
        if array is None:
            if len(_device_constants) >= 1024:  # numbers that change every step (a schedule) must not pile up
                _device_constants.clear()
            with backend.on_device(device):
                array = _device_constants[key] = device.xp.full((), value, dtype=dtype)
        return Tensor(array)
    except OverflowError:
        raise ValueError(f"{op}: {value!r} does not fit in the tensor's dtype {dtype}") from None


def operands(op: str, a, b):
    """Two Tensors of one float dtype (or bool/int) from Tensors and Python numbers.

    A Python number takes the tensor's dtype (so ``x * 2.0`` stays float32; an int next to a
    bool tensor makes it int64, as in PyTorch); an integer tensor next to a float one is cast
    to the float dtype; two float dtypes must agree. Complex numbers are refused.
    """
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    for v in (a, b):
        if isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real):
            raise TypeError(f"{op}: complex numbers are not supported, got {v!r}")
        if not isinstance(v, (Tensor, numbers.Real)):
            raise TypeError(f"{op}: expected a Tensor or a Python number, got {type(v).__name__}")
    if not isinstance(a, Tensor):
        return _constant(op, a, _dtype_for(b, a), b.device), _as_float_if(b, a)
    if not isinstance(b, Tensor):
        return _as_float_if(a, b), _constant(op, b, _dtype_for(a, b), a.device)
    fa, fb = a.dtype.kind == "f", b.dtype.kind == "f"
    if fa and fb and a.dtype != b.dtype:
        raise TypeError(f"{op}: dtypes differ, {a.dtype} and {b.dtype}; cast one with .astype()")
    check_broadcast(op, a.shape, b.shape)
    if fa and b.dtype.kind in "iu":
        b = Tensor(b.array.astype(a.dtype))
    elif fb and a.dtype.kind in "iu":
        a = Tensor(a.array.astype(b.dtype))
    return a, b


def check_broadcast(op: str, *shapes) -> None:
    """Raise, naming the op and the shapes, unless the shapes broadcast together."""
    if len(set(shapes)) == 1:
        return
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: shapes {', '.join(map(str, shapes))} do not broadcast together") from None


def _dtype_for(t: Tensor, number):
    """The dtype a Python number takes next to tensor ``t`` (PyTorch's promotion rules)."""
    if t.dtype.kind == "f":
        return t.dtype
    if not isinstance(number, numbers.Integral):
        return DEFAULT_DTYPE
    if t.dtype.kind == "b" and not isinstance(number, (bool, np.bool_)):
        return np.dtype(np.int64)  # True + 2 is 3, not True
    return t.dtype


def _as_float_if(t: Tensor, number) -> Tensor:
    return _as_float(t) if not isinstance(number, numbers.Integral) else t


def _as_float(t: Tensor) -> Tensor:
    """An integer or bool tensor as the default float dtype (a float tensor as it is)."""
    return t if t.dtype.kind == "f" else Tensor(t.array.astype(DEFAULT_DTYPE))


def _unary_check(op: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _refuse_bools(op: str, operands, hint: str) -> None:
    """PyTorch refuses ``-`` with a bool tensor (NumPy gives ints, or an error without the op's name)."""
    if any(isinstance(v, (bool, np.bool_)) or (isinstance(v, Tensor) and v.dtype == np.bool_) for v in operands):
        raise TypeError(f"{op}: the `-` operator with a bool tensor or number is not supported; {hint}")


# -- arithmetic -----------------------------------------------------------------------------
class Add(Function):
    def forward(self, a, b):
        ### BEGIN SOLUTION add
        self.shapes = a.shape, b.shape
        return a + b
        ### END SOLUTION

    def backward(self, gy):  # d(a+b)/da = d(a+b)/db = 1
        ### BEGIN SOLUTION add
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])
        ### END SOLUTION


class Sub(Function):
    def forward(self, a, b):
        ### BEGIN SOLUTION sub
        self.shapes = a.shape, b.shape
        return a - b
        ### END SOLUTION

    def backward(self, gy):  # d(a-b)/da = 1, d(a-b)/db = -1
        ### BEGIN SOLUTION sub
        gb = -sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return sum_to(gy, self.shapes[0]), gb
        ### END SOLUTION


class Mul(Function):
    save_inputs = (0, 1)

    def forward(self, a, b):
        ### BEGIN SOLUTION mul
        return a * b
        ### END SOLUTION

    def backward(self, gy):  # d(ab)/da = b, d(ab)/db = a
        ### BEGIN SOLUTION mul
        a, b = self.saved_input(0), self.saved_input(1)
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb
        ### END SOLUTION


class Div(Function):
    save_inputs = (0, 1)
    save_output = True

    def forward(self, a, b):
        ### BEGIN SOLUTION div
        return a / b
        ### END SOLUTION

    def backward(self, gy):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -(1/b) * y
        ### BEGIN SOLUTION div
        a, b = self.saved_input(0), self.saved_input(1)
        g_over_b = gy / b
        ga = sum_to(g_over_b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-g_over_b * self.saved_output(), b.shape) if self.needs_input_grad[1] else None
        return ga, gb
        ### END SOLUTION


class Neg(Function):
    def forward(self, x):
        ### BEGIN SOLUTION neg
        return -x
        ### END SOLUTION

    def backward(self, gy):
        ### BEGIN SOLUTION neg
        return -gy
        ### END SOLUTION


class Pow(Function):
    save_inputs = (0, 1)
    save_output = True

    def forward(self, x, p):
        ### BEGIN SOLUTION pow
        # where x^p is constant its derivative is 0 (as in PyTorch), not 0 * inf = NaN:
        # x^0 = 1 for every x, and 0^p = 0 for every p > 0
        self.constant_in_x = p == 0
        self.constant_in_p = (x == 0) & (p >= 0)
        return x ** p
        ### END SOLUTION

    def backward(self, gy):  # d(x^p)/dx = p x^(p-1), d(x^p)/dp = x^p log x
        ### BEGIN SOLUTION pow
        x, p = self.saved_input(0), self.saved_input(1)
        gx = gp = None
        if self.needs_input_grad[0]:
            gx = sum_to(where(Tensor(self.constant_in_x), 0.0, gy * p * x ** (p - 1)), x.shape)
        if self.needs_input_grad[1]:
            gp = sum_to(where(Tensor(self.constant_in_p), 0.0, gy * self.saved_output() * log(x)), p.shape)
        return gx, gp
        ### END SOLUTION


def add(a, b) -> Tensor:
    """a + b, broadcasting."""
    return Add()(*operands("add", a, b))


def sub(a, b) -> Tensor:
    """a - b, broadcasting."""
    _refuse_bools("sub", (a, b), "for the logical xor of two masks use a != b")
    return Sub()(*operands("sub", a, b))


def mul(a, b) -> Tensor:
    """a * b, broadcasting."""
    return Mul()(*operands("mul", a, b))


def div(a, b) -> Tensor:
    """a / b, broadcasting (true division: integers give the default float dtype, as in PyTorch)."""
    a, b = operands("div", a, b)
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        a, b = _as_float(a), _as_float(b)
    return Div()(a, b)


def neg(x: Tensor) -> Tensor:
    """-x."""
    _unary_check("neg", x)
    _refuse_bools("neg", (x,), "to invert a mask use x == False")
    return Neg()(x)


def pow(x, p) -> Tensor:
    """x ** p for a tensor or number ``p`` (differentiable in both)."""
    x, p = operands("pow", x, p)
    if x.dtype == np.bool_ and p.dtype == np.bool_:
        raise TypeError("pow: not implemented for bool tensors (bool ** bool); cast one with .astype()")
    integers = x.dtype.kind != "f" and p.dtype.kind != "f"
    if integers and bool((p.array < 0).any()):  # (a host read, for integer powers only)
        raise ValueError(f"pow: integers to negative integer powers are not allowed ({x.dtype} ** {p.dtype})")
    return Pow()(x, p)


# -- functions of one variable ------------------------------------------------------------------
class Exp(Function):
    save_output = True

    def forward(self, x):
        ### BEGIN SOLUTION exp
        return backend.array_module(x).exp(x)
        ### END SOLUTION

    def backward(self, gy):  # d(e^x)/dx = e^x = y
        ### BEGIN SOLUTION exp
        return gy * self.saved_output()
        ### END SOLUTION


class Log(Function):
    save_inputs = (0,)

    def forward(self, x):
        ### BEGIN SOLUTION log
        return backend.array_module(x).log(x)
        ### END SOLUTION

    def backward(self, gy):  # d(log x)/dx = 1/x
        ### BEGIN SOLUTION log
        return gy / self.saved_input(0)
        ### END SOLUTION


class Sqrt(Function):
    save_output = True

    def forward(self, x):
        ### BEGIN SOLUTION sqrt
        return backend.array_module(x).sqrt(x)
        ### END SOLUTION

    def backward(self, gy):  # d(sqrt x)/dx = 1 / (2 sqrt x) = 1 / (2y)
        ### BEGIN SOLUTION sqrt
        return gy / (2.0 * self.saved_output())
        ### END SOLUTION


class Abs(Function):
    def forward(self, x):
        ### BEGIN SOLUTION abs
        xp = backend.array_module(x)
        self.sign = xp.sign(x)  # 0 at x = 0: the subgradient PyTorch picks
        return xp.abs(x)
        ### END SOLUTION

    def backward(self, gy):  # d|x|/dx = sign(x)
        ### BEGIN SOLUTION abs
        return gy * Tensor(self.sign)
        ### END SOLUTION


class Clip(Function):
    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        ### BEGIN SOLUTION clip
        xp = backend.array_module(x)
        low = -np.inf if self.low is None else self.low
        high = np.inf if self.high is None else self.high
        self.inside = (x >= low) & (x <= high)  # the bounds themselves pass the gradient, as in PyTorch
        return xp.clip(x, low, high)
        ### END SOLUTION

    def backward(self, gy):  # 1 inside [low, high], 0 outside
        ### BEGIN SOLUTION clip
        return gy * Tensor(self.inside)
        ### END SOLUTION


def exp(x: Tensor) -> Tensor:
    """e^x."""
    _unary_check("exp", x)
    return Exp()(_as_float(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm."""
    _unary_check("log", x)
    return Log()(_as_float(x))


def sqrt(x: Tensor) -> Tensor:
    """Square root."""
    _unary_check("sqrt", x)
    return Sqrt()(_as_float(x))


def abs(x: Tensor) -> Tensor:
    """|x| (gradient 0 at 0)."""
    _unary_check("abs", x)
    if x.dtype == np.bool_:
        raise TypeError("abs: not implemented for bool tensors")
    return Abs()(x)


def clip(x: Tensor, min=None, max=None) -> Tensor:
    """x limited to [min, max] (either may be None)."""
    _unary_check("clip", x)
    for bound in (min, max):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, numbers.Real)):
            raise TypeError(f"clip: bounds must be real numbers or None, got {bound!r}")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min {min} is larger than max {max}")
    return Clip(min, max)(x)


# -- choosing between two tensors ----------------------------------------------------------------
class Maximum(Function):
    def __init__(self, pick_larger: bool):
        self.pick_larger = pick_larger

    def forward(self, a, b):
        ### BEGIN SOLUTION maximum
        xp = backend.array_module(a)
        self.shapes = a.shape, b.shape
        wins = (a > b) if self.pick_larger else (a < b)
        # share of the gradient that goes to a: 1 where a wins, 1/2 on ties (as PyTorch)
        self.share_a = xp.where(a == b, 0.5, wins).astype(np.result_type(a.dtype, b.dtype))
        return xp.maximum(a, b) if self.pick_larger else xp.minimum(a, b)
        ### END SOLUTION

    def backward(self, gy):
        ### BEGIN SOLUTION maximum
        share_a = Tensor(self.share_a)
        ga = sum_to(gy * share_a, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = sum_to(gy * (1.0 - share_a), self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb
        ### END SOLUTION


def maximum(a, b) -> Tensor:
    """Elementwise larger of a and b (ties split the gradient evenly)."""
    return Maximum(True)(*operands("maximum", a, b))


def minimum(a, b) -> Tensor:
    """Elementwise smaller of a and b (ties split the gradient evenly)."""
    return Maximum(False)(*operands("minimum", a, b))


class Where(Function):
    save_inputs = (2,)  # the condition, an input so that a write to it before backward is caught

    def forward(self, a, b, condition):
        ### BEGIN SOLUTION where
        self.shapes = a.shape, b.shape
        return backend.array_module(a).where(condition, a, b)
        ### END SOLUTION

    def backward(self, gy):  # the gradient goes to whichever input was picked
        ### BEGIN SOLUTION where
        cond = self.saved_input(2)
        ga = sum_to(gy * cond, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = sum_to(gy * Tensor(~cond.array), self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb, None
        ### END SOLUTION


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` is true, else ``b`` (condition: a bool Tensor; broadcasting)."""
    if not isinstance(condition, Tensor) or condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool Tensor, got "
                        f"{getattr(condition, 'dtype', type(condition).__name__)}")
    a, b = operands("where", a, b)
    check_broadcast("where", condition.shape, a.shape, b.shape)
    backend.check_same_device("where", [condition.array, a.array, b.array])
    return Where()(a, b, condition)


def compare(op: str, a, b) -> Tensor:
    """Elementwise comparison ``lt le gt ge eq ne``: a bool tensor outside the graph."""
    a, b = operands(op, a, b)
    backend.check_same_device(op, [a.array, b.array])
    return Tensor(getattr(operator, op)(a.array, b.array))


# -- conversions ---------------------------------------------------------------------------------
class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.input_dtype)


def astype(x: Tensor, dtype) -> Tensor:
    """``x`` as ``dtype``; differentiable between float dtypes, a constant otherwise."""
    _unary_check("astype", x)
    dtype = check_dtype("astype", dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind != "f":
        return Tensor(x.array.astype(dtype))
    return Cast(dtype)(x)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.source)


def to_device(x: Tensor, device) -> Tensor:
    """``x`` copied to ``device`` (differentiable: the gradient travels back)."""
    _unary_check("to", x)
    device = backend.Device(device)
    if device == x.device:
        return x
    return ToDevice(device)(x)
