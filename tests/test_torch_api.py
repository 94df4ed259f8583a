"""PyTorch's spellings of minigan's API: Tensor methods (view, size, type, max(dim), var, std,
norm, ...), the top-level functions (minigan.cat, minigan.max, ...), dim/keepdim beside
axis/keepdims, the legacy names (Variable, FloatTensor), minigan.cuda, minigan.device,
backends.cudnn, nn.parallel, autograd.grad(only_inputs=), set_grad_enabled and dtypes.
Each against PyTorch where it is installed, and the new differentiable ops (norm, std,
max(dim)) against finite differences."""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.nn as nn
from minigan import functional as F
from minigan.autograd import Variable

from helpers import arrays, assert_sums_close, axis_args, device_settings, distinct_arrays, leaf, small_shapes


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the oracle here and is not installed")


# -- the new differentiable ops: norm, std, max(dim) -----------------------------------------------
@device_settings(0.6)
@given(data=st.data(), keepdim=st.booleans(), p=st.sampled_from([2, "fro", 1, 3, 0.5, np.inf, -np.inf]))
def test_norm_gradcheck(device, data, keepdim, p):
    shape = data.draw(small_shapes(min_dims=1), label="shape")
    dim = data.draw(axis_args(len(shape)), label="dim")
    (x,) = data.draw(distinct_arrays([shape], low=0.2, high=2.0), label="x")  # away from 0 and from ties
    x = x * np.where(np.arange(x.size).reshape(shape) % 2, 1, -1)
    t = leaf(x, device)
    expected = np.linalg.norm(x.reshape(-1) if dim is None else x, ord=None if p in (2, "fro") else p,
                              axis=dim, keepdims=keepdim) if dim is None or isinstance(dim, int) else None
    if expected is not None and dim is None and keepdim:
        expected = np.reshape(expected, (1,) * x.ndim)
    if expected is not None:
        np.testing.assert_allclose(minigan.norm(t, p, dim=dim, keepdim=keepdim).numpy(), expected, rtol=1e-12)
    minigan.gradcheck(lambda u: minigan.norm(u, p, dim=dim, keepdim=keepdim), t)


@device_settings(0.3)
@given(data=st.data())
def test_norm_and_std_gradgradcheck(device, data):
    shape = data.draw(small_shapes(min_dims=2, max_dims=2, min_side=2), label="shape")
    x = leaf(data.draw(arrays(shape, low=0.5, high=2.0), label="x"), device)
    minigan.gradgradcheck(lambda u: minigan.norm(u, 2, dim=1), x)  # WGAN-GP's penalty takes this path
    minigan.gradgradcheck(lambda u: minigan.std(u, dim=0), x)


def test_norm_and_std_have_gradient_zero_where_they_are_zero_as_in_pytorch(device):
    x = minigan.zeros(2, 3, dtype=np.float64, requires_grad=True, device=device)
    (g,) = minigan.grad(minigan.norm(x, dim=1).sum() + x.std(), x)
    np.testing.assert_array_equal(g.numpy(), 0)


@device_settings(0.6)
@given(data=st.data(), keepdim=st.booleans(), unbiased=st.booleans())
def test_std_and_var_gradcheck(device, data, keepdim, unbiased):
    shape = data.draw(small_shapes(min_dims=1), label="shape")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    if shape[dim] < 2:
        shape = shape[:dim % len(shape)] + (2,) + shape[dim % len(shape) + 1:]
    x = data.draw(arrays(shape), label="x")
    t = leaf(x, device)
    ddof = 1 if unbiased else 0
    np.testing.assert_allclose(t.std(dim, unbiased, keepdim).numpy(), np.std(x, dim, ddof=ddof, keepdims=keepdim),
                               rtol=1e-12)
    np.testing.assert_allclose(t.var(dim, unbiased, keepdim).numpy(), np.var(x, dim, ddof=ddof, keepdims=keepdim),
                               rtol=1e-12)
    minigan.gradcheck(lambda u: u.std(dim, unbiased, keepdim), t)


@device_settings(0.6)
@given(data=st.data(), keepdim=st.booleans(), largest=st.booleans())
def test_max_and_min_along_dim_give_values_and_indices_and_gradcheck(device, data, keepdim, largest):
    shape = data.draw(small_shapes(min_dims=1), label="shape")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    (x,) = data.draw(distinct_arrays([shape]), label="x")
    t = leaf(x, device)
    values, indices = (t.max if largest else t.min)(dim, keepdim)
    reference = (np.max if largest else np.min)(x, dim, keepdims=keepdim)
    np.testing.assert_array_equal(values.numpy(), reference)
    np.testing.assert_array_equal(indices.numpy(), (np.argmax if largest else np.argmin)(x, dim, keepdims=keepdim))
    assert indices.dtype == np.int64
    minigan.gradcheck(lambda u: (minigan.max if largest else minigan.min)(u, dim, keepdim).values, t)


def test_max_along_dim_gives_a_tie_the_gradient_of_the_chosen_element_only_as_pytorch():
    torch = _torch()
    x = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]
    mine, theirs = minigan.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mine.max(1).values.sum().backward()
    theirs.max(1).values.sum().backward()
    assert mine.max(1).indices.numpy().tolist() == theirs.max(1).indices.tolist()
    np.testing.assert_array_equal(mine.grad.numpy(), theirs.grad.numpy())
    mine.grad, theirs.grad = None, None
    mine.max().backward(), theirs.max().backward()  # over everything: ties share, in both
    np.testing.assert_array_equal(mine.grad.numpy(), theirs.grad.numpy())


# -- against PyTorch: methods, functions and their dtypes -------------------------------------------
X = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)
SAME_CALLS = {  # the same code on a minigan and a torch tensor (and module: lib)
    "view": lambda t, lib: t.view(6, 4), "view_-1": lambda t, lib: t.view(-1, 12), "size": lambda t, lib: t.size(),
    "size_1": lambda t, lib: t.size(1), "size_-1": lambda t, lib: t.size(-1), "dim": lambda t, lib: t.dim(),
    "numel": lambda t, lib: t.numel(), "view_as": lambda t, lib: t.view_as(lib.zeros(4, 6)),
    "expand": lambda t, lib: t[:, :1].expand(2, 5, 4), "expand_-1": lambda t, lib: t[:1].expand(3, -1, -1, -1),
    "repeat": lambda t, lib: t.repeat(2, 1, 3), "repeat_new_axis": lambda t, lib: t[0].repeat(2, 1, 1),
    "contiguous": lambda t, lib: t.transpose(0, 2).contiguous().view(-1), "t": lambda t, lib: t[0].t(),
    "clone": lambda t, lib: t.clone(), "sum_dim": lambda t, lib: t.sum(dim=1, keepdim=True),
    "sum_pos": lambda t, lib: t.sum(2), "mean_dims": lambda t, lib: t.mean((0, 2)),
    "mean_fn": lambda t, lib: lib.mean(t, dim=-1), "var": lambda t, lib: t.var(), "var_dim": lambda t, lib: t.var(1),
    "var_biased": lambda t, lib: t.var(1, unbiased=False), "std": lambda t, lib: t.std(),
    "std_dim": lambda t, lib: t.std(dim=2, keepdim=True), "std_fn": lambda t, lib: lib.std(t, 0),
    "max": lambda t, lib: t.max(), "max_dim_values": lambda t, lib: t.max(1)[0],
    "max_dim_indices": lambda t, lib: t.max(1)[1], "min_dim": lambda t, lib: lib.min(t, dim=2).indices,
    "max_pair": lambda t, lib: lib.max(t, t * 0), "amax": lambda t, lib: t.amax(1),
    "argmax": lambda t, lib: t.argmax(1), "argmax_all": lambda t, lib: t.argmax(),
    "argmax_keepdim": lambda t, lib: t.argmax(dim=2, keepdim=True), "norm": lambda t, lib: t.norm(),
    "norm_2_dim": lambda t, lib: t.norm(2, dim=1), "norm_1": lambda t, lib: t.norm(1, dim=2, keepdim=True),
    "cat": lambda t, lib: lib.cat([t, t], dim=1), "cat_pos": lambda t, lib: lib.cat((t, t * 2), 2),
    "stack": lambda t, lib: lib.stack([t, t], dim=1), "mul": lambda t, lib: lib.mul(t, 2),
    "add_alpha": lambda t, lib: t.add(t, alpha=2), "clamp": lambda t, lib: t.clamp(-0.5, 0.5),
    "lib_clamp": lambda t, lib: lib.clamp(t, min=0), "squeeze_dim_kept": lambda t, lib: t.squeeze(1),
    "squeeze_dim": lambda t, lib: t[:, :1].squeeze(1), "lib_squeeze": lambda t, lib: lib.squeeze(t[:1], 0),
    "unsqueeze": lambda t, lib: t.unsqueeze(dim=1), "flatten": lambda t, lib: t.flatten(1),
    "flatten_dims": lambda t, lib: lib.flatten(t, start_dim=0, end_dim=1), "softmax": lambda t, lib: t.softmax(dim=1),
    "F_softmax": lambda t, lib: (F if lib is minigan else lib.nn.functional).log_softmax(t, dim=-1),
    "chunk": lambda t, lib: t.chunk(2, 2)[1], "chunk_uneven": lambda t, lib: lib.chunk(t, 2, dim=1)[1],
    "permute": lambda t, lib: t.permute(2, 0, 1), "transpose": lambda t, lib: t.transpose(0, 1),
    "masked_fill": lambda t, lib: t.masked_fill(t > 0, 0.0), "mm": lambda t, lib: lib.mm(t[0], t[1].t()),
    "bmm": lambda t, lib: lib.bmm(t, t.transpose(1, 2)), "matmul": lambda t, lib: lib.matmul(t, t[0].t()),
    "long": lambda t, lib: (t * 10).long(), "int": lambda t, lib: (t * 10).int(), "bool": lambda t, lib: t.bool(),
    "double": lambda t, lib: t.double(), "half": lambda t, lib: t.half(),
    "to_dtype": lambda t, lib: t.to(lib.float64), "to_like": lambda t, lib: t.to(lib.zeros(1, dtype=lib.float64)),
    "type_long": lambda t, lib: t.type(lib.LongTensor), "type_str": lambda t, lib: t.type("torch.DoubleTensor"),
    "where": lambda t, lib: lib.where(t > 0, t, t * 0.1), "tolist": lambda t, lib: t[0, 0].tolist(),
    "full_int": lambda t, lib: lib.full((2,), 1), "full_float": lambda t, lib: lib.full((2,), 1.0),
    "full_bool": lambda t, lib: lib.full((2,), True), "Tensor_list": lambda t, lib: lib.Tensor([-4.0, 2]),
    "FloatTensor_sizes": lambda t, lib: lib.FloatTensor(2, 3).zero_(),
    "FloatTensor_f64_array": lambda t, lib: lib.FloatTensor(np.arange(3.0)),
    "LongTensor_array": lambda t, lib: lib.LongTensor(np.array([1, 2], dtype=np.int32)),
    "LongTensor_floats": lambda t, lib: lib.LongTensor([1.7, -2.2]), "tensor_floats": lambda t, lib: lib.tensor([0.5]),
    "tensor_f64_array": lambda t, lib: lib.tensor(np.arange(2.0)), "zeros_like": lambda t, lib: lib.zeros_like(t),
    "arange": lambda t, lib: lib.arange(5), "linspace": lambda t, lib: lib.linspace(0, 1, 5),
    "empty_shape": lambda t, lib: lib.empty(2, 3).shape, "sign": lambda t, lib: lib.sign(t),
    "Variable": lambda t, lib: Variable(t) if lib is minigan else lib.autograd.Variable(t),
    "new_zeros": lambda t, lib: t.double().new_zeros(2, 3), "new_ones": lambda t, lib: t.new_ones((4,)),
    "new_full": lambda t, lib: t.new_full((2,), 1.5), "new_tensor": lambda t, lib: t.long().new_tensor([1, 2]),
}


@pytest.mark.parametrize("name", SAME_CALLS)
def test_the_same_call_gives_pytorchs_result_shape_and_dtype(name):
    torch = _torch()
    call = SAME_CALLS[name]
    mine, theirs = call(minigan.tensor(X.copy()), minigan), call(torch.tensor(X.copy()), torch)
    if not isinstance(theirs, torch.Tensor):  # sizes, dims, lists
        assert mine == (tuple(theirs) if isinstance(theirs, torch.Size) else theirs)
        return
    assert isinstance(mine, minigan.Tensor), type(mine)
    assert mine.shape == tuple(theirs.shape)
    assert mine.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), (mine.dtype, theirs.dtype)
    expected = theirs.detach().numpy().astype(np.float64)
    # sums of up to 24 float32 products (reductions, matmuls, norms); the rest is exact
    assert_sums_close(mine.numpy(), expected, np.abs(expected) + np.abs(X).max(), 24, np.float32, name)


def test_gradients_of_the_pytorch_spellings_match_pytorch():
    torch = _torch()
    chains = {
        "view_expand_repeat": lambda t, lib: (t.view(6, 4)[:, None].expand(6, 2, 4).repeat(1, 2, 1) ** 2).sum(),
        "std_norm": lambda t, lib: t.std(1).sum() + t.norm(2, dim=2).sum() + t.var(),
        "max_dim": lambda t, lib: t.max(2)[0].sum() + lib.min(t, 0).values.sum(),
        "cat_chunk": lambda t, lib: (lib.cat(t.chunk(3, 1), dim=2) * lib.arange(12)).sum(),
        "contiguous_t": lambda t, lib: (t[0].t().contiguous().view(-1) * lib.arange(12)).sum(),
    }
    for name, chain in chains.items():
        mine, theirs = minigan.tensor(X.astype(np.float64), requires_grad=True), torch.tensor(X.astype(np.float64),
                                                                                          requires_grad=True)
        chain(mine, minigan).backward()
        chain(theirs, torch).backward()
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_type_without_an_argument_names_the_legacy_type():
    assert minigan.zeros(2).type() == "minigan.FloatTensor"
    assert minigan.zeros(2, dtype=minigan.long).type() == "minigan.LongTensor"
    assert minigan.zeros(2).type(minigan.FloatTensor) is not None
    t = minigan.zeros(2)
    assert t.type(minigan.FloatTensor) is t and t.type("torch.FloatTensor") is t  # nothing to change
    with pytest.raises(ValueError, match="invalid type: 'torch.NoTensor'"):
        t.type("torch.NoTensor")


def test_legacy_types_check_isinstance_by_dtype_and_device():
    assert isinstance(minigan.zeros(2), minigan.FloatTensor)
    assert not isinstance(minigan.zeros(2, dtype=minigan.float64), minigan.FloatTensor)
    assert isinstance(minigan.zeros(2, dtype=minigan.int64), minigan.LongTensor)
    assert not isinstance(minigan.zeros(2), minigan.cuda.FloatTensor)
    assert isinstance(minigan.zeros(2), Variable)
    assert repr(minigan.cuda.FloatTensor) == "<class 'minigan.cuda.FloatTensor'>"


def test_legacy_constructors_refuse_what_pytorch_refuses():
    with pytest.raises(TypeError, match=re.escape("new(): data must be a sequence (got float)")):
        minigan.FloatTensor(2.5)
    with pytest.raises(TypeError, match="expected a float32 tensor on cpu, got float64"):
        minigan.FloatTensor(minigan.zeros(2, dtype=minigan.float64))
    t = minigan.zeros(2)
    assert minigan.FloatTensor(t) is t  # the same tensor, as PyTorch's alias
    with pytest.raises(TypeError, match=re.escape("Variable data has to be a tensor, but got list")):
        Variable([1.0])
    with pytest.raises(ValueError, match="Tensor: cannot make a float32 tensor"):
        minigan.Tensor([[1.0], [1.0, 2.0]])
    with pytest.raises(TypeError, match="or a list or tuple of numbers, got float"):
        minigan.Tensor(-4.0)


def test_variable_is_detach_with_requires_grad_as_asked():
    w = minigan.ones(2, requires_grad=True)
    y = w * 3
    v = Variable(y)
    assert v.requires_grad is False and v.is_leaf and v.array is y.array
    v = Variable(y, requires_grad=True)
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    y.detach().add_(1)  # the same memory and version counter as y, as PyTorch's Variable(t)
    assert v._version == y._version == 1
    with pytest.warns(UserWarning, match="volatile was removed"):
        Variable(minigan.zeros(1), volatile=True)


def test_micrograd_style_leaf_from_a_list():
    """micrograd's test_engine.py: torch.Tensor([-4.0]).double(), requires_grad set by attribute."""
    x = minigan.Tensor([-4.0]).double()
    x.requires_grad = True
    y = (x * 2 + 2 + x).relu() + x * x  # relu(-10) + 16
    y.backward()
    assert x.dtype == np.float64 and x.grad.item() == 2 * -4.0 and y.item() == 16.0


# -- dim/keepdim beside axis/keepdims -----------------------------------------------------------
@pytest.mark.parametrize("op", [F.sum, F.mean, F.var, F.max, F.min, F.logsumexp, F.argmax, F.argmin, minigan.norm])
def test_dim_and_axis_are_the_same_and_both_at_once_is_an_error(op):
    x = minigan.tensor(X)
    args = (2,) if op is minigan.norm else ()
    by_axis = op(x, *args, axis=1, keepdims=True) if op is not minigan.norm else op(x, 2, axis=1, keepdims=True)
    by_dim = op(x, *args, dim=1, keepdim=True)
    np.testing.assert_array_equal(by_axis.numpy(), by_dim.numpy())
    with pytest.raises(TypeError, match=r"got both dim=1 \(PyTorch's name\) and axis=0"):
        op(x, *args, axis=0, dim=1)
    with pytest.raises(TypeError, match="got both keepdim=True"):
        op(x, *args, keepdims=True, keepdim=True)


def test_shape_ops_take_dim_too():
    x = minigan.tensor(X)
    assert F.concatenate([x, x], dim=2).shape == (2, 3, 8) and F.stack([x, x], dim=0).shape == (2, 2, 3, 4)
    assert F.unsqueeze(x, dim=0).shape == (1, 2, 3, 4) and F.flatten(x, start_dim=1).shape == (2, 12)
    assert F.squeeze(x[:, :1], dim=1).shape == (2, 4)
    assert F.squeeze(x, dim=1).shape == (2, 3, 4)  # PyTorch's dim: a size other than 1 is left alone
    with pytest.raises(ValueError, match="squeeze: axis 1 of shape"):
        F.squeeze(x, axis=1)  # NumPy's axis: refused
    with pytest.raises(TypeError, match="unsqueeze: missing the position"):
        F.unsqueeze(x)


def test_numpy_keywords_keep_numpys_ddof_and_pytorchs_default_is_unbiased():
    x = minigan.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    assert x.var(axis=0).item() == pytest.approx(np.var([1, 2, 3, 4]))
    assert x.var(ddof=2).item() == pytest.approx(np.var([1, 2, 3, 4], ddof=2))
    assert x.std(correction=0).item() == pytest.approx(np.std([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="var: got unbiased and ddof"):
        x.var(unbiased=True, ddof=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'axes'"):
        x.var(axes=0)


# -- facts, devices, modules ------------------------------------------------------------------
def test_view_refuses_what_needs_a_copy_with_pytorchs_error():
    x = minigan.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"view size is not compatible .* Use \.reshape\(\.\.\.\) instead"):
        x.t().view(6)
    assert x.t().reshape(6).shape == (6,)
    v = x.view(3, 2)
    v.fill_(1)
    assert x.numpy().sum() == 6  # a view writes through


def test_size_dim_and_device_facts():
    x = minigan.zeros(2, 3)
    assert x.size() == (2, 3) and x.size(-1) == 3 and x.dim() == 2 and x.nelement() == 6
    with pytest.raises(IndexError, match=re.escape("Dimension out of range (expected to be in range of [-2, 1], "
                                                   "but got 2)")):
        x.size(2)
    assert x.is_cuda is False and x.cpu() is x and x.to("cpu") is x and x.to(x) is x
    assert x.to(minigan.float32, copy=True) is not x
    assert minigan.device("cpu") == x.device and str(minigan.device("cuda", 1)) == "cuda:1"
    assert x.grad_fn is None and (minigan.ones(1, requires_grad=True) * 2).grad_fn.name == "Mul"


def test_cuda_module_without_a_gpu_says_so():
    if minigan.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusals below do not happen")
    assert minigan.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="CuPy is not installed|needs CuPy|no CUDA GPU"):
        minigan.cuda.FloatTensor(2, 3)
    with pytest.raises(RuntimeError, match="CuPy is not installed|needs CuPy|no CUDA GPU"):
        minigan.zeros(2).cuda()
    with pytest.raises(RuntimeError, match="CuPy is not installed|needs CuPy|no CUDA GPU"):
        nn.Linear(2, 2).cuda()


def test_backends_cudnn_and_nn_parallel_import_with_one_device_meaning():
    import minigan.backends.cudnn as cudnn
    import minigan.nn.parallel
    cudnn.benchmark = True  # accepted; nothing uses it
    assert cudnn.is_available() is False
    minigan.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2))
    x = minigan.randn(4, 3)
    np.testing.assert_array_equal(minigan.nn.parallel.data_parallel(net, x, range(2)).numpy(), net(x).numpy())
    wrapped = nn.DataParallel(net, device_ids=[0, 1])
    np.testing.assert_array_equal(wrapped(x).numpy(), net(x).numpy())
    assert list(wrapped.state_dict()) == ["module.0.weight", "module.0.bias"]  # PyTorch's keys


def test_grad_accepts_only_inputs_and_warns_as_pytorch_when_false():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    (g,) = minigan.autograd.grad((x * x).sum(), x, only_inputs=True)
    np.testing.assert_array_equal(g.numpy(), [2, 4])
    with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
        minigan.autograd.grad((x * x).sum(), [x], None, None, False, False)


def test_set_grad_enabled_as_a_call_and_as_a_block():
    assert minigan.is_grad_enabled()
    with minigan.set_grad_enabled(False):
        assert not minigan.is_grad_enabled()
        assert not (minigan.ones(1, requires_grad=True) * 2).requires_grad
    assert minigan.is_grad_enabled()
    minigan.set_grad_enabled(False)
    try:
        assert not minigan.is_grad_enabled()
    finally:
        minigan.set_grad_enabled(True)
    assert minigan.is_grad_enabled()


def test_dtypes_under_pytorchs_names():
    assert minigan.float is minigan.float32 and minigan.double is minigan.float64 and minigan.long is minigan.int64
    assert minigan.zeros(1, dtype=minigan.float).dtype == np.float32
    assert minigan.full((2,), 1.0, dtype=minigan.float, device="cpu").dtype == np.float32
    assert minigan.tensor(np.zeros(2)).dtype == np.float64 and minigan.tensor([1.5]).dtype == np.float32
    assert minigan.randint(0, 10, (3,)).dtype == np.int64 and sorted(minigan.randperm(5).tolist()) == [0, 1, 2, 3, 4]


def test_randint_and_randperm_are_reproducible_and_in_range(device):
    minigan.manual_seed(7)
    a = minigan.randint(3, 9, (1000,), device=device).numpy()
    minigan.manual_seed(7)
    b = minigan.randint(3, 9, size=(1000,), device=device).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.min() == 3 and a.max() == 8
    with pytest.raises(ValueError, match="expected low < high"):
        minigan.randint(5, 5, (2,))


def test_nn_layers_and_losses_of_pytorch_scripts():
    torch = _torch()
    x = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)
    probs = 1 / (1 + np.exp(-x))
    target = (np.random.default_rng(6).random((4, 3)) < 0.5).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    pairs = [
        (nn.BCELoss(), torch.nn.BCELoss(), probs, target),
        (nn.BCELoss(reduction="sum"), torch.nn.BCELoss(reduction="sum"), probs, target),
        (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), x, target),
        (nn.BCEWithLogitsLoss(pos_weight=minigan.tensor([1.0, 2.0, 0.5])),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 0.5])), x, target),
        (nn.MSELoss(), torch.nn.MSELoss(), x, target),
        (nn.L1Loss(reduction="none"), torch.nn.L1Loss(reduction="none"), x, target),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), x, labels),
        (nn.CrossEntropyLoss(weight=minigan.tensor([1.0, 0.5, 2.0])),
         torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 0.5, 2.0])), x, labels),
        (nn.CrossEntropyLoss(ignore_index=2), torch.nn.CrossEntropyLoss(ignore_index=2), x, labels),
        (nn.NLLLoss(), torch.nn.NLLLoss(), np.log(probs / probs.sum(1, keepdims=True)), labels),
    ]
    for mine, theirs, inp, tgt in pairs:
        a, b = minigan.tensor(inp, requires_grad=True), torch.tensor(inp, requires_grad=True)
        la, lb = mine(a, minigan.tensor(tgt)), theirs(b, torch.tensor(tgt))
        la.sum().backward(), lb.sum().backward()
        name = repr(mine)
        assert la.dtype == np.float32, name
        np.testing.assert_allclose(la.numpy(), lb.detach().numpy(), rtol=2e-6, err_msg=name)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=2e-5, atol=1e-7, err_msg=name)
    assert repr(nn.BCELoss()) == "BCELoss()" and "weight" in nn.CrossEntropyLoss(minigan.ones(3)).state_dict()


def test_legacy_size_average_maps_to_a_reduction_with_pytorchs_warning():
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert F.mse_loss(minigan.ones(2), minigan.zeros(2), reduce=False).shape == (2,)


def test_softmax_dropout2d_identity_layers():
    x = minigan.randn(4, 3, 5, 5)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(x).exp().numpy().sum(1), 1, rtol=1e-6)
    drop = nn.Dropout2d(0.5)
    y = drop(minigan.ones(64, 8, 3, 3)).numpy()
    per_channel = y.reshape(64, 8, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))  # whole channels: dropped or doubled
    assert 0.35 < (per_channel[..., 0] == 0).mean() < 0.65  # 512 channels, p = 1/2: 7 standard errors
    assert drop.eval()(x) is x and nn.Identity(3, foo=1)(x) is x
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Softmax(dim=1)(x)  # an explicit dim: no warning


def test_save_and_load_a_state_dict_the_pytorch_way(tmp_path):
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    minigan.save(net.state_dict(), tmp_path / "netG_epoch_0.pth")
    other = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    other.load_state_dict(minigan.load(tmp_path / "netG_epoch_0.pth", map_location="cpu", weights_only=True))
    np.testing.assert_array_equal(other[0].weight.numpy(), net[0].weight.numpy())
    with pytest.raises(TypeError, match="map_location as a dict or a function is not supported"):
        minigan.load(tmp_path / "netG_epoch_0.pth", map_location={"cuda:0": "cpu"})
    torch = pytest.importorskip("torch", reason="a file PyTorch wrote is needed for the last check")
    torch.save({"w": torch.zeros(2)}, tmp_path / "theirs.pth")
    with pytest.raises(minigan.CheckpointError, match="not a minigan checkpoint"):
        minigan.load(tmp_path / "theirs.pth")  # a pickle: never unpickled


def test_zero_grad_sets_none_by_default_and_zeros_when_asked_as_pytorch():
    layer = nn.Linear(2, 1)
    optimizer = minigan.optim.SGD(layer.parameters(), lr=0.1)
    (layer(minigan.ones(3, 2)).sum() * float("inf")).backward()  # infinite gradients: zeros all the same
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad.numpy().tolist() == [[0.0, 0.0]] and layer.weight.grad.dtype == np.float32
    optimizer.zero_grad(False)
    assert layer.bias.grad.numpy().tolist() == [0.0]
    optimizer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None
