"""Count the bad-input cases of tests/fuzz_cases_*.py by family and outcome.

    python tests/fuzz_report.py            # the minigan on sys.path
    python tests/fuzz_report.py -v         # and each case that is not ok, with why

Run it with PYTHONPATH pointing at another checkout to count that version's outcomes (the
cases need only the public API). Outcomes: ok (a clear error that changed nothing, or
PyTorch's result), silent (no error where one was due, or a wrong result), unclear (another
exception type, or a message that does not name the op and the values), state (the error
came after a change of state), error (an error where a result was due).
"""
import os
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fuzz_cases_ops  # noqa: E402,F401
import fuzz_cases_state  # noqa: E402,F401
from fuzz_harness import CASES, cuda_usable, judge  # noqa: E402

KINDS = ("ok", "silent", "unclear", "state", "error")


def main(verbose: bool) -> None:
    import minigan
    counts, problems = defaultdict(Counter), []
    for case in CASES:
        if case.needs_no_gpu and cuda_usable():
            continue
        try:
            kind, detail = judge(case)
        except Exception as exc:  # noqa: BLE001  (a setup that fails on an old version)
            kind, detail = "error", f"setup failed: {type(exc).__name__}: {exc}"
        counts[case.family][kind] += 1
        if kind != "ok":
            problems.append((case.id, kind, detail))
    print(f"minigan from {os.path.dirname(minigan.__file__)}")
    print(f"{'family':<12} {'tried':>5} " + " ".join(f"{k:>7}" for k in KINDS))
    total = Counter()
    for family, c in counts.items():
        total.update(c)
        print(f"{family:<12} {sum(c.values()):>5} " + " ".join(f"{c[k]:>7}" for k in KINDS))
    print(f"{'all':<12} {sum(total.values()):>5} " + " ".join(f"{total[k]:>7}" for k in KINDS))
    if verbose:
        for case_id, kind, detail in problems:
            print(f"{kind:8} {case_id}: {detail[:300]}")


if __name__ == "__main__":
    main("-v" in sys.argv)
