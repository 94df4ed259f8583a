"""bench/ops.py still runs: a tiny batch, one repetition, with and without PyTorch.

Only keeps the script from rotting; the timings themselves are not checked.
"""
import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ops.py"
OPS = ["conv2d"] * 2 + ["conv_transpose2d"] * 2 + ["linear"] * 2 + ["batch_norm"] * 3


def run_bench(capsys, *args):
    """bench/ops.py's main() run in this process; the rows of its table, split into cells."""
    main = runpy.run_path(str(BENCH), run_name="bench_ops")["main"]
    main(["--repeat", "1", "--batch", "2", *args])
    lines = capsys.readouterr().out.splitlines()
    rows = [line.strip("|").split("|") for line in lines if line.startswith("| ") and "---" not in line]
    return lines, [[cell.strip() for cell in row] for row in rows]


def assert_table(rows, columns):
    header, body = rows[0], rows[1:]
    assert len(header) == columns and all(len(row) == columns for row in body)
    assert [row[0] for row in body] == OPS
    assert all(float(cell) > 0 for row in body for cell in row[2:])


def test_bench_ops_runs_against_torch(capsys):
    pytest.importorskip("torch", reason="PyTorch is the oracle the benchmark compares with and is not installed")
    lines, rows = run_bench(capsys, "--warmup", "0")
    assert lines[0].startswith("# minigan ops vs PyTorch")
    assert_table(rows, 8)


def test_bench_ops_runs_without_torch(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail, as when not installed
    lines, rows = run_bench(capsys, "--warmup", "0")
    assert any("PyTorch is not installed" in line for line in lines)
    assert_table(rows, 4)


def test_bench_ops_refuses_an_unknown_device(capsys):
    with pytest.raises(SystemExit):
        run_bench(capsys, "--device", "tpu")
    assert "--device must be cpu or cuda" in capsys.readouterr().err
