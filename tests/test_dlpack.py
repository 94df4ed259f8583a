"""DLPack both ways: minigan.from_dlpack and Tensor.__dlpack__ share memory with NumPy and
PyTorch (and CuPy on a GPU) without a copy; each side keeps its own version counter."""
import numpy as np
import pytest

import minigan


def test_numpy_arrays_come_in_and_go_out_without_a_copy():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = minigan.from_dlpack(a)
    assert t.shape == (2, 3) and t.dtype == np.float32 and np.shares_memory(t.array, a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    t.mul_(2)  # a write through the minigan tensor is seen by NumPy
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3) * 2)
    assert t.__dlpack_device__() == (1, 0)  # kDLCPU


def test_strided_and_integer_tensors_pass_as_they_are():
    t = minigan.arange(12).view(3, 4).t()
    out = np.from_dlpack(t)
    assert out.dtype == np.int64 and np.shares_memory(out, t.array)
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4).T)


def test_pytorch_tensors_both_ways_share_memory():
    torch = pytest.importorskip("torch", reason="PyTorch is one side of this exchange and is not installed")
    th = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    t = minigan.from_dlpack(th)
    assert t.dtype == np.float64 and t.shape == (2, 3)
    th.add_(1)  # PyTorch writes; minigan sees it (its own version counter does not: as with .data)
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3) + 1)
    mine = minigan.randn(3, 4)
    theirs = torch.from_dlpack(mine)
    assert theirs.dtype == torch.float32 and tuple(theirs.shape) == (3, 4)
    assert theirs.data_ptr() == mine.array.ctypes.data
    mine.zero_()
    assert not theirs.any()
    with pytest.raises(BufferError, match="require gradient"):
        minigan.from_dlpack(torch.zeros(2, requires_grad=True))  # PyTorch's own refusal: detach first


def test_what_cannot_be_shared_is_refused_with_the_reason():
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__"):
        minigan.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="'sim' device only pretends"):
        np.from_dlpack(minigan.zeros(2, device="sim"))
