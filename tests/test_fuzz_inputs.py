"""The bad-input audit of #14, as tests: every case in tests/fuzz_cases_*.py gets a clear error
(its type, and a message naming the op and the offending shapes, dtypes, devices or values)
that leaves all state as it was, or PyTorch's defined result. See tests/fuzz_harness.py for
how a case is judged, and tests/fuzz_report.py for the counts by family."""
import pytest

import fuzz_cases_ops  # noqa: F401  (importing them fills CASES)
import fuzz_cases_state  # noqa: F401
from fuzz_harness import CASES, cuda_usable, judge


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_bad_input_gets_a_clear_error_and_changes_nothing_or_pytorchs_result(case):
    if case.needs_torch:
        pytest.importorskip("torch", reason="the expected result is PyTorch's")
    if case.needs_no_gpu and cuda_usable():
        pytest.skip("the case is about what happens on a machine without a usable GPU")
    kind, detail = judge(case)
    assert kind == "ok", f"{kind}: {detail}"


def test_every_family_has_cases_and_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    families = {case.family for case in CASES}
    assert families >= {"creation", "tensor", "elementwise", "shape", "reduce", "linalg", "activation", "conv", "loss",
                        "norm", "autograd", "in-place", "nn", "optim", "gan", "metrics", "devices"}
