"""grade: run each task's tests against a student's copy and score them.

For every task the grader starts ``python -m pytest -m op_<id> <the task's test files>`` in the
student's directory, in its own process group, with the plugin of
:mod:`minigan.course.pytest_plugin` loaded from a temporary directory (so the student's copy
is not touched and the minigan under test is the student's). The plugin stops a test that runs
past ``timeout`` seconds and writes each result as it happens; the grader kills the whole run
after ``task_timeout`` seconds. A test that never reported (a crash, a kill) scores 0 with the
reason in its output, so a result is written whatever the student's code does.

Scores: a task is worth ``points``, shared evenly among its tests that ran (skipped tests, such
as the PyTorch comparisons without PyTorch, count for nothing either way).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import tasks as catalogue

PLUGIN = "minigan_course_plugin"
OUTPUT_TAIL = 4000  # characters of pytest's own output kept when a run fails to report


@dataclass
class TestResult:
    nodeid: str
    outcome: str  # passed, failed, error, timeout, skipped, or "not run"
    message: str = ""  # the error (its first line names it)
    duration: float = 0.0
    details: str = ""  # the end of the traceback

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
    error: str = ""  # why the task's tests could not run (or stopped), if they could not
    seconds: float = 0.0

    @property
    def counted(self) -> list:
        return [t for t in self.tests if t.outcome != "skipped"]

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)

    @property
    def score(self) -> float:
        counted = self.counted
        return self.points * self.passed / len(counted) if counted else 0.0

    @property
    def full_marks(self) -> bool:
        return bool(self.counted) and self.passed == len(self.counted)

    def failures(self) -> list:
        return [t for t in self.tests if t.outcome not in ("passed", "skipped")]

    def output(self, limit: int = 10, tracebacks: int = 1) -> str:
        """What a student sees for the task: the count, then each failing test and why (and
        where, for the first ``tracebacks`` of them)."""
        lines = [f"{self.passed}/{len(self.counted)} tests passed"
                 + (f" ({len(self.tests) - len(self.counted)} skipped)" if len(self.counted) < len(self.tests) else "")]
        if self.error:
            lines.append(self.error)
        failures = self.failures()
        for number, t in enumerate(failures[:limit]):
            lines.append(f"{t.outcome.upper()} {t.nodeid}\n    {_indent(_clip(t.message, 800))}")
            if number < tracebacks and t.details:
                lines.append("    " + _indent("where: ..." + t.details[-1200:]))
        if len(failures) > limit:
            lines.append(f"... and {len(failures) - limit} more")
        return "\n".join(lines)


@dataclass
class GradeReport:
    directory: Path
    results: list = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.results)

    def by_task(self) -> dict:
        return {r.task: r for r in self.results}

    def gradescope(self) -> dict:
        """Gradescope's results.json: one entry per task."""
        entries = []
        for number, r in enumerate(self.results, start=1):
            task = catalogue.BY_ID.get(r.task)
            name = f"{r.task}: {task.title}" if task else r.task
            entries.append({"name": name, "number": str(number), "score": round(r.score, 4),
                            "max_score": r.points, "status": "passed" if r.full_marks else "failed",
                            "output": r.output()})
        return {"tests": entries, "score": round(self.score, 4)}

    def table(self) -> str:
        """The per-task score table, then why each failing task failed."""
        width = max([len("task")] + [len(r.task) for r in self.results])
        rows = [f"{'task':<{width}}  {'tests':>5}  {'passed':>6}  {'failed':>6}  {'time':>6}  score",
                "-" * (width + 44)]
        for r in self.results:
            failed = len(r.failures())
            rows.append(f"{r.task:<{width}}  {len(r.counted):>5}  {r.passed:>6}  {failed:>6}  "
                        f"{r.seconds:>5.1f}s  {r.score:.2f} / {r.points:g}")
        rows.append("-" * (width + 44))
        rows.append(f"{'total':<{width}}  {'':>5}  {'':>6}  {'':>6}  {'':>6}  {self.score:.2f} / {self.max_score:g}")
        for r in self.results:
            if not r.full_marks:
                rows += ["", f"[{r.task}] {r.passed}/{len(r.counted)} tests passed"]
                rows += [f"  {r.error.splitlines()[0]}"] if r.error else []
                failures = r.failures()
                rows += [f"  {t.outcome.upper()} {t.nodeid}: {_clip(t.headline, 160)}" for t in failures[:5]]
                rows += [f"  ... and {len(failures) - 5} more"] if len(failures) > 5 else []
        return "\n".join(rows)


def tasks_to_grade(directory, ops=None) -> list:
    """``ops`` if given, else the tasks listed in the copy's course.json, else every task."""
    if ops:
        return catalogue.parse_ops(ops)
    listed = Path(directory) / "course.json"
    if listed.is_file():
        chosen = json.loads(listed.read_text(encoding="utf-8")).get("tasks") or []
        if chosen:
            return catalogue.parse_ops(chosen)
    return [t.id for t in catalogue.TASKS]


def grade(directory, ops=None, timeout: float = 60.0, task_timeout: float = 900.0, keyword: str = None,
          max_examples: int = 25, max_timeouts: int = 3, points: float = 1.0, json_path=None,
          python: str = sys.executable, progress=None) -> GradeReport:
    """Grade the tasks ``ops`` (see :func:`tasks_to_grade`) of the copy in ``directory``.

    ``timeout``: seconds per test; ``task_timeout``: seconds for all of a task's tests;
    ``keyword``: a pytest ``-k`` expression narrowing the tests; ``max_examples``: Hypothesis
    examples per property test (0: the project's own profile); ``json_path``: where to write
    Gradescope's results.json (written even if grading itself fails half-way).
    """
    directory = Path(directory).resolve()
    report = GradeReport(directory)
    ids = tasks_to_grade(directory, ops)
    try:
        with tempfile.TemporaryDirectory(prefix="minigan-course-") as scratch:
            plugin_dir = Path(scratch) / "plugin"
            plugin_dir.mkdir()
            shutil.copyfile(Path(__file__).with_name("pytest_plugin.py"), plugin_dir / f"{PLUGIN}.py")
            for task_id in ids:
                if progress:
                    progress(f"grading {task_id} ...")
                result = run_task(directory, catalogue.get(task_id), Path(scratch), plugin_dir, timeout=timeout,
                                  task_timeout=task_timeout, keyword=keyword, max_examples=max_examples,
                                  max_timeouts=max_timeouts, python=python)
                result.points = points
                report.results.append(result)
    except BaseException as error:  # the grader itself failed: still say so in results.json
        done = {r.task for r in report.results}
        for task_id in ids:
            if task_id not in done:
                report.results.append(TaskResult(task_id, points, error=f"the grader stopped: {error!r}"))
        if not isinstance(error, Exception):
            raise
    finally:
        if json_path:
            write_json(report, json_path)
    return report


def write_json(report: GradeReport, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.gradescope(), indent=2) + "\n", encoding="utf-8")


def pytest_command(task, report_file, timeout, keyword, max_examples, max_timeouts, python, files) -> list:
    """The pytest command line that grades ``task``."""
    command = [python, "-m", "pytest", "-q", "-p", PLUGIN, "-p", "no:cacheprovider", "-o", "addopts=",
               "-m", task.marker, "--course-report", str(report_file), "--course-timeout", str(timeout),
               "--course-max-timeouts", str(max_timeouts), "--course-max-examples", str(max_examples)]
    if keyword:
        command += ["-k", keyword]
    return command + ["--", *files]


def child_environment(directory: Path, plugin_dir: Path) -> dict:
    """The student's copy and the plugin first on the path; no settings leaking in from outside."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_dir), str(directory)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_task(directory: Path, task, scratch: Path, plugin_dir: Path, timeout=60.0, task_timeout=900.0,
             keyword=None, max_examples=25, max_timeouts=3, python=sys.executable) -> TaskResult:
    """Run one task's tests in a child pytest and read back what it reported."""
    result = TaskResult(task.id)
    files = [f for f in task.tests if (directory / f).is_file()]
    if not files:
        result.error = f"none of the task's test files ({', '.join(task.tests)}) is in {directory}"
        return result
    report_file = scratch / f"{task.id}.jsonl"
    log_file = scratch / f"{task.id}.log"
    command = pytest_command(task, report_file, timeout, keyword, max_examples, max_timeouts, python, files)
    start = time.monotonic()
    with open(log_file, "wb") as log:
        child = subprocess.Popen(command, cwd=directory, env=child_environment(directory, plugin_dir),
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            returncode = child.wait(timeout=task_timeout)
            killed = False
        except subprocess.TimeoutExpired:
            _kill_group(child)
            returncode, killed = child.wait(), True
    result.seconds = time.monotonic() - start
    events = _read_events(report_file)
    _fill(result, events, returncode, killed, task_timeout, _tail(log_file))
    return result


def _fill(result: TaskResult, events, returncode, killed, task_timeout, output) -> None:
    """Turn the plugin's events into test results; every test that never reported scores 0."""
    collected = next((e for e in events if e["event"] == "collected"), None)
    errors = [e for e in events if e["event"] == "collect_error"]
    finished = next((e for e in events if e["event"] == "finished"), None)
    reported = {e["nodeid"]: e for e in events if e["event"] == "test"}
    if errors:
        result.error = "the tests could not be collected (does the code import?):\n" + "\n".join(
            f"{e['nodeid'] or 'session'}: {_clip(e['message'], 1500)}" for e in errors[:3])
    if collected is None:
        if killed:
            result.error = f"the task's tests were stopped after {task_timeout:g} s, before they were collected"
        else:
            result.error = result.error or f"pytest did not start (exit code {returncode}):\n{output}"
        return
    if not collected["items"] and not errors:
        result.error = f"no test carries the mark op_{result.task} (with this -k filter)"
    if killed:
        why = f"not run: the task's tests were stopped after {task_timeout:g} s"
    elif finished is None:
        why = f"not run: pytest crashed (exit code {returncode}) before this test finished:\n{output}"
    elif finished.get("stopped"):
        why = f"not run: {finished['stopped']}"
    else:
        why = "not run"
    for item in collected["items"]:
        event = reported.get(item["nodeid"])
        if event is None and item.get("skip"):
            result.tests.append(TestResult(item["nodeid"], "skipped", "not run (it would have been skipped)"))
        elif event is None:
            result.tests.append(TestResult(item["nodeid"], "not run", why))
        else:
            result.tests.append(TestResult(item["nodeid"], event["outcome"], event.get("message", ""),
                                           event.get("duration", 0.0), event.get("details", "")))
    if killed or finished is None or finished.get("stopped"):
        result.error = result.error or why.replace("not run: ", "", 1)


def _read_events(path: Path) -> list:
    events = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line cut short by a kill
    return events


def _kill_group(child) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        child.kill()


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-OUTPUT_TAIL:]


def _clip(text: str, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + " [...]"


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


# -- which tests grade which task (for `list` and the kit's own tests) ----------------------------
def collect(directory=None, python: str = sys.executable, include_cuda: bool = False) -> dict:
    """``{task id: [node ids]}`` for the tests of every task in ``directory`` (default: this
    checkout), read from the marks on the tests by one ``pytest --collect-only`` run. The
    ``cuda`` variants (skipped without a GPU) are left out unless ``include_cuda``."""
    from .assignment import repository_root
    directory = Path(directory).resolve() if directory else repository_root()
    files = sorted({f for t in catalogue.TASKS for f in t.tests if (directory / f).is_file()})
    found = {t.id: [] for t in catalogue.TASKS}
    with tempfile.TemporaryDirectory(prefix="minigan-course-") as scratch:
        plugin_dir = Path(scratch)
        shutil.copyfile(Path(__file__).with_name("pytest_plugin.py"), plugin_dir / f"{PLUGIN}.py")
        report_file = plugin_dir / "collected.jsonl"
        command = [python, "-m", "pytest", "-q", "--collect-only", "-p", PLUGIN, "-p", "no:cacheprovider",
                   "-o", "addopts=", "--course-report", str(report_file), "--", *files]
        done = subprocess.run(command, cwd=directory, env=child_environment(directory, plugin_dir),
                              capture_output=True, text=True, timeout=600)
        events = _read_events(report_file)
    collected = next((e for e in events if e["event"] == "collected"), None)
    if collected is None:
        raise RuntimeError(f"collecting the tests failed:\n{done.stdout[-OUTPUT_TAIL:]}{done.stderr[-OUTPUT_TAIL:]}")
    for item in collected["items"]:
        if item.get("cuda") and not include_cuda:
            continue
        for mark in item["marks"]:
            task_id = mark[len("op_"):]
            found.setdefault(task_id, []).append(item["nodeid"])
    return found
