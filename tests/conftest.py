"""Shared test set-up: Hypothesis profiles and the device fixture.

Every op test takes the ``device`` fixture and so runs on the CPU and on the strict "sim"
stand-in for CuPy (see minigan/sim.py); on a machine with CuPy and a GPU it also runs on
"cuda" (those cases carry the ``cuda`` marker).
"""
import os
import platform

import pytest
from hypothesis import HealthCheck, settings

import minigan

# the device fixture is the same for every example, so sharing it across examples is safe
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=25, print_blob=True,
    suppress_health_check=SUPPRESSED)
settings.register_profile(
    "dev", deadline=None, max_examples=25,
    suppress_health_check=SUPPRESSED)
settings.register_profile(
    "thorough", deadline=None, max_examples=300,
    suppress_health_check=SUPPRESSED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

DEVICES = [
    "cpu",
    "sim",
    pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
        not minigan.cuda_is_available(), reason="needs CuPy and a CUDA GPU")]),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """Each device an op test runs on: cpu, the strict sim stand-in, and cuda when present."""
    return request.param


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> list:
    """The CPU and the BLAS kernel NumPy uses, one line each."""
    lines = [f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores"]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return lines + ["blas: unknown (pip install threadpoolctl to see the BLAS kernel here)"]
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            lines.append(f"blas: {pool.get('internal_api')} {pool.get('version')}, kernel "
                         f"{pool.get('architecture')}, {pool.get('num_threads')} threads "
                         f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})")
    return lines


def pytest_report_header(config):
    """The machine at the top of a verbose run."""
    return machine_description()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The machine again under the failures (also with -q, which hides the header), so that a
    failure that depends on it (a tolerance, a thread count) can be traced to it."""
    if terminalreporter.stats.get("failed") or terminalreporter.stats.get("error"):
        terminalreporter.write_sep("-", "ran on")
        for line in machine_description():
            terminalreporter.write_line(line)
