"""minigan.profile(): per-op self times, forward and backward."""
import time

import minigan
from minigan import autograd
from minigan import functional as F


class Slow(minigan.Function):
    """An op whose forward takes a known time, to check what the profiler charges it."""

    def forward(self, x):
        time.sleep(0.02)
        return x * 1

    def backward(self, gy):
        return Slow()(gy)  # backward calls another op: its time must not be counted twice


def test_profile_records_forward_and_backward_rows():
    x = minigan.randn(2, 3, 6, 6, requires_grad=True)
    w = minigan.randn(4, 3, 3, 3, requires_grad=True)
    with minigan.profile() as prof:
        F.relu(F.conv2d(x, w, padding=1)).sum().backward()
    keys = set(prof.stats)
    assert {("Conv2d", "forward"), ("Conv2d", "backward"), ("ReLU", "forward"), ("ReLU", "backward"),
            ("Conv2dGradW", "forward"), ("ConvTranspose2d", "forward")} <= keys
    table = prof.table()
    assert "| Conv2d | forward | 1 |" in table and table.splitlines()[-1].startswith("| all ops |")


def test_self_times_exclude_nested_ops():
    x = minigan.tensor(1.0, requires_grad=True)
    with minigan.profile() as prof:
        Slow()(x).backward()
    forward_calls, forward_seconds = prof.stats[("Slow", "forward")]
    backward_calls, backward_seconds = prof.stats[("Slow", "backward")]
    assert forward_calls == 2  # the forward and the one inside backward
    assert forward_seconds >= 0.04
    assert backward_seconds < 0.015  # the nested forward's sleep is charged to the forward row
    assert abs(prof.total() - sum(s for _, s in prof.stats.values())) < 1e-12


def test_profiling_is_off_outside_the_context():
    with minigan.profile():
        assert autograd._profile is not None
    assert autograd._profile is None
    minigan.randn(3).exp()  # runs without a profiler and records nothing anywhere
