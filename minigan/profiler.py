"""Where does the time go? Wall time per op, forward and backward separately.

    with minigan.profile() as prof:
        loss = model(x).sum()
        loss.backward()
    print(prof.table())

Each row is an op's *self* time: a backward that calls other ops (conv2d's backward runs
conv_transpose2d, for instance) is charged only for its own work, and the ops it calls get
rows of their own, so the column adds up to the time spent in ops. On CUDA, pass
``sync=True`` to wait for the GPU after every op; otherwise kernels are timed as launched.
"""
from __future__ import annotations

import time
from collections import defaultdict

from . import backend


class Profile:
    """Accumulates (calls, self seconds) per (op, phase) while active."""

    def __init__(self, sync: bool = False):
        self.sync = sync
        self.stats = defaultdict(lambda: [0, 0.0])
        self._children = []  # time spent in nested ops, one accumulator per open call

    def timed(self, name: str, phase: str, fn, *args):
        """Run ``fn(*args)`` and charge its self time to (name, phase)."""
        self._children.append(0.0)
        start = time.perf_counter()
        try:
            result = fn(*args)
            if self.sync:
                _synchronize(result)
            return result
        finally:
            elapsed = time.perf_counter() - start
            nested = self._children.pop()
            entry = self.stats[(name, phase)]
            entry[0] += 1
            entry[1] += elapsed - nested
            if self._children:
                self._children[-1] += elapsed

    def total(self) -> float:
        """Seconds spent in ops."""
        return sum(seconds for _, seconds in self.stats.values())

    def table(self, limit: int = 30) -> str:
        """The ops sorted by self time, as a Markdown table."""
        total = self.total() or 1.0
        rows = sorted(self.stats.items(), key=lambda item: -item[1][1])[:limit]
        lines = ["| op | phase | calls | total ms | per call us | share |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        for (name, phase), (calls, seconds) in rows:
            lines.append(f"| {name} | {phase} | {calls} | {seconds * 1e3:.2f} | {seconds / calls * 1e6:.1f} "
                         f"| {100 * seconds / total:.1f}% |")
        lines.append(f"| all ops | | {sum(c for c, _ in self.stats.values())} | {total * 1e3:.2f} | | 100% |")
        return "\n".join(lines)


def _synchronize(result) -> None:
    first = result[0] if isinstance(result, tuple) else result
    data = getattr(first, "data", None)
    if data is not None:
        backend.synchronize(backend.device_of(data))
