"""bench/ops.py and bench/dcgan_step.py still run: a tiny batch, one repetition, one round,
with and without PyTorch (each framework in its own child process, as the scripts time them).

Only keeps the scripts from rotting; the timings themselves are not checked.
"""
import runpy
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ops.py"
STEP = Path(__file__).resolve().parent.parent / "bench" / "dcgan_step.py"
OPS = ["conv2d"] * 2 + ["conv_transpose2d"] * 2 + ["linear"] * 2 + ["batch_norm"] * 3


def run_bench(capsys, *args):
    """bench/ops.py's main() run in this process; the rows of its table, split into cells."""
    main = runpy.run_path(str(BENCH), run_name="bench_ops")["main"]
    main(["--repeat", "1", "--rounds", "1", "--batch", "2", *args])
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


def hide_torch(tmp_path, monkeypatch):
    """Make `import torch` fail in the child processes, as when PyTorch is not installed."""
    (tmp_path / "torch.py").write_text("raise ImportError('PyTorch hidden by the test')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))


def test_bench_ops_runs_without_torch(capsys, monkeypatch, tmp_path):
    hide_torch(tmp_path, monkeypatch)
    lines, rows = run_bench(capsys, "--warmup", "0")
    assert any("PyTorch is not installed" in line for line in lines)
    assert_table(rows, 4)


def test_bench_ops_refuses_an_unknown_device(capsys):
    with pytest.raises(SystemExit):
        run_bench(capsys, "--device", "tpu")
    assert "--device must be cpu or cuda" in capsys.readouterr().err


def test_dcgan_step_prints_its_table_and_guards_the_ratio(capsys):
    """One round at batch 2: a row with both frameworks, and --max-ratio 0 (no ratio is that
    small) makes it a failed regression check, exit status 1, saying so."""
    pytest.importorskip("torch", reason="PyTorch is the oracle the benchmark compares with and is not installed")
    main = runpy.run_path(str(STEP), run_name="bench_step")["main"]
    status = main(["--batch", "2", "--rounds", "1", "--repeat", "1", "--warmup", "0", "--max-ratio", "0"])
    out = capsys.readouterr().out
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 1 and float(rows[0][1]) > 0 and float(rows[0][2]) > 0
    assert "round 1/1 minigan" in out and "round 1/1   torch" in out
    assert status == 1 and "REGRESSION: batch 2: ratio" in out


def test_dcgan_step_without_torch_times_minigan_alone(capsys, monkeypatch, tmp_path):
    hide_torch(tmp_path, monkeypatch)
    main = runpy.run_path(str(STEP), run_name="bench_step")["main"]
    assert main(["--batch", "2", "--rounds", "1", "--repeat", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "torch" not in out.split("| batch |")[0].replace("# DCGAN", "")  # no torch child ran
    row = next(line for line in out.splitlines() if line.startswith("| 2 |")).strip("|").split("|")
    assert float(row[1]) > 0 and row[2].strip() == "nan"


FLOOR = Path(__file__).resolve().parent.parent / "bench" / "conv_floor.py"


def test_conv_floor_prints_each_product_beside_its_gemm_and_torch(capsys):
    """One round at batch 2: a row per product and the per-iteration sum, every time positive,
    and the sum row equal to the calls-weighted rows (as printed, to rounding)."""
    pytest.importorskip("torch", reason="PyTorch is the oracle the benchmark compares with and is not installed")
    main = runpy.run_path(str(FLOOR), run_name="bench_floor")["main"]
    assert main(["--batch", "2", "--rounds", "1", "--repeat", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| ") and "---" not in line and "product" not in line]
    assert [r[0] for r in rows] == ["conv 64->128, 14->7", "conv_transpose 128->64, 7->14",
                                    "weight gradient 64x128x4x4", "per iteration"]
    assert all(float(cell) > 0 for row in rows for cell in row[2:])
    gemm_sum = sum(int(r[1]) * float(r[3]) for r in rows[:3])
    assert float(rows[3][3]) == pytest.approx(gemm_sum, rel=0.05, abs=0.05)


def test_conv_floor_says_it_needs_torch(monkeypatch, tmp_path):
    hide_torch(tmp_path, monkeypatch)
    main = runpy.run_path(str(FLOOR), run_name="bench_floor")["main"]
    with pytest.raises(SystemExit, match="pip install torch"):
        main(["--batch", "2", "--rounds", "1"])
