"""scoring: from test outcomes to points, the table, and Gradescope's results.json.

A task is worth ``points``, split between its parts (:class:`~minigan.course.tasks.Part`) by
their weights (parts with no test in this grading share out their weight); a part's share is
split evenly among its tests. A test earns its share when it passed; in a part that ``needs``
another, in proportion to the tests of that other part passed. Every planned test counts:
one that did not run, crashed, timed out or skipped at run time earns nothing.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import tasks as catalogue

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


@dataclass
class GradedTest:
    nodeid: str
    part: str
    hidden: bool = False
    outcome: str = "not run"  # passed, failed, error, timeout, crashed, skipped, not run
    message: str = ""
    duration: float = 0.0
    details: str = ""

    @property
    def headline(self) -> str:
        """The error's first line, and the next one too when the first only names the error."""
        lines = [line.strip() for line in self.message.splitlines() if line.strip()] or [""]
        return " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]


@dataclass
class TaskResult:
    task: str
    points: float = 1.0
    tests: list = field(default_factory=list)
    error: str = ""  # why the tests could not run (or stopped), if they could not
    refused: bool = False  # the code was refused, or the results could not be trusted: no points
    seconds: float = 0.0
    graded: bool = False

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)

    def failures(self) -> list:
        return [t for t in self.tests if t.outcome != "passed"]

    def fractions(self) -> dict:
        """``{part: passed / tests}`` for the parts with tests."""
        found = {}
        for t in self.tests:
            passed, total = found.get(t.part, (0, 0))
            found[t.part] = (passed + (t.outcome == "passed"), total + 1)
        return {part: passed / total for part, (passed, total) in found.items()}

    def weights(self) -> dict:
        """``{part: share of the points}``, over the parts that have tests."""
        task = catalogue.BY_ID.get(self.task)
        present = {t.part for t in self.tests}
        parts = [p for p in task.parts if p.name in present] if task else []
        total = sum(p.weight for p in parts)
        return {p.name: p.weight / total for p in parts} if total else {}

    def credit(self, test: GradedTest) -> tuple:
        """(points earned, points at stake) for one test."""
        weights, counts = self.weights(), {}
        for t in self.tests:
            counts[t.part] = counts.get(t.part, 0) + 1
        stake = self.points * weights.get(test.part, 0.0) / counts.get(test.part, 1)
        if self.refused or test.outcome != "passed":
            return 0.0, stake
        task = catalogue.BY_ID.get(self.task)
        needs = task.part(test.part).needs if task else ""
        gate = self.fractions().get(needs, 1.0) if needs else 1.0
        return stake * gate, stake

    @property
    def score(self) -> float:
        return sum(self.credit(t)[0] for t in self.tests)

    @property
    def full_marks(self) -> bool:
        return bool(self.tests) and abs(self.score - self.points) < 1e-9

    def summary(self, tests=None) -> str:
        """One line per part: tests passed and the points they earn (of ``tests``, default all)."""
        task = catalogue.BY_ID.get(self.task)
        tests = self.tests if tests is None else tests
        fractions, weights = self.fractions(), self.weights()
        lines = []
        for part in (task.parts if task else ()):
            mine = [t for t in tests if t.part == part.name]
            if part.name not in weights or not mine:
                continue
            earned, stake = (sum(self.credit(t)[i] for t in mine) for i in (0, 1))
            line = (f"{part.name}: {sum(t.outcome == 'passed' for t in mine)}/{len(mine)} tests passed, "
                    f"{earned:.2f} of {stake:.2f} points ({part.about})")
            if part.needs and fractions.get(part.needs, 1.0) < 1.0 and not self.refused:
                line += f"; counted in proportion to {part.needs} ({fractions[part.needs]:.0%})"
            lines.append(line)
        return "\n".join(lines)

    def output(self, tests=None, limit: int = 10, tracebacks: int = 1) -> str:
        """What a student sees for the task (or for the ``tests`` given, e.g. the visible ones)."""
        tests = self.tests if tests is None else tests
        lines = [f"{sum(t.outcome == 'passed' for t in tests)}/{len(tests)} tests passed", self.error,
                 self.summary(tests)]
        failures = [t for t in tests if t.outcome != "passed"]
        for number, t in enumerate(failures[:limit]):
            lines.append(f"{t.outcome.upper()} {t.nodeid}\n    {_indent(_clip(t.message, 800))}")
            if number < tracebacks and t.details:
                lines.append("    " + _indent("where: ..." + t.details[-1200:]))
        if len(failures) > limit:
            lines.append(f"... and {len(failures) - limit} more")
        return "\n".join(line for line in lines if line)


@dataclass
class GradeReport:
    directory: Path
    results: list = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""  # said once, above the table (local grading, a stopped run)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.results)

    def by_task(self) -> dict:
        return {r.task: r for r in self.results}

    def gradescope(self, visibility: str = "", hidden_visibility: str = "after_published") -> dict:
        """Gradescope's results.json: an entry per task for its visible tests, and one for its
        hidden tests (with ``hidden_visibility``) where it has some."""
        entries = []
        for r in self.results:
            task = catalogue.BY_ID.get(r.task)
            name = f"{r.task}: {task.title}" if task else r.task
            groups = [(name, [t for t in r.tests if not t.hidden], None)]
            if any(t.hidden for t in r.tests):
                groups.append((f"{name} (hidden tests)", [t for t in r.tests if t.hidden], hidden_visibility))
            for title, tests, seen_when in groups:
                if not tests and len(groups) > 1:
                    continue
                earned = sum(r.credit(t)[0] for t in tests)
                stake = sum(r.credit(t)[1] for t in tests) if r.tests else r.points
                entry = {"name": title, "number": str(len(entries) + 1), "score": round(earned, 4),
                         "max_score": round(stake, 4),
                         "status": "passed" if r.tests and abs(earned - stake) < 1e-9 else "failed",
                         "output": r.output(tests if len(groups) > 1 else None)}
                if seen_when:
                    entry["visibility"] = seen_when
                entries.append(entry)
        results = {"score": round(self.score, 4), "execution_time": round(self.seconds, 1),
                   "output": self.table(details=False, hidden=False), "tests": entries}
        if visibility:
            results["visibility"] = visibility
        return results

    def table(self, details: bool = True, hidden: bool = True) -> str:
        """The per-task score table, then (``details``) why each task lost points. Without
        ``hidden``, the hidden tests are left out of the counts and the points."""
        width = max([len("task")] + [len(r.task) for r in self.results])
        rows = [self.note] if self.note else []
        rows += [f"{'task':<{width}}  {'tests':>5}  {'passed':>6}  {'failed':>6}  {'time':>6}  score",
                 "-" * (width + 44)]
        total = stakes = 0.0
        for r in self.results:
            tests = [t for t in r.tests if hidden or not t.hidden]
            earned = sum(r.credit(t)[0] for t in tests)
            stake = sum(r.credit(t)[1] for t in tests) if r.tests else r.points
            total, stakes = total + earned, stakes + stake
            passed = sum(t.outcome == "passed" for t in tests)
            rows.append(f"{r.task:<{width}}  {len(tests):>5}  {passed:>6}  {len(tests) - passed:>6}  "
                        f"{r.seconds:>5.1f}s  {earned:.2f} / {_points(stake)}")
        rows.append("-" * (width + 44))
        rows.append(f"{'total':<{width}}  {'':>5}  {'':>6}  {'':>6}  {self.seconds:>5.0f}s  "
                    f"{total:.2f} / {_points(stakes)}")
        if not hidden and any(t.hidden for r in self.results for t in r.tests):
            rows.append("(the hidden tests are not counted here: they have entries of their own)")
        for r in self.results if details else ():
            if r.full_marks:
                continue
            rows += ["", f"[{r.task}] {r.passed}/{len(r.tests)} tests passed, {r.score:.2f} / {r.points:g}"]
            rows += ["  " + line for line in r.error.splitlines()[:3]] if r.error else []
            rows += ["  " + line for line in r.summary().splitlines()]
            failures = r.failures()
            shown = [t for t in failures if not t.hidden][:5]
            rows += [f"  {t.outcome.upper()} {t.nodeid}: {_clip(t.headline, 160)}" for t in shown]
            if len(failures) > len(shown):
                rows.append(f"  ... and {len(failures) - len(shown)} more")
        return "\n".join(rows)


def write_json(data: dict, path) -> None:
    """Write ``data`` as JSON atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _points(value: float) -> str:
    """3 as "3", 0.8181 as "0.82"."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _clip(text: str, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + " [...]"


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")
