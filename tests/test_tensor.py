"""Tensor creation, dtype rules, devices and the strict sim stand-in."""
import numpy as np
import pytest

import minigan
from minigan import sim


def test_default_dtype_is_float32_and_ints_stay_ints():
    assert minigan.tensor([1.0, 2.0]).dtype == np.float32
    assert minigan.tensor([1, 2]).dtype == np.int64
    assert minigan.tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype
    assert minigan.randn(2, 3).dtype == np.float32
    assert minigan.zeros((2, 3)).shape == (2, 3) and minigan.ones(2, 3).shape == (2, 3)


def test_python_scalars_never_promote_float32():
    x = minigan.randn(3)
    for y in (x * 2.0, 2.0 * x, x + 1, x / 3.0, 1.0 - x, x ** 2, 2.0 ** x):
        assert y.dtype == np.float32


def test_mixed_float_dtypes_raise_naming_the_op():
    with pytest.raises(TypeError, match="mul: dtypes differ, float32 and float64"):
        minigan.randn(2) * minigan.randn(2, dtype="float64")


def test_int_tensor_meets_float_tensor():
    y = minigan.tensor([1, 2]) * minigan.tensor([0.5, 0.5])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), [0.5, 1.0])


def test_numpy_arrays_are_refused_by_ops():
    with pytest.raises(TypeError, match="add: expected a Tensor or a Python number, got ndarray"):
        minigan.randn(2) + np.ones(2)


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        minigan.tensor([1, 2], requires_grad=True)


def test_comparisons_give_bool_tensors_outside_the_graph():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal(m.numpy(), [False, True])


def test_repr_shows_values_and_graph():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "creator=Mul" in repr(x * 2.0)


def test_item_and_numpy():
    assert minigan.tensor([[3.5]]).item() == 3.5
    with pytest.raises(ValueError, match="one-element"):
        minigan.tensor([1.0, 2.0]).item()


def test_from_numpy_shares_memory():
    a = np.zeros(3)
    t = minigan.from_numpy(a)
    a[0] = 5
    assert t.array[0] == 5


def test_manual_seed_repeats_random_numbers():
    minigan.manual_seed(3)
    a = minigan.randn(4).numpy()
    minigan.manual_seed(3)
    np.testing.assert_array_equal(a, minigan.randn(4).numpy())
    assert minigan.rand(1000).numpy().min() >= 0


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        minigan.zeros(2, device="tpu")


@pytest.mark.skipif(minigan.cuda_is_available(), reason="a GPU is present here")
def test_cuda_without_cupy_or_gpu_says_what_to_install():
    with pytest.raises(RuntimeError, match="device 'cuda:0': (CuPy is not installed: pip install|no usable CUDA driver|CuPy sees)"):
        minigan.zeros(2, device="cuda")


def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="Mul: expected all tensors on one device, got cpu and sim"):
        minigan.ones(2) * minigan.ones(2, device="sim")


def test_to_moves_and_backprops_across_devices():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("sim")
    assert y.device == "sim"
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


class TestSimIsStrict:
    """The stand-in must refuse what CuPy refuses, or the sim op tests prove nothing."""

    def test_implicit_conversion_to_numpy_raises(self):
        a = sim.ones(3)
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.asarray(a)

    def test_mixing_with_numpy_raises(self):
        a = sim.ones(3)
        with pytest.raises(TypeError, match="NumPy \\(host\\) array"):
            a + np.ones(3)
        with pytest.raises(TypeError):
            np.ones(3) + a

    def test_numpy_functions_on_device_data_raise(self):
        a = sim.ones(3)
        with pytest.raises(TypeError):
            np.exp(a)
        with pytest.raises(TypeError, match="numpy.concatenate"):
            np.concatenate([a, a])

    def test_host_copies_are_counted(self):
        a = sim.ones(3)
        sim.reset_transfers()
        a.sum().item()
        float(a[0])
        a.get()
        sim.asarray(np.ones(2))
        assert sim.transfers == {"to_host": 3, "to_device": 1}

    def test_reductions_stay_on_the_device(self):
        assert isinstance(sim.ones(3).sum(), sim.ndarray)

    def test_indexing_with_host_arrays_raises(self):
        with pytest.raises(TypeError):
            sim.ones(3)[np.array([0, 1])]

    def test_scalars_and_device_arrays_combine(self):
        a = sim.ones(3) * 2.0 + np.float32(1)
        assert isinstance(a, sim.ndarray)
        assert a.get().tolist() == [3.0, 3.0, 3.0]


def test_data_is_pytorchs_a_tensor_sharing_memory_cut_from_the_graph():
    w = minigan.tensor([1.0, 2.0], requires_grad=True)
    view = w.data
    assert isinstance(view, minigan.Tensor) and not view.requires_grad and view.creator is None
    view.array[0] = 5.0  # writes through: the same memory
    assert w.array[0] == 5.0 and view.array is w.array
    y = (w * w.data).sum()  # .data is a constant to backprop
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [5.0, 2.0])
    w.data = minigan.tensor([7.0, 8.0])  # assignment takes the other tensor's values
    np.testing.assert_array_equal(w.numpy(), [7.0, 8.0])
    assert w.requires_grad and w.is_leaf
    with pytest.raises(TypeError, match="data: expected a Tensor, got ndarray"):
        w.data = np.zeros(2)
