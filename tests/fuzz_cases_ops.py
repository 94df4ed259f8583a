"""Bad inputs to the creation functions and the functional ops, by family (see fuzz_harness)."""
import numpy as np

import minigan
from minigan import functional as F

from fuzz_harness import err, like_torch, ok, r, returns_normally, shaped, t

# -- creation --------------------------------------------------------------------------------------
C = "creation"
err(C, "strings", lambda: t(["a", "b"]), TypeError, "tensor", "<U1")
err(C, "a string", lambda: t("abc"), TypeError, "tensor", "<U3")
err(C, "complex", lambda: t([1j]), TypeError, "tensor", "complex")
err(C, "None", lambda: t(None), TypeError, "tensor", "object")
err(C, "objects", lambda: t(np.array([1, "a"], dtype=object)), TypeError, "tensor", "object")
err(C, "ragged lists", lambda: t([[1.0], [1.0, 2.0]]), ValueError, "tensor", "inhomogeneous")
err(C, "complex dtype", lambda: t([1.0], dtype=np.complex64), TypeError, "tensor", "complex64")
err(C, "unknown dtype", lambda: t([1.0], dtype="nonsense"), TypeError, "tensor", "nonsense")
err(C, "string dtype", lambda: t([1.0], dtype="U3"), TypeError, "tensor", "<U3")
ok(C, "floats into int64", lambda: t([1.5, -2.7], dtype=np.int64),
   like_torch(lambda torch: torch.tensor([1.5, -2.7], dtype=torch.int64)), needs_torch=True)
ok(C, "bools", lambda: t([True, False]), shaped((2,), np.bool_))
ok(C, "empty list", lambda: t([]), like_torch(lambda torch: torch.tensor([])), needs_torch=True)
err(C, "unknown device", lambda: t([1.0], device="gpu"), ValueError, "gpu")
err(C, "negative GPU index", lambda: t([1.0], device=-1), ValueError, "-1")
err(C, "device 0 is cuda:0 (no GPU here)", lambda: t([1.0], device=0), RuntimeError, "cuda", "CuPy",
    needs_no_gpu=True)
err(C, "float device", lambda: t([1.0], device=1.5), TypeError, "device", "float")
err(C, "from_numpy of a list", lambda: minigan.from_numpy([1, 2]), TypeError, "from_numpy", "list")
err(C, "from_numpy of strings", lambda: minigan.from_numpy(np.array(["a"])), TypeError, "from_numpy", "<U1")
err(C, "from_numpy of complex", lambda: minigan.from_numpy(np.ones(2, complex)), TypeError, "from_numpy", "complex128")
err(C, "Tensor of a list", lambda: minigan.Tensor([1, 2]), TypeError, "Tensor", "list")
err(C, "Tensor of complex", lambda: minigan.Tensor(np.ones(2, complex)), TypeError, "Tensor", "complex128")
err(C, "Tensor of objects", lambda: minigan.Tensor(np.array([None])), TypeError, "Tensor", "object")
err(C, "zeros(-1)", lambda: minigan.zeros(-1), ValueError, "zeros", "(-1,)")
err(C, "zeros(2.5)", lambda: minigan.zeros(2.5), TypeError, "zeros", "2.5")
err(C, "zeros('a')", lambda: minigan.zeros("a"), TypeError, "zeros", "'a'")
err(C, "zeros of complex64", lambda: minigan.zeros(2, dtype=np.complex64), TypeError, "zeros", "complex64")
err(C, "ones((2, -3))", lambda: minigan.ones((2, -3)), ValueError, "ones", "(2, -3)")
ok(C, "zeros(0, 3)", lambda: minigan.zeros(0, 3), shaped((0, 3), np.float32))
err(C, "full of 1j", lambda: minigan.full((2,), 1j), TypeError, "full", "1j")
err(C, "full of a string", lambda: minigan.full((2,), "a"), TypeError, "full", "'a'")
err(C, "full 300 as uint8", lambda: minigan.full((2,), 300, dtype=np.uint8), ValueError, "full", "300", "uint8")
err(C, "full NaN as int64", lambda: minigan.full((2,), float("nan"), dtype=np.int64), ValueError, "full", "nan",
    "int64")
err(C, "arange step 0", lambda: minigan.arange(0, 3, 0), ValueError, "arange", "step")
err(C, "arange of a string", lambda: minigan.arange("a"), TypeError, "arange", "'a'")
err(C, "arange as complex", lambda: minigan.arange(3, dtype=np.complex64), TypeError, "arange", "complex64")
ok(C, "arange of floats", lambda: minigan.arange(0, 1, 0.25),
   like_torch(lambda torch: torch.arange(0, 1, 0.25)), needs_torch=True)
ok(C, "randn as float16", lambda: minigan.randn(3, dtype=np.float16), shaped((3,), np.float16))
ok(C, "rand as float16", lambda: minigan.rand(3, dtype=np.float16), shaped((3,), np.float16))
err(C, "randn as int64", lambda: minigan.randn(2, dtype=np.int64), TypeError, "randn", "int64")
err(C, "rand as bool", lambda: minigan.rand(2, dtype=bool), TypeError, "rand", "bool")
err(C, "randn(-1)", lambda: minigan.randn(-1), ValueError, "randn", "(-1,)")
err(C, "randn(2.5)", lambda: minigan.randn(2.5), TypeError, "randn", "2.5")


def _seed_draws(seed):
    minigan.manual_seed(seed)
    return minigan.randn(4).numpy()


def _same_draws(pair):
    np.testing.assert_array_equal(pair[0], pair[1])


ok(C, "manual_seed(-1) is 2**64 - 1", lambda: (_seed_draws(-1), _seed_draws(2**64 - 1)), _same_draws)
err(C, "manual_seed(2**64)", lambda: minigan.manual_seed(2**64), ValueError, "manual_seed", str(2**64))
err(C, "manual_seed(-2**63 - 1)", lambda: minigan.manual_seed(-2**63 - 1), ValueError, "manual_seed")
err(C, "manual_seed('a')", lambda: minigan.manual_seed("a"), TypeError, "manual_seed", "'a'")
err(C, "manual_seed(1.5)", lambda: minigan.manual_seed(1.5), TypeError, "manual_seed", "1.5")
err(C, "zeros_like of a list", lambda: minigan.zeros_like([1.0]), TypeError, "zeros_like", "list")
err(C, "int tensor requiring grad", lambda: t([1, 2], requires_grad=True), TypeError, "grad", "int64")
err(C, "astype complex", lambda: r(2).astype(np.complex64), TypeError, "astype", "complex64")
err(C, "astype string", lambda: r(2).astype("U3"), TypeError, "astype", "<U3")

# -- Tensor methods ---------------------------------------------------------------------------------
TM = "tensor"


def _assign_data(x, value):
    x.data = value


err(TM, "item of two values", lambda: r(2).item(), ValueError, "item", "(2,)")
err(TM, "float of two values", lambda: float(r(2)), ValueError, "item", "(2,)")
err(TM, "bool of two values", lambda: bool(r(2)), ValueError, "item", "(2,)")
err(TM, "len of a 0-d tensor", lambda: len(r()), TypeError, "len", "0-d")
err(TM, ".data = a list", lambda x: _assign_data(x, [1.0, 2.0]), TypeError, "data", "list", setup=lambda: r(2))
err(TM, "astype(None)", lambda: r(2).astype(None), TypeError, "astype", "None")
err(TM, "unsqueeze(1.5)", lambda: r(2).unsqueeze(1.5), TypeError, "unsqueeze", "1.5")
err(TM, "flatten(0.5)", lambda: r(2).flatten(0.5), TypeError, "flatten", "0.5")
err(TM, "softmax('a')", lambda: r(2).softmax("a"), TypeError, "softmax", "'a'")
err(TM, "permute()", lambda: r(2).permute(), ValueError, "permute", "()")
err(TM, "requires_grad_ on a non-leaf", lambda x: (x * 2.0).requires_grad_(False), RuntimeError, "requires_grad_",
    setup=lambda: r(2, requires_grad=True))
ok(TM, "int of 1.5", lambda: int(t([1.5])), lambda v: _equal(v, 1))
ok(TM, "numpy of a sim tensor", lambda: r(2, device="sim").numpy(), lambda a: _equal(type(a), np.ndarray))
ok(TM, "indexing with None and ...", lambda: r(3)[None, ..., None], shaped((1, 3, 1), np.float32))
ok(TM, "T of a 0-d tensor", lambda: r().T, shaped((), np.float32))
ok(TM, "detach shares the version, .data does not", lambda: _versions_after_write(), lambda v: _equal(v, (1, 1, 0)))


def _versions_after_write():
    w = r(2, requires_grad=True)
    shared, cut = w.detach(), w.data
    w._bump_version()
    return w._version, shared._version, cut._version


def _equal(got, want):
    assert got == want, f"{got!r}, expected {want!r}"


# -- elementwise -------------------------------------------------------------------------------------
E = "elementwise"
B, I, X = (lambda: t([True, False])), (lambda: t([1, 2])), (lambda: t([1.0, 2.0]))
err(E, "add (2, 3) + (4,)", lambda: r(2, 3) + r(4), ValueError, "add", "(2, 3)", "(4,)")
err(E, "sub float32 - float64", lambda: r(2) - r(2, dtype=np.float64), TypeError, "sub", "float32", "float64")
err(E, "add float16 + float32", lambda: r(2, dtype=np.float16) + r(2), TypeError, "add", "float16", "float32")
err(E, "mul by 1j", lambda: X() * 1j, TypeError, "mul", "1j")
err(E, "add None", lambda: X() + None, TypeError, "add", "NoneType")
err(E, "add a string", lambda: X() + "a", TypeError, "add", "str")
err(E, "add a list", lambda: F.add(X(), [1.0, 2.0]), TypeError, "add", "list")
err(E, "add two numbers", lambda: F.add(1, 2), TypeError, "add", "int")
err(E, "bool - bool", lambda: B() - B(), TypeError, "sub", "bool")
err(E, "-bool", lambda: -B(), TypeError, "neg", "bool")
err(E, "abs of bools", lambda: abs(B()), TypeError, "abs", "bool")
err(E, "int ** -1", lambda: I() ** -1, ValueError, "pow", "negative")
err(E, "int ** int tensor with a negative", lambda: I() ** t([2, -1]), ValueError, "pow", "negative")
err(E, "int8 + 1000", lambda: t([1], dtype=np.int8) + 1000, ValueError, "add", "1000", "int8")
err(E, "pow by a string", lambda: X() ** "a", TypeError, "pow", "str")
err(E, "clip min > max", lambda: F.clip(X(), 2, 1), ValueError, "clip", "2", "1")
err(E, "clip by a string", lambda: F.clip(X(), "a"), TypeError, "clip", "'a'")
err(E, "clip by 1j", lambda: F.clip(X(), None, 1j), TypeError, "clip", "1j")
err(E, "maximum shapes", lambda: F.maximum(r(2, 3), r(3, 2)), ValueError, "maximum", "(2, 3)", "(3, 2)")
err(E, "minimum dtypes", lambda: F.minimum(r(2), r(2, dtype=np.float64)), TypeError, "minimum", "float64")
err(E, "where with an int condition", lambda: F.where(I(), X(), X()), TypeError, "where", "int64")
err(E, "where with a list condition", lambda: F.where([True, False], X(), X()), TypeError, "where", "list")
err(E, "where shapes", lambda: F.where(t([True, False, True]), X(), X()), ValueError, "where", "(3,)", "(2,)")
err(E, "compare with a string", lambda: X() < "a", TypeError, "lt", "str")
err(E, "compare shapes", lambda: r(2) == r(3), ValueError, "eq", "(2,)", "(3,)")
err(E, "exp of a list", lambda: F.exp([1.0]), TypeError, "exp", "list")
err(E, "log of None", lambda: F.log(None), TypeError, "log", "NoneType")
err(E, "neg of a string", lambda: F.neg("a"), TypeError, "neg", "str")
err(E, "sqrt of a number", lambda: F.sqrt(4.0), TypeError, "sqrt", "float")


def _torch_case(name, mine, theirs):
    ok(E, name, mine, like_torch(theirs), needs_torch=True)


_torch_case("bool + 2", lambda: B() + 2, lambda torch: torch.tensor([True, False]) + 2)
_torch_case("bool + True", lambda: B() + True, lambda torch: torch.tensor([True, False]) + True)
_torch_case("bool * 2.5", lambda: B() * 2.5, lambda torch: torch.tensor([True, False]) * 2.5)
_torch_case("bool ** 2", lambda: B() ** 2, lambda torch: torch.tensor([True, False]) ** 2)
_torch_case("bool / bool", lambda: B() / B(), lambda torch: torch.tensor([True, False]) / torch.tensor([True, False]))
_torch_case("int / int", lambda: I() / I(), lambda torch: torch.tensor([1, 2]) / torch.tensor([1, 2]))
_torch_case("int / 2", lambda: I() / 2, lambda torch: torch.tensor([1, 2]) / 2)
_torch_case("int ** 2", lambda: I() ** 2, lambda torch: torch.tensor([1, 2]) ** 2)
_torch_case("float ** -1", lambda: X() ** -1, lambda torch: torch.tensor([1.0, 2.0]) ** -1)
_torch_case("exp of ints", lambda: F.exp(I()), lambda torch: torch.exp(torch.tensor([1, 2])))
_torch_case("log of bools", lambda: F.log(B()), lambda torch: torch.log(torch.tensor([True, False])))
_torch_case("sqrt of ints", lambda: F.sqrt(I()), lambda torch: torch.sqrt(torch.tensor([1, 2])))
_torch_case("abs of ints", lambda: abs(t([-1, 2])), lambda torch: torch.tensor([-1, 2]).abs())
_torch_case("uint8 - 1 wraps", lambda: t([0], dtype=np.uint8) - 1,
            lambda torch: torch.tensor([0], dtype=torch.uint8) - 1)
_torch_case("float16 + int64", lambda: t([1.5], dtype=np.float16) + t([2]),
            lambda torch: torch.tensor([1.5], dtype=torch.float16) + torch.tensor([2]))
_torch_case("int32 + int64", lambda: t([1], dtype=np.int32) + t([2]),
            lambda torch: torch.tensor([1], dtype=torch.int32) + torch.tensor([2]))
_torch_case("clip bools", lambda: F.clip(B(), 0, 1), lambda torch: torch.clamp(torch.tensor([True, False]), 0, 1))
_torch_case("clip with a NaN bound", lambda: F.clip(X(), float("nan"), 1.0),
            lambda torch: torch.clamp(torch.tensor([1.0, 2.0]), float("nan"), 1.0))
_torch_case("maximum with NaN", lambda: F.maximum(t([float("nan"), 1.0]), t([0.0, float("nan")])),
            lambda torch: torch.maximum(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, float("nan")])))
_torch_case("inf - inf", lambda: t([float("inf")]) - t([float("inf")]),
            lambda torch: torch.tensor([float("inf")]) - torch.tensor([float("inf")]))
_torch_case("empty + empty", lambda: r(0, 3) + r(3), lambda torch: torch.zeros(0, 3) + torch.zeros(3))
_torch_case("log of 0 and -1", lambda: F.log(t([0.0, -1.0])), lambda torch: torch.log(torch.tensor([0.0, -1.0])))
_torch_case("int compared with float", lambda: I() < 1.5, lambda torch: torch.tensor([1, 2]) < 1.5)

# -- shape ops ---------------------------------------------------------------------------------------
S = "shape"
err(S, "reshape (2, 3) to (4,)", lambda: r(2, 3).reshape(4), ValueError, "reshape", "(2, 3)", "(4,)")
err(S, "reshape with two -1", lambda: r(2, 3).reshape(-1, -1), ValueError, "reshape", "(-1, -1)")
err(S, "reshape to a string", lambda: r(2, 3).reshape("a"), TypeError, "reshape", "'a'")
err(S, "reshape to (2.5, 2)", lambda: r(5).reshape((2.5, 2)), TypeError, "reshape", "2.5")
err(S, "reshape to -2", lambda: r(2).reshape(-2), ValueError, "reshape", "(-2,)")
err(S, "reshape 0 elements to (-1, 0)", lambda: r(0, 3).reshape(-1, 0), ValueError, "reshape", "(-1, 0)")
err(S, "permute with too few axes", lambda: r(2, 3).permute(0), ValueError, "permute", "(0,)")
err(S, "permute with a repeated axis", lambda: r(2, 3).permute(0, 0), ValueError, "permute", "(0, 0)")
err(S, "permute to axis 5", lambda: r(2, 3).permute(0, 5), ValueError, "permute", "axis 5")
err(S, "permute by floats", lambda: F.permute(r(2, 3), (1.5, 0)), TypeError, "permute", "1.5")
err(S, "transpose axis 5", lambda: r(2, 3).transpose(0, 5), ValueError, "transpose", "axis 5")
err(S, "transpose axis 1.5", lambda: r(2, 3).transpose(0, 1.5), TypeError, "transpose", "1.5")
err(S, "squeeze an axis of size 3", lambda: r(3, 1).squeeze(0), ValueError, "squeeze", "size 3")
err(S, "squeeze axis 5", lambda: r(3, 1).squeeze(5), ValueError, "squeeze", "axis 5")
err(S, "unsqueeze axis 5", lambda: r(3).unsqueeze(5), ValueError, "unsqueeze", "axis 5")
err(S, "flatten 1 to 0", lambda: r(2, 3).flatten(1, 0), ValueError, "flatten", "start_axis 1")
err(S, "flatten axis 5", lambda: r(2, 3).flatten(5), ValueError, "flatten", "axis 5")
err(S, "broadcast_to (3,) -> (2,)", lambda: r(3).broadcast_to((2,)), ValueError, "broadcast_to", "(3,)", "(2,)")
err(S, "broadcast_to a string", lambda: r(3).broadcast_to("ab"), TypeError, "broadcast_to", "'ab'")
err(S, "concatenate nothing", lambda: F.concatenate([]), ValueError, "concatenate")
err(S, "concatenate a Tensor", lambda: F.concatenate(r(2, 3)), TypeError, "concatenate", "Tensor")
err(S, "concatenate shapes", lambda: F.concatenate([r(2, 3), r(2, 4)]), ValueError, "concatenate", "(2, 3)", "(2, 4)")
err(S, "concatenate dtypes", lambda: F.concatenate([r(2), r(2, dtype=np.float64)]), TypeError, "concatenate", "float64")
err(S, "concatenate an array", lambda: F.concatenate([r(2), np.ones(2)]), TypeError, "concatenate", "ndarray")
err(S, "concatenate axis 3", lambda: F.concatenate([r(2), r(2)], axis=3), ValueError, "concatenate", "axis 3")
err(S, "stack shapes", lambda: F.stack([r(2), r(3)]), ValueError, "stack", "(2,)", "(3,)")
err(S, "stack nothing", lambda: F.stack([]), ValueError, "stack")
err(S, "index 5 of 2", lambda: r(2)[5], IndexError, "getitem", "5", "(2,)")
err(S, "index by a float", lambda: r(2)[1.5], IndexError, "getitem", "float")
err(S, "index by a string", lambda: r(2)["a"], IndexError, "getitem", "str")
err(S, "index by a float tensor", lambda: r(2)[t([0.0])], IndexError, "getitem", "float32")
err(S, "index by a mask of another shape", lambda: r(2)[t([True, False, True])], IndexError, "getitem", "(2,)")
err(S, "too many indices", lambda: r(2)[0, 0], IndexError, "getitem", "(2,)")
err(S, "pad an odd list", lambda: F.pad(r(2), (1,)), ValueError, "pad", "(1,)")
err(S, "pad negative", lambda: F.pad(r(2), (-1, 0)), ValueError, "pad", "(-1, 0)")
err(S, "pad too many axes", lambda: F.pad(r(2), (1, 1, 1, 1)), ValueError, "pad", "(1, 1, 1, 1)")
err(S, "pad by strings", lambda: F.pad(r(2), ("a", "b")), TypeError, "pad", "'a'")
err(S, "pad with a string value", lambda: F.pad(r(2), (1, 1), value="a"), TypeError, "pad", "'a'")
err(S, "sum_to a bigger shape", lambda: F.sum_to(r(3), (2, 3)), ValueError, "sum_to", "(3,)", "(2, 3)")
ok(S, "reshape of an empty tensor", lambda: r(0, 3).reshape(-1), shaped((0,), np.float32))
ok(S, "index an empty tensor", lambda: r(0, 3)[:, 1], shaped((0,), np.float32))

# -- reductions --------------------------------------------------------------------------------------
R = "reduce"
err(R, "sum over axis 5", lambda: r(2, 3).sum(axis=5), ValueError, "sum", "axis 5")
err(R, "sum over axis 1.5", lambda: r(2, 3).sum(axis=1.5), TypeError, "sum", "1.5")
err(R, "sum over (0, 0)", lambda: r(2, 3).sum(axis=(0, 0)), ValueError, "sum", "(0, 0)")
err(R, "mean over axis 'a'", lambda: r(2, 3).mean(axis="a"), TypeError, "mean", "'a'")
err(R, "max of nothing", lambda: r(0).max(), ValueError, "max", "(0,)")
err(R, "min of nothing", lambda: r(0, 3).min(), ValueError, "min", "(0, 3)")
err(R, "var with ddof 2 of 2 values", lambda: r(2).var(ddof=2), ValueError, "var", "ddof=2")
err(R, "argmax of nothing", lambda: r(0).argmax(), ValueError, "argmax", "(0,)")
err(R, "argmax over axis 5", lambda: r(2).argmax(axis=5), ValueError, "argmax", "axis 5")
err(R, "sum of a list", lambda: F.sum([1.0, 2.0]), TypeError, "sum", "list")
err(R, "logsumexp over axis 3", lambda: r(2).logsumexp(axis=3), ValueError, "logsumexp", "axis 3")
ok(R, "mean of nothing is NaN", lambda: r(0).mean(), like_torch(lambda torch: torch.zeros(0).mean()), needs_torch=True)
ok(R, "mean over an empty axis", lambda: r(0, 3).mean(axis=0),
   like_torch(lambda torch: torch.zeros(0, 3).mean(0)), needs_torch=True)
ok(R, "mean over a full axis of an empty tensor", lambda: r(0, 3).mean(axis=1),
   like_torch(lambda torch: torch.zeros(0, 3).mean(1)), needs_torch=True)
ok(R, "sum of nothing", lambda: r(0).sum(), like_torch(lambda torch: torch.zeros(0).sum()), needs_torch=True)
ok(R, "logsumexp over an empty axis", lambda: r(3, 0).logsumexp(axis=1),
   like_torch(lambda torch: torch.logsumexp(torch.zeros(3, 0), 1)), needs_torch=True)
ok(R, "logsumexp of -inf and inf", lambda: t([[-np.inf, -np.inf], [np.inf, 1.0]]).logsumexp(axis=1),
   like_torch(lambda torch: torch.logsumexp(torch.tensor([[-np.inf, -np.inf], [np.inf, 1.0]]), 1)), needs_torch=True)
ok(R, "sum of bools", lambda: t([True, True, False]).sum(),
   like_torch(lambda torch: torch.tensor([True, True, False]).sum()), needs_torch=True)
ok(R, "max with NaN", lambda: t([1.0, float("nan")]).max(),
   like_torch(lambda torch: torch.tensor([1.0, float("nan")]).max()), needs_torch=True)

# -- matrix products ------------------------------------------------------------------------------------
L = "linalg"
err(L, "bool matmul", lambda: t([[True, False]]) @ t([[True], [True]]), TypeError, "matmul", "bool")
err(L, "(2, 3) @ (4, 5)", lambda: r(2, 3) @ r(4, 5), ValueError, "matmul", "(2, 3)", "(4, 5)")
err(L, "0-d operand", lambda: r() @ r(2), ValueError, "matmul", "()")
err(L, "dtypes", lambda: r(2, 2) @ r(2, 2, dtype=np.float64), TypeError, "matmul", "float32", "float64")
err(L, "batch dims", lambda: r(2, 2, 3) @ r(3, 3, 2), ValueError, "matmul", "(2, 2, 3)", "(3, 3, 2)")
err(L, "matmul a list", lambda: F.matmul(r(2, 2), [[1.0, 0.0], [0.0, 1.0]]), TypeError, "matmul", "list")
err(L, "linear shapes", lambda: F.linear(r(4, 3), r(5, 2)), ValueError, "linear", "(4, 3)", "(5, 2)")
err(L, "linear bias shape", lambda: F.linear(r(4, 3), r(5, 3), r(3)), ValueError, "linear", "(3,)")
err(L, "linear bias dtype", lambda: F.linear(r(4, 3), r(5, 3), r(5, dtype=np.float64)), TypeError, "linear", "float64")
err(L, "linear weight dtype", lambda: F.linear(r(4, 3), r(5, 3, dtype=np.float64)), TypeError, "linear", "float64")
err(L, "linear bias list", lambda: F.linear(r(4, 3), r(5, 3), [0.0] * 5), TypeError, "linear", "list")
ok(L, "int matmul", lambda: t([[1, 2]]) @ t([[3], [4]]),
   like_torch(lambda torch: torch.tensor([[1, 2]]) @ torch.tensor([[3], [4]])), needs_torch=True)
ok(L, "(2, 0) @ (0, 3)", lambda: r(2, 0) @ r(0, 3), like_torch(lambda torch: torch.zeros(2, 0) @ torch.zeros(0, 3)),
   needs_torch=True)
ok(L, "matmul with inf", lambda: t([[np.inf, 1.0]]) @ t([[0.0], [1.0]]),
   like_torch(lambda torch: torch.tensor([[np.inf, 1.0]]) @ torch.tensor([[0.0], [1.0]])), needs_torch=True)

# -- activations ---------------------------------------------------------------------------------------
A = "activation"
err(A, "relu of ints", lambda: F.relu(I()), TypeError, "relu", "int64")
err(A, "sigmoid of bools", lambda: F.sigmoid(B()), TypeError, "sigmoid", "bool")
err(A, "softmax over axis 5", lambda: F.softmax(r(2, 3), axis=5), ValueError, "softmax", "axis 5")
err(A, "log_softmax over axis 1.5", lambda: F.log_softmax(r(2, 3), axis=1.5), TypeError, "log_softmax", "1.5")
err(A, "leaky_relu slope 'a'", lambda: F.leaky_relu(r(2), "a"), TypeError, "leaky_relu", "'a'")
err(A, "tanh of a list", lambda: F.tanh([1.0]), TypeError, "tanh", "list")
err(A, "softplus of ints", lambda: F.softplus(I()), TypeError, "softplus", "int64")
for _name, _fn in (("relu", "relu"), ("sigmoid", "sigmoid"), ("tanh", "tanh"), ("softplus", "softplus")):
    ok(A, f"{_name} of nan and infinities", lambda fn=_fn: getattr(F, fn)(t([np.nan, np.inf, -np.inf, 0.0])),
       like_torch(lambda torch, fn=_fn: getattr(torch.nn.functional, fn)(torch.tensor([np.nan, np.inf, -np.inf, 0.0]))),
       needs_torch=True)
ok(A, "softmax with inf", lambda: F.softmax(t([[np.inf, 1.0], [1.0, 2.0]]), axis=1),
   like_torch(lambda torch: torch.softmax(torch.tensor([[np.inf, 1.0], [1.0, 2.0]]), 1)), needs_torch=True)
ok(A, "softmax over an empty axis", lambda: F.softmax(r(3, 0), axis=1), shaped((3, 0), np.float32))
ok(A, "log_softmax over an empty axis", lambda: F.log_softmax(r(3, 0), axis=1), shaped((3, 0), np.float32))
ok(A, "log_softmax of an empty batch", lambda: F.log_softmax(r(0, 3), axis=1), shaped((0, 3), np.float32))
ok(A, "leaky_relu of empty", lambda: F.leaky_relu(r(0)), shaped((0,), np.float32))

# -- convolutions --------------------------------------------------------------------------------------
V = "conv"
err(V, "0x0 kernel", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 0, 0)), ValueError, "conv2d", "(1, 1, 0, 0)")
err(V, "1x0 kernel", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 1, 0)), ValueError, "conv2d", "(1, 1, 1, 0)")
err(V, "stride 0", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2), stride=0), ValueError, "conv2d", "stride", "0")
err(V, "padding -1", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2), padding=-1), ValueError, "conv2d", "padding", "-1")
err(V, "dilation 0", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2), dilation=0), ValueError, "conv2d", "dilation", "0")
err(V, "stride 1.5", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2), stride=1.5), ValueError, "conv2d", "stride", "1.5")
err(V, "stride of three", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2), stride=(1, 1, 1)), ValueError, "conv2d",
    "(1, 1, 1)")
err(V, "bool conv", lambda: F.conv2d(t(np.ones((1, 1, 3, 3), bool)), t(np.ones((1, 1, 2, 2), bool))), TypeError,
    "conv2d", "bool")
err(V, "int conv", lambda: F.conv2d(t(np.ones((1, 1, 3, 3), int)), t(np.ones((1, 1, 2, 2), int))), TypeError,
    "conv2d", "int64")
err(V, "channels", lambda: F.conv2d(r(1, 2, 3, 3), r(1, 3, 2, 2)), ValueError, "conv2d", "channels", "(1, 2, 3, 3)")
err(V, "3-D input", lambda: F.conv2d(r(2, 3, 3), r(1, 2, 2, 2)), ValueError, "conv2d", "(2, 3, 3)")
err(V, "kernel larger than the input", lambda: F.conv2d(r(1, 1, 2, 2), r(1, 1, 3, 3)), ValueError, "conv2d",
    "(1, 1, 2, 2)")
err(V, "bias shape", lambda: F.conv2d(r(1, 1, 3, 3), r(2, 1, 2, 2), r(3)), ValueError, "conv2d", "bias", "(3,)")
err(V, "bias dtype", lambda: F.conv2d(r(1, 1, 3, 3), r(2, 1, 2, 2), r(2, dtype=np.float64)), TypeError, "conv2d",
    "bias", "float64")
err(V, "dtypes", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2, dtype=np.float64)), TypeError, "conv2d", "float64")
err(V, "x a list", lambda: F.conv2d([[1.0]], r(1, 1, 2, 2)), TypeError, "conv2d", "list")
err(V, "transpose output_padding 2, stride 2", lambda: F.conv_transpose2d(r(1, 1, 3, 3), r(1, 1, 2, 2), stride=2,
                                                                         output_padding=2),
    ValueError, "conv_transpose2d", "output_padding")
err(V, "transpose 0x0 kernel", lambda: F.conv_transpose2d(r(1, 1, 3, 3), r(1, 1, 0, 0)), ValueError,
    "conv_transpose2d", "(1, 1, 0, 0)")
err(V, "transpose padding too large", lambda: F.conv_transpose2d(r(1, 1, 1, 1), r(1, 1, 1, 1), padding=1),
    ValueError, "conv_transpose2d", "padding")
err(V, "transpose channels", lambda: F.conv_transpose2d(r(1, 2, 3, 3), r(3, 1, 2, 2)), ValueError,
    "conv_transpose2d", "channels")
err(V, "transpose stride 0", lambda: F.conv_transpose2d(r(1, 1, 3, 3), r(1, 1, 2, 2), stride=0), ValueError,
    "conv_transpose2d", "stride")
ok(V, "an empty batch", lambda: F.conv2d(r(0, 1, 3, 3), r(2, 1, 2, 2)),
   like_torch(lambda torch: torch.nn.functional.conv2d(torch.zeros(0, 1, 3, 3), torch.zeros(2, 1, 2, 2))),
   needs_torch=True)
_DIAGONAL_NAN = np.where(np.eye(3) > 0, np.nan, 1.0)[None, None].astype(np.float32)
ok(V, "NaN in, NaN out where it reaches", lambda: F.conv2d(t(_DIAGONAL_NAN), t(np.ones((1, 1, 2, 2), np.float32))),
   like_torch(lambda torch: torch.nn.functional.conv2d(torch.tensor(_DIAGONAL_NAN), torch.ones(1, 1, 2, 2))),
   needs_torch=True)

# -- losses ---------------------------------------------------------------------------------------------
LS = "loss"
P, T = (lambda: t([0.2, 0.8])), (lambda: t([0.0, 1.0]))
err(LS, "bce p = 1.5", lambda: F.binary_cross_entropy(t([0.5, 1.5]), T()), RuntimeError, "binary_cross_entropy",
    "between 0 and 1", "1.5")
err(LS, "bce p = -0.1", lambda: F.binary_cross_entropy(t([-0.1, 0.5]), T()), RuntimeError, "binary_cross_entropy",
    "between 0 and 1")
err(LS, "bce p = NaN", lambda: F.binary_cross_entropy(t([np.nan, 0.5]), T()), RuntimeError, "binary_cross_entropy",
    "between 0 and 1")
err(LS, "bce shapes", lambda: F.binary_cross_entropy(P(), t([1.0])), ValueError, "binary_cross_entropy", "(2,)", "(1,)")
err(LS, "bce target requiring grad", lambda: F.binary_cross_entropy(P(), t([0.0, 1.0], requires_grad=True)),
    ValueError, "binary_cross_entropy", "target")
err(LS, "bce reduction 'avg'", lambda: F.binary_cross_entropy(P(), T(), reduction="avg"), ValueError,
    "binary_cross_entropy", "'avg'")
err(LS, "bce dtypes", lambda: F.binary_cross_entropy(P(), T().double()), TypeError, "binary_cross_entropy", "float64")
err(LS, "bce of a list", lambda: F.binary_cross_entropy([0.5], T()), TypeError, "binary_cross_entropy", "list")
err(LS, "bce with logits shapes", lambda: F.binary_cross_entropy_with_logits(r(2), r(3)), ValueError,
    "binary_cross_entropy_with_logits", "(2,)", "(3,)")
err(LS, "mse shapes", lambda: F.mse_loss(r(2, 3), r(3, 2)), ValueError, "mse_loss", "(2, 3)", "(3, 2)")
err(LS, "mse reduction None", lambda: F.mse_loss(r(2), r(2), reduction=None), ValueError, "mse_loss", "None")
err(LS, "cross_entropy label 3 of 3", lambda: F.cross_entropy(r(2, 3), t([0, 3])), ValueError, "cross_entropy",
    "[0, 3)", "3")
err(LS, "cross_entropy label -1", lambda: F.cross_entropy(r(2, 3), t([0, -1])), ValueError, "cross_entropy", "-1")
err(LS, "cross_entropy float labels", lambda: F.cross_entropy(r(2, 3), t([0.0, 1.0])), TypeError, "cross_entropy",
    "float32")
err(LS, "cross_entropy 1-D logits", lambda: F.cross_entropy(r(3), t([0])), ValueError, "cross_entropy", "(3,)")
err(LS, "cross_entropy int logits", lambda: F.cross_entropy(t([[1, 2]]), t([0])), TypeError, "cross_entropy", "int64")
for _name, _mine, _theirs in (
        ("bce of nothing", lambda: F.binary_cross_entropy(r(0), r(0)),
         lambda torch: torch.nn.functional.binary_cross_entropy(torch.zeros(0), torch.zeros(0))),
        ("bce at p = 0 and 1", lambda: F.binary_cross_entropy(t([0.0, 1.0]), t([1.0, 0.0]), reduction="none"),
         lambda torch: torch.nn.functional.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]),
                                                                reduction="none")),
        ("bce with logits of infinities", lambda: F.binary_cross_entropy_with_logits(
            t([np.inf, -np.inf, 80.0]), t([1.0, 0.0, 0.0]), reduction="none"),
         lambda torch: torch.nn.functional.binary_cross_entropy_with_logits(
             torch.tensor([np.inf, -np.inf, 80.0]), torch.tensor([1.0, 0.0, 0.0]), reduction="none")),
        ("mse of nothing", lambda: F.mse_loss(r(0), r(0)),
         lambda torch: torch.nn.functional.mse_loss(torch.zeros(0), torch.zeros(0))),
        ("cross_entropy of nothing", lambda: F.cross_entropy(r(0, 3), t(np.zeros(0, np.int64))),
         lambda torch: torch.nn.functional.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))):
    ok(LS, _name, _mine, like_torch(_theirs), needs_torch=True)
ok(LS, "bce on the CPU at the edges", lambda: F.binary_cross_entropy(t([0.0, 1.0]), t([0.0, 1.0])), returns_normally)
