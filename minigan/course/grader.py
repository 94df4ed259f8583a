"""grade: score each task of a submission on its own, within a time limit, whatever the code does.

1. The grader copies the trusted source (the reference checkout, or locally the handout) into a
   read-only *base* tree in a temporary folder, and lists its tests with one ``--collect-only``
   run on that tree, where no student code is: each task's tests are the ones marked
   ``op_<task>``, less the ``cuda`` variants and the PyTorch comparisons (skipped on some
   machines only), each in the part its code says (:mod:`~minigan.course.inspection`).
2. For each task it builds a tree of its own: the base with that task's regions, and only
   those, taken from the submission (:mod:`~minigan.course.trees`), so that a task's score says
   what the student got wrong in that task; and it runs the task's tests there in child
   processes (:mod:`~minigan.course.runner`), reading the results only from their
   authenticated channel.
3. Limits: ``timeout`` per test, ``task_timeout`` per task, and ``total_timeout`` for the run,
   shared so that every task gets its turn: a task may use its share of what is left
   (``total_timeout`` less what the tasks before it used, divided among the tasks still to
   grade). results.json is written when grading starts (every task pending), after every task,
   and when the grader is stopped (SIGTERM, Ctrl-C): the child processes end with it.
"""
from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import inspection, runner, scoring, tasks as catalogue, trees
from .scoring import GradedTest, GradeReport, TaskResult, write_json


class GradingStopped(BaseException):
    """The grader was asked to stop (SIGTERM)."""


def tasks_to_grade(directory, ops=None, source: trees.Source = None) -> list:
    """``ops`` if given, else the tasks listed in the copy's course.json, else every task."""
    if ops:
        return catalogue.parse_ops(ops)
    if source is not None and source.handout and source.assigned:
        return catalogue.parse_ops(source.assigned)
    listed = Path(directory) / "course.json"
    if listed.is_file():
        chosen = json.loads(listed.read_text(encoding="utf-8")).get("tasks") or []
        if chosen:
            return catalogue.parse_ops(chosen)
    return [t.id for t in catalogue.TASKS]


def kit_root() -> Path:
    """The checkout (or handout) the kit runs from."""
    return Path(__file__).resolve().parents[2]


def grade(submission=None, ops=None, reference=None, timeout: float = 20.0, task_timeout: float = 180.0,
          total_timeout: float = 600.0, keyword: str = None, max_examples: int = 25, max_timeouts: int = 2,
          max_crashes: int = 2, grace: float = 5.0, points: float = 1.0, json_path=None, progress=None,
          run_as: str = "", use_screen: bool = True, hide_torch: bool = True, visibility: str = "",
          hidden_visibility: str = "after_published", jobs: int = 1, python: str = sys.executable) -> GradeReport:
    """Grade the tasks ``ops`` of ``submission`` (a folder holding the student's files) against
    ``reference`` (default: the checkout this kit runs from; a handout grades itself).

    ``timeout``: seconds per test; ``task_timeout``: per task; ``total_timeout``: for the whole
    run; ``grace``: seconds past ``timeout`` before a test that does not stop is killed;
    ``keyword``: a pytest ``-k`` expression narrowing the tests; ``max_examples``:
    Hypothesis examples per property test (0: the project's profile); ``json_path``: where to
    write Gradescope's results.json; ``run_as``: a user to run the tests as (when root);
    ``use_screen``: refuse code that reaches for the test machinery (:mod:`~minigan.course.screen`);
    ``jobs``: tasks graded at once (1, the default, keeps each test's time its own).
    """
    started = time.monotonic()
    source = trees.Source.at(reference or kit_root())
    submission = Path(submission).resolve() if submission else source.root
    ids = tasks_to_grade(submission, ops, source)
    report = GradeReport(submission, [TaskResult(t, points, error="not graded yet") for t in ids])
    if source.handout:
        report.note = ("Graded here as the autograder will, with two differences: the hidden tests are not in "
                       "your copy, and your code for the other tasks stands in for the reference's.")
        edited = trees.edited_tests(source)
        if edited:
            report.note += (f"\nYour copy's {', '.join(edited)} differ from the ones you were given: the autograder "
                            "runs the originals.")
    limits = runner.Limits(timeout=timeout, grace=grace, max_timeouts=max_timeouts, max_crashes=max_crashes,
                           max_examples=max_examples, hide_torch=hide_torch, run_as=run_as)

    def save():
        report.seconds = time.monotonic() - started
        if json_path:
            write_json(report.gradescope(visibility, hidden_visibility), json_path)

    save()
    stopping, saving = threading.Event(), threading.Lock()  # stopping: tells the task runs to end their tests
    scratch = Path(tempfile.mkdtemp(prefix="minigan-course-"))
    if run_as:
        scratch.chmod(0o711)  # the tests' user may cross it to the trees (which stay read-only to it)
    previous = _on_sigterm()
    try:
        deadline = started + total_timeout
        base, fingerprint = _prepare(report, source, ids, limits, scratch, python, keyword, deadline, points, progress)

        def grade_one(number):
            result = report.results[number]
            waiting = sum(not r.graded for r in report.results)
            share = (deadline - time.monotonic()) / max(1.0, waiting / jobs)  # this task's turn of what is left
            if progress:
                progress(f"grading {result.task} ...")
            _grade_task(result, source, submission, base, fingerprint, scratch, limits, python, use_screen,
                        time.monotonic() + max(0.0, min(task_timeout, share)), stopping)
            with saving:
                save()

        if jobs <= 1:
            for number in range(len(ids)):
                grade_one(number)
        else:
            _in_parallel(grade_one, range(len(ids)), jobs, stopping)
    except (GradingStopped, KeyboardInterrupt) as stop:
        stopping.set()
        why = "SIGTERM" if isinstance(stop, GradingStopped) else "Ctrl-C"
        _mark_unfinished(report, f"not graded: the grader was stopped ({why})")
        report.note = (report.note + "\n" if report.note else "") + f"The grader was stopped ({why})."
        raise
    except Exception as error:  # the grader itself failed: say so in results.json, not only on stderr
        _mark_unfinished(report, f"not graded: the grader failed: {error!r}")
        raise
    finally:
        save()
        _restore_sigterm(previous)
        if (scratch / "base").exists():
            trees.make_writable(scratch / "base")
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def _prepare(report, source, ids, limits, scratch: Path, python, keyword, deadline, points, progress) -> tuple:
    """The plugin and the read-only base tree in ``scratch``, and each task's tests in
    ``report``. Returns (the base tree, its digest)."""
    plugin_dir = scratch / "plugin"
    plugin_dir.mkdir()
    shutil.copyfile(Path(__file__).with_name("pytest_plugin.py"), plugin_dir / f"{runner.PLUGIN}.py")
    base = scratch / "base"
    fingerprint = trees.build_base(source, base, ids)
    if progress:
        progress("listing the tests ...")
    plan = plan_tests(base, ids, source, limits, scratch, python, keyword, deadline)
    for number, task_id in enumerate(ids):
        report.results[number] = TaskResult(task_id, points, error="not graded yet",
                                            tests=[GradedTest(**vars(t)) for t in plan.get(task_id, [])])
    return base, fingerprint


def _mark_unfinished(report, why: str) -> None:
    for result in report.results:
        if not result.graded:
            result.error = why
            for t in result.tests:
                t.outcome, t.message = "not run", why


def plan_tests(base: Path, ids, source, limits, scratch: Path, python: str, keyword, deadline) -> dict:
    """``{task: [GradedTest]}``: the tests that grade each task, read from the trusted base tree."""
    files = source.test_files(ids)
    args = [f for f in files if f.rsplit("/", 1)[-1].startswith("test_")]
    work = scratch / "collect"
    work.mkdir()
    collected = runner.run_tests(base, args, limits, min(deadline, time.monotonic() + 300), work, python,
                                 collect=True, plugin_dir=scratch / "plugin",
                                 options=["-k", keyword] if keyword else ())
    if collected.error or not collected.collected:
        raise RuntimeError(f"listing the reference's tests failed: {collected.error}")
    helpers = base / "tests" / "helpers.py"
    code = {f: inspection.read_tests(base / f, helpers) for f in files if (base / f).suffix == ".py"}
    plan = {t: [] for t in ids}
    for item in collected.collected:
        info = code.get(item["file"], {}).get(item["function"], inspection.TestCode())
        if item["cuda"] or item["skip"] or info.needs_torch:
            continue  # graded the same on every machine: no GPU, no PyTorch
        for mark in item["marks"]:
            task_id = mark[len("op_"):]
            if task_id in plan:
                task = catalogue.get(task_id)
                part = task.part_of(item["function"], info.calls_backward, info.second_order)
                plan[task_id].append(GradedTest(item["nodeid"], part, trees.is_hidden(item["nodeid"])))
    return plan


def _in_parallel(function, items, jobs: int, stopping) -> None:
    """``function(item)`` for each item, ``jobs`` at a time, in threads (each waits on its own
    child process). The main thread stays free for SIGTERM; when it is stopped, ``stopping``
    ends the runs and the threads are waited for."""
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(jobs)
    futures = [pool.submit(function, item) for item in items]
    try:
        for future in futures:
            while not future.done():
                time.sleep(0.1)
            future.result()
    finally:
        if not all(f.done() for f in futures):  # stopped, or a task failed: end the other tasks' tests
            stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _grade_task(result: TaskResult, source, submission, base, fingerprint, scratch, limits, python, use_screen,
                deadline, stopping=None) -> None:
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{result.task}-", dir=scratch))
    tree = work / "tree"
    try:
        if not result.tests:
            result.error, result.graded = f"no test carries the mark op_{result.task} (with this -k filter)", True
            return
        if trees.digest(base) != fingerprint:
            raise RuntimeError("the reference tree changed during grading: a task's code wrote into it")
        try:
            if source.handout:
                shutil.copytree(base, tree, copy_function=shutil.copyfile)
                trees.check_handout_code(tree, result.task, use_screen)
            else:
                code = trees.student_code(source, submission, result.task)
                trees.build_task_tree(source, base, tree, result.task, code, use_screen)
        except trees.SubmissionError as error:
            result.error, result.refused, result.graded = str(error), True, True
            for t in result.tests:
                t.outcome, t.message = "not run", str(error).splitlines()[0]
            return
        run = runner.run_tests(tree, [t.nodeid for t in result.tests], limits, deadline, work, python,
                               plugin_dir=scratch / "plugin", stopping=stopping)
        if stopping is not None and stopping.is_set():
            return  # the grader was stopped: this task stays "not graded"
        for t in result.tests:
            outcome = run.results.get(t.nodeid)
            if outcome is not None:
                t.outcome, t.message, t.duration, t.details = (outcome.outcome, outcome.message, outcome.duration,
                                                               outcome.details)
            if t.outcome == "skipped":
                t.message = f"skipped at run time (counts as not passed): {t.message}"
        result.error, result.refused = run.error, run.refused
        if run.refused:
            for t in result.tests:
                t.outcome, t.message = "refused", run.error
        result.graded = True
    finally:
        result.seconds = time.monotonic() - start
        if tree.exists():
            trees.make_writable(tree)
        shutil.rmtree(work, ignore_errors=True)


def _on_sigterm():
    """SIGTERM raises :class:`GradingStopped` in the grader (main thread only), so that it ends its
    child processes and writes results.json before it exits."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise GradingStopped("SIGTERM")
    return signal.signal(signal.SIGTERM, stop)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


# -- which tests grade which task (for `list` and the kit's own tests) ----------------------------
def collect(directory=None, python: str = sys.executable, include_cuda: bool = False) -> dict:
    """``{task id: [node ids]}`` for the tests of every task in ``directory`` (default: this
    checkout), read from the marks on the tests by one ``pytest --collect-only`` run. The
    ``cuda`` variants (skipped without a GPU) are left out unless ``include_cuda``."""
    source = trees.Source.at(directory or kit_root())
    ids = [t.id for t in catalogue.TASKS]
    found = {t: [] for t in ids}
    scratch = Path(tempfile.mkdtemp(prefix="minigan-course-"))
    try:
        plugin_dir = scratch / "plugin"
        plugin_dir.mkdir()
        shutil.copyfile(Path(__file__).with_name("pytest_plugin.py"), plugin_dir / f"{runner.PLUGIN}.py")
        files = [f for f in source.test_files(ids) if f.rsplit("/", 1)[-1].startswith("test_")]
        work = scratch / "collect"
        work.mkdir()
        run = runner.run_tests(source.root, files, runner.Limits(hide_torch=False), time.monotonic() + 600, work,
                               python, collect=True, plugin_dir=plugin_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not run.collected:
        raise RuntimeError(f"collecting the tests failed: {run.error}")
    for item in run.collected:
        if item.get("cuda") and not include_cuda:
            continue
        for mark in item["marks"]:
            found.setdefault(mark[len("op_"):], []).append(item["nodeid"])
    return found


def planned(directory=None, ops=None, python: str = sys.executable) -> dict:
    """``{task: [GradedTest]}``: what grading would run for each task (no student code runs)."""
    source = trees.Source.at(directory or kit_root())
    ids = catalogue.parse_ops(ops) if ops else [t.id for t in catalogue.TASKS]
    scratch = Path(tempfile.mkdtemp(prefix="minigan-course-"))
    try:
        plugin_dir = scratch / "plugin"
        plugin_dir.mkdir()
        shutil.copyfile(Path(__file__).with_name("pytest_plugin.py"), plugin_dir / f"{runner.PLUGIN}.py")
        base = scratch / "base"
        trees.build_base(source, base, ids)
        return plan_tests(base, ids, source, runner.Limits(), scratch, python, None, time.monotonic() + 600)
    finally:
        if (scratch / "base").exists():
            trees.make_writable(scratch / "base")
        shutil.rmtree(scratch, ignore_errors=True)


__all__ = ["GradeReport", "GradingStopped", "collect", "grade", "planned", "scoring", "tasks_to_grade"]
