"""minigan.cpu.recycled_empty: big arrays that die every step give their buffers to the next
one, and never while any view of them is alive."""
import gc

import numpy as np
import pytest

from minigan import cpu


@pytest.fixture(autouse=True)
def empty_pool(monkeypatch):
    """Each test starts from an empty pool (and leaves the process's own pool alone)."""
    monkeypatch.setattr(cpu, "_recycled", [])


def _address(array) -> int:
    return array.__array_interface__["data"][0]


def test_a_buffer_comes_back_only_after_the_last_view_died():
    first = cpu.recycled_empty((64, 32), np.float32)
    first[...] = 1.0
    view = first.T[3:]  # a view of a view: still anchored to the same buffer
    where = _address(first)
    del first
    gc.collect()
    while_viewed = cpu.recycled_empty((64, 32), np.float32)
    assert not np.shares_memory(while_viewed, view) and _address(while_viewed) != where
    while_viewed[...] = 2.0
    assert (view == 1.0).all()  # nobody wrote into the viewed buffer
    del view, while_viewed
    gc.collect()
    again = [cpu.recycled_empty((64, 32), np.float32) for _ in range(2)]
    assert where in {_address(a) for a in again}  # the first buffer serves a new array


def test_arrays_are_writable_shaped_and_typed_and_a_smaller_one_reuses_a_bigger_buffer():
    big = cpu.recycled_empty((10, 100), np.float64)
    where = _address(big)
    del big
    gc.collect()
    small = cpu.recycled_empty((3, 5, 7), np.float32)  # 420 bytes from a buffer of 8,000
    assert small.shape == (3, 5, 7) and small.dtype == np.float32 and small.flags.writeable
    small[...] = np.arange(105, dtype=np.float32).reshape(3, 5, 7)
    assert small.sum() == 105 * 104 / 2
    assert _address(small) == where and cpu._recycled == []


def test_the_pool_keeps_only_the_biggest_few_buffers():
    arrays = [cpu.recycled_empty((n,), np.uint8) for n in range(1000, 1000 + 2 * cpu.MAX_RECYCLED)]
    del arrays
    gc.collect()
    assert len(cpu._recycled) == cpu.MAX_RECYCLED
    assert min(b.size for b in cpu._recycled) >= 1000 + cpu.MAX_RECYCLED
