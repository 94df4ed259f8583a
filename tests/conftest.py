"""Shared test set-up: Hypothesis profiles and the device fixture.

Every op test takes the ``device`` fixture and so runs on the CPU and on the strict "sim"
stand-in for CuPy (see minigan/sim.py); on a machine with CuPy and a GPU it also runs on
"cuda" (those cases carry the ``cuda`` marker).
"""
import os

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
