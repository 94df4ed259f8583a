"""Grading with the course kit: each task scored on its own (the student's code for that task,
the reference for the rest), in parts, within time limits, whatever the student's code does,
from results it cannot forge; Gradescope's autograder; the student's own grading. Grading runs
child pytest processes, so each test here grades a few tests of a few tasks, with two
Hypothesis examples each (the planted bugs are in tests/test_course_planted.py)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from minigan.course import grade, make_assignment
from minigan.course.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
FAST = {"max_examples": 2, "timeout": 60.0, "task_timeout": 120.0}  # a quick, still deterministic, grading
GRADCHECKS = "gradcheck and not gradgrad and not penalty"  # a -k filter: each task's first-order gradient checks
RELU_FORWARD = "return backend.array_module(x).maximum(x, 0)"


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """relu, sigmoid and backprop taken out, and the reference's code put back between the
    YOUR CODE lines: a submission that must score full marks."""
    return make_assignment(tmp_path_factory.mktemp("course") / "solved", ["relu", "sigmoid", "backprop"],
                           solution=True).out


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory):
    return make_assignment(tmp_path_factory.mktemp("course") / "skeleton", ["relu", "conv2d"])


def _line_of(copy, path, text) -> int:
    """The line number of ``text`` in the copy's file (the student's line numbers)."""
    lines = (copy / path).read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


def _edited(copy, tmp_path, path, old, new, name="student"):
    """A copy of ``copy`` with one edit in the student's code."""
    edited = Path(shutil.copytree(copy, tmp_path / name))
    target = edited / path
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    target.write_text(text.replace(old, new))
    return edited


# -- grading -----------------------------------------------------------------------------------------------
def test_the_reference_solution_scores_full_marks(solved):
    report = grade(solved, ops=["relu", "backprop"], keyword=GRADCHECKS + " or accumulates or after_every", jobs=2,
                   **FAST)
    for result in report.results:
        assert result.tests and result.full_marks, result.output()
    assert report.score == report.max_score == 2


def test_a_skeleton_scores_zero_and_gradescope_gets_its_results(skeleton, tmp_path, capsys):
    results = tmp_path / "results.json"
    assert main(["grade", str(skeleton.out), "--ops", "relu,conv2d,tanh", "--json", str(results), "--jobs", "2",
                 "-k", GRADCHECKS, "--max-examples", "2"]) == 0
    table = capsys.readouterr().out
    gradescope = json.loads(results.read_text())
    scores = {t["name"].split(":")[0]: t for t in gradescope["tests"]}
    assert scores["relu"]["score"] == scores["conv2d"]["score"] == scores["tanh"]["score"] == 0
    assert scores["relu"]["max_score"] == 1 and scores["relu"]["status"] == "failed"
    assert gradescope["score"] == 0 and gradescope["execution_time"] > 0 and "total" in gradescope["output"]
    for entry in gradescope["tests"]:
        assert set(entry) == {"name", "number", "score", "max_score", "status", "output"}
    assert "Task relu: implement ReLU forward" in scores["relu"]["output"]
    assert "no '### BEGIN YOUR CODE tanh' line: was tanh assigned?" in scores["tanh"]["output"]
    assert re.search(r"^total\s+\d+s\s+0\.00 / 3$", table, re.M)


def test_a_wrong_backward_loses_the_backward_points_only(solved, tmp_path):
    # relu's backward passes the gradient through unmasked: right for x > 0, wrong below
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py",
                   "return gy * Tensor(self.saved_output().array > 0)", "return gy")
    report = grade(copy, ops=["relu"], **FAST)
    relu = report.by_task()["relu"]
    assert relu.fractions() == {"forward": 1.0, "backward": 0.0, "second_order": 1.0}
    assert relu.score == pytest.approx(0.5)  # the second derivatives of a wrong gradient earn nothing
    assert "GradcheckError" in relu.output() and "counted in proportion to backward (0%)" in relu.output()


def test_each_task_is_graded_with_the_reference_for_the_others(solved, tmp_path):
    """Gradients overwritten instead of summed break backprop, which every other task's tests
    use: they still get full marks, since their trees hold the reference's backprop."""
    copy = _edited(solved, tmp_path, "minigan/autograd.py", "grads[key] = gx if key not in grads else grads[key] + gx",
                   "grads[key] = gx")
    report = grade(copy, ops=["relu", "sigmoid", "backprop"], keyword=GRADCHECKS + " or leaf_used_twice", jobs=2,
                   **FAST)
    scores = {r.task: r.score for r in report.results}
    assert scores["relu"] == scores["sigmoid"] == 1.0 and scores["backprop"] == 0.0


def test_an_endless_loop_is_stopped_by_the_time_limit_and_scores_zero(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, "while True:\n            pass")
    results = tmp_path / "results.json"
    report = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", json_path=results, max_timeouts=1,
                   **{**FAST, "timeout": 1.0})
    relu = report.by_task()["relu"]
    assert [t.outcome for t in relu.tests] == ["timeout", "not run"]  # one time-out stops the task here
    assert relu.score == 0 and relu.seconds < 60 and "stopped after 1 time-out(s)" in relu.error
    entry = json.loads(results.read_text())["tests"][0]
    assert entry["score"] == 0 and "1 s time limit" in entry["output"]


def test_a_loop_that_swallows_the_time_out_is_killed_named_and_the_other_tests_still_run(solved, tmp_path):
    swallow = ("while True:\n            try:\n                while True:\n                    pass\n"
               "            except BaseException:\n                pass")
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py",
                   "return gy * Tensor(self.saved_output().array > 0)", swallow)
    report = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero or relu_and_leaky_relu_values",
                   max_timeouts=3, grace=1.0, **{**FAST, "timeout": 1.0})
    relu = report.by_task()["relu"]
    outcomes = {t.nodeid.split("::")[1]: t.outcome for t in relu.tests}
    assert outcomes["test_relu_derivative_at_zero_is_zero_like_pytorch[cpu]"] == "timeout"
    assert outcomes["test_relu_and_leaky_relu_values[cpu]"] == "passed"  # run in a fresh process
    assert "did not stop (the code caught the time-out)" in relu.output() and relu.seconds < 60


def test_a_crash_costs_the_test_it_happened_in(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py",
                   "return gy * Tensor(self.saved_output().array > 0)", "import os\n        os._exit(3)")
    report = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero or relu_and_leaky_relu_values",
                   use_screen=False, **FAST)
    relu = report.by_task()["relu"]
    outcomes = {t.nodeid.split("::")[1]: t.outcome for t in relu.tests}
    assert outcomes["test_relu_derivative_at_zero_is_zero_like_pytorch[cpu]"] == "crashed"
    assert outcomes["test_relu_and_leaky_relu_values[sim]"] == "passed"
    assert "exit code 3" in relu.output()


def test_code_that_does_not_compile_or_lost_its_marker_lines_costs_that_task_only(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, "return (")
    target = copy / "minigan/functional/activation.py"
    sigmoid_end = "        return gy * y * (1.0 - y)\n        ### END YOUR CODE\n"
    assert target.read_text().count(sigmoid_end) == 1
    target.write_text(target.read_text().replace(sigmoid_end, "        return gy * y * (1.0 - y)\n"))
    results = tmp_path / "results.json"
    report = grade(copy, ops=["relu", "sigmoid", "backprop"], keyword=GRADCHECKS + " or leaf_used_twice",
                   json_path=results, jobs=2, **FAST)
    relu, sigmoid = report.by_task()["relu"], report.by_task()["sigmoid"]
    line = _line_of(solved, "minigan/functional/activation.py", RELU_FORWARD)
    assert relu.score == 0
    assert f"does not compile: '(' was never closed (line {line} of your minigan/functional/activation.py: " \
           "return ()" in relu.error
    assert sigmoid.score == 0 and "END YOUR CODE' line is missing" in sigmoid.error
    assert report.by_task()["backprop"].full_marks
    assert "does not compile" in json.loads(results.read_text())["tests"][0]["output"]


# -- what a submission cannot do ------------------------------------------------------------------------
FORGED_INIT = '''
import json, os, sys
for arg in sys.argv:  # the report file of the old grader
    if arg.endswith(".jsonl"):
        with open(arg, "a") as report:
            report.write(json.dumps({"event": "test", "nodeid": "x", "outcome": "passed"}) + "\\n")
import _pytest.runner
_make = _pytest.runner.TestReport.from_item_and_call
def _passed(item, call):
    report = _make(item, call)
    report.outcome = "passed"
    return report
_pytest.runner.TestReport.from_item_and_call = staticmethod(_passed)
os.environ["PYTEST_ADDOPTS"] = "-p no:minigan_course_plugin"
'''


def test_a_submission_cannot_forge_its_report_from_outside_its_regions(skeleton, tmp_path):
    """The issue's forged report and its relatives: a hook in the student's minigan/__init__.py,
    a conftest.py, edited tests, a results.json, a file named like the grader's plugin, a
    sitecustomize.py, setup.cfg options. None of it is read: the blank copy still scores 0."""
    copy = Path(shutil.copytree(skeleton.out, tmp_path / "forger"))
    init = copy / "minigan/__init__.py"
    init.write_text(init.read_text() + FORGED_INIT)
    (copy / "tests/conftest.py").write_text("def pytest_collection_modifyitems(items):\n    items.clear()\n")
    (copy / "conftest.py").write_text("import os\nos._exit(0)\n")
    test_file = copy / "tests/test_activation.py"
    test_file.write_text(re.sub(r"def (test_\w+)\(([^)]*)\):", r"def \1(\2):\n    return", test_file.read_text()))
    (copy / "results.json").write_text(json.dumps({"score": 2, "tests": []}))
    (copy / "minigan_course_plugin.py").write_text("raise SystemExit(0)\n")
    (copy / "sitecustomize.py").write_text("import os\nos._exit(0)\n")
    (copy / "setup.cfg").write_text("[tool:pytest]\naddopts = -p no:minigan_course_plugin\n")
    before = {p.relative_to(copy).as_posix(): p.stat().st_mtime_ns for p in copy.rglob("*")}
    report = grade(copy, ops=["relu", "conv2d"], keyword=GRADCHECKS, jobs=2, **FAST)
    assert report.score == 0 and all(r.tests for r in report.results)
    assert {p.relative_to(copy).as_posix(): p.stat().st_mtime_ns for p in copy.rglob("*")} == before  # untouched


SWAPS_THE_REPORT = ("import _pytest.runner\n        _pytest.runner.TestReport.passed = property(lambda self: True)\n"
                    "        raise NotImplementedError")


def test_code_that_reaches_for_the_test_machinery_is_refused_before_it_runs(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, SWAPS_THE_REPORT)
    relu = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", **FAST).by_task()["relu"]
    assert relu.score == 0 and relu.error.startswith("refused: the code uses what a solution never needs")
    line = _line_of(solved, "minigan/functional/activation.py", RELU_FORWARD)
    assert f"line {line} of your minigan/functional/activation.py: imports _pytest" in relu.error


@pytest.mark.parametrize("code, defence", [
    (SWAPS_THE_REPORT, "test machinery"),
    ("import numpy\n        numpy.testing.assert_allclose = lambda *a, **k: None\n"
     "        numpy.testing.assert_array_equal = lambda *a, **k: None\n        return x", "test machinery"),
    ("import gc\n        for o in gc.get_objects():\n            if type(o).__name__ == 'PytestPluginManager':\n"
     "                o.register(type('Forge', (), {'pytest_runtest_logreport': lambda self, report: None})())\n"
     "        raise NotImplementedError", "test machinery"),
    ("import os\n        for fd in range(3, 64):\n            try:\n"
     "                os.write(fd, b'{\"event\": \"test\"}\\tf\\n')\n"
     "            except OSError:\n                pass\n        os._exit(0)", "could not be trusted"),
], ids=["report-class", "numpy-testing", "pytest-plugin", "forged-records"])
def test_code_run_past_the_screen_still_cannot_change_the_score(solved, tmp_path, code, defence):
    """Run anyway (--no-screen): the watch on the test machinery, or the signed channel,
    refuses the results."""
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, code)
    relu = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", use_screen=False, **FAST).by_task()["relu"]
    assert relu.score == 0 and defence in relu.error, relu.output()


# -- limits, signals, results as they happen ------------------------------------------------------------
def test_the_run_has_a_total_time_limit_shared_among_the_tasks(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, "while True:\n            pass")
    results = tmp_path / "results.json"
    start = time.monotonic()
    report = grade(copy, ops=["relu", "sigmoid"], keyword="relu_derivative_at_zero or smooth_activation_values",
                   json_path=results, total_timeout=20.0, **{**FAST, "timeout": 60.0})
    assert time.monotonic() - start < 40
    relu, sigmoid = report.by_task()["relu"], report.by_task()["sigmoid"]
    assert relu.score == 0 and "time limit" in relu.error  # relu may use its share only (half the run)
    assert sigmoid.full_marks  # so sigmoid still gets its turn
    assert json.loads(results.read_text())["score"] == 1


def _grader_processes(marker: str) -> list:
    """Process ids whose command line mentions ``marker`` (this test's own folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for left-over processes in /proc (Linux)")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_the_grader_writes_the_results_and_ends_the_tests(solved, tmp_path, stop):
    """SIGTERM and Ctrl-C: the grader ends its test processes and writes the results; SIGKILL:
    the test process dies with it (Linux), and the results written after each task remain."""
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, "while True:\n            pass")
    results, scratch = tmp_path / "results.json", tmp_path / "tmp"
    scratch.mkdir()
    grader = subprocess.Popen([sys.executable, "-m", "minigan.course", "grade", str(copy), "--ops", "sigmoid,relu",
                               "-k", "smooth_activation_values or relu_derivative", "--max-examples", "2",
                               "--json", str(results)], cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until relu's endless test runs
        if results.is_file() and json.loads(results.read_text())["tests"][0]["status"] == "passed":
            break
        time.sleep(0.2)
    time.sleep(3)
    assert _grader_processes(str(scratch)), "relu's tests should be running"
    grader.send_signal(stop)
    output, _ = grader.communicate(timeout=60)
    assert grader.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -9}[stop], output
    written = json.loads(results.read_text())
    assert written["tests"][0]["score"] == 1  # sigmoid, graded before the stop
    relu = written["tests"][1]["output"]
    assert ("not graded yet" if stop == signal.SIGKILL else "the grader was stopped") in relu
    time.sleep(1)
    assert _grader_processes(str(scratch)) == []  # no pytest left behind


# -- Gradescope ------------------------------------------------------------------------------------------
def test_make_assignment_writes_gradescopes_autograder(tmp_path, capsys):
    zip_path = tmp_path / "autograder.zip"
    assert main(["make-assignment", "--ops", "relu,backprop", "--out", str(tmp_path / "hw"), "--autograder",
                 str(zip_path), "--visibility", "after_due_date", "--points", "2"]) == 0
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        run = archive.read("run_autograder").decode()
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "course.json", "minigan/course/grader.py", "minigan/autograd.py",
            "tests/test_activation.py", "tests/test_autograd.py", "tests/test_course_hidden.py", "tests/helpers.py",
            "tests/conftest.py", "setup.cfg", "pyproject.toml", "README.md"} <= names
    assert not any(n.startswith(("tests/test_course.py", "tests/course_planted", "examples/")) for n in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert "copy-submission /autograder/submission /autograder/student --ops relu,backprop" in run
    assert "--visibility after_due_date" in run and "--points 2" in run and "--run-as student" in run
    assert "BEGIN SOLUTION relu" in zipfile.ZipFile(zip_path).read("minigan/functional/activation.py").decode()


def test_the_autograder_grades_a_flat_upload_with_hidden_tests_beside_visible_ones(solved, tmp_path):
    """run_autograder's two commands, with the autograder's folders under tmp_path: only the
    assignment's files are taken (here uploaded flat, without their folders)."""
    source, submission, student = tmp_path / "source", tmp_path / "submission", tmp_path / "student"
    zip_path = tmp_path / "autograder.zip"
    assert main(["make-assignment", "--ops", "relu,sigmoid,backprop", "--out", str(tmp_path / "hw"),
                 "--autograder", str(zip_path)]) == 0
    zipfile.ZipFile(zip_path).extractall(source)
    submission.mkdir()
    for relative in ("minigan/functional/activation.py", "minigan/autograd.py"):
        shutil.copyfile(solved / relative, submission / Path(relative).name)
    (submission / "results.json").write_text("{}")
    python = [sys.executable, "-m", "minigan.course"]
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(python + ["copy-submission", str(submission), str(student), "--ops", "relu,sigmoid,backprop"],
                          cwd=source, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "took minigan/autograd.py" in done.stdout, done.stderr
    assert sorted(p.relative_to(student).as_posix() for p in student.rglob("*.py")) == [
        "minigan/autograd.py", "minigan/functional/activation.py"]
    results = tmp_path / "results" / "results.json"
    done = subprocess.run(python + ["grade", str(student), "--ops", "relu,sigmoid,backprop", "--json", str(results),
                                    "--max-examples", "2", "-k", "values or hidden or accumulates or gradcheck"],
                          cwd=source, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    written = json.loads(results.read_text())
    names = [t["name"] for t in written["tests"]]
    assert "relu: max(x, 0) (hidden tests)" in names and "relu: max(x, 0)" in names
    hidden = next(t for t in written["tests"] if t["name"].endswith("(hidden tests)"))
    assert hidden["visibility"] == "after_published" and hidden["score"] == hidden["max_score"] > 0
    assert written["score"] == pytest.approx(3) and {"execution_time", "output"} <= set(written)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="running tests as another user needs root")
def test_the_tests_can_run_as_an_unprivileged_user(solved):
    probe = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", f"{sys.executable} -c 'import numpy, pytest'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this Python ({probe.stderr.strip()[:80]}): the autograder's venv "
                    "is readable by its student user")
    report = grade(solved, ops=["relu"], keyword="relu_and_leaky_relu_values", run_as="nobody", **FAST)
    assert report.by_task()["relu"].full_marks, report.table()


# -- the student's side -------------------------------------------------------------------------------------
def test_a_student_grades_the_copy_as_the_autograder_will(solved, tmp_path):
    copy = Path(shutil.copytree(solved, tmp_path / "mine"))
    (copy / "tests/test_activation.py").write_text((copy / "tests/test_activation.py").read_text() + "\n# edited\n")
    before = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*"))
    done = subprocess.run([sys.executable, "-m", "minigan.course", "grade", "--ops", "relu", "-k",
                           "relu_and_leaky_relu_values", "--max-examples", "2"], cwd=copy, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Graded here as the autograder will" in done.stdout and "tests/test_activation.py differ" in done.stdout
    assert re.search(r"^relu\s+2\s+2\s+0\s+.*1\.00 / 1$", done.stdout, re.M)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == before


def test_failures_show_where_in_the_package_but_none_of_its_source(solved, tmp_path):
    """Outside the task's regions the package is the reference, and its code may solve another
    task of the assignment: a failure's traceback names the package's files and lines but
    quotes none of their source."""
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py",
                   "return gy * Tensor(self.saved_output().array > 0)", "return 'not a gradient'")
    relu = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", **FAST).by_task()["relu"]
    details = "\n".join(t.details for t in relu.tests)
    assert relu.score == 0 and "minigan/autograd.py:" in details
    source = (ROOT / "minigan/autograd.py").read_text().splitlines()
    quoted = [line for line in details.splitlines() if line.strip() and line.strip() in
              {s.strip() for s in source if len(s.strip()) > 12}]
    assert quoted == []
