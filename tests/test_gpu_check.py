"""bench/gpu_check.sh and bench/gpu_probe.py, which run on a GPU machine, stay runnable here:
the script parses, and the probe runs its sections on the sim device (its dry run).
`OUT=... bash bench/gpu_check.sh --dry-run` runs the whole script on sim (about a minute)."""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("bash") is None, reason="the GPU check is a bash script; no bash here")
def test_the_gpu_check_script_parses():
    result = subprocess.run(["bash", "-n", str(ROOT / "bench" / "gpu_check.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_gpu_probe_runs_every_section_on_sim(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import gpu_probe
    finally:
        sys.path.remove(str(ROOT / "bench"))
    gpu_probe.RESULTS.clear()
    assert gpu_probe.main(["--device", "sim", "--batch", "2", "--repeat", "1", "--out", str(tmp_path / "p.json")]) == 0
    results = json.loads((tmp_path / "p.json").read_text())
    assert set(results) == {"environment", "first_iteration", "timing_batch_2", "memory", "resume_rng", "second_gpu"}
    assert all(r["ok"] for r in results.values())
    assert results["timing_batch_2"]["ms_per_iter"] > 0
    assert "gpu_probe: 6 sections, failed: none" in capsys.readouterr().out
