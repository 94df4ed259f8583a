"""Shared test set-up: Hypothesis profiles and the device fixture.

Every op test takes the ``device`` fixture and so runs on the CPU and on the strict "sim"
stand-in for CuPy (see minigan/sim.py); on a machine with CuPy and a GPU it also runs on
"cuda" (those cases carry the ``cuda`` marker).
"""
import os

import pytest
from hypothesis import HealthCheck, settings

import minigan

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=25, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "dev", deadline=None, max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", deadline=None, max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
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
