"""The course kit (minigan.course): solution markers, student copies without a trace of the
solution, and grading that scores each task on its own (the student's code for that task, the
reference for the rest), never gives free points, survives wrong, endless and crashing student
code, and cannot be talked into a score. Grading runs child pytest processes, so each test
here grades a few tests of a few tasks, with two Hypothesis examples each; the planted bugs are
in tests/test_course_planted.py."""
import ast
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

from minigan.course import TASKS, LeakError, MarkerError, check_copy, grade, make_assignment, planned, scan
from minigan.course import find_regions, markers, screen, strip_regions
from minigan.course.__main__ import main
from minigan.course.grader import collect

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


def _edited(copy, tmp_path, path, old, new, name="student"):
    """A copy of ``copy`` with one edit in the student's code."""
    edited = Path(shutil.copytree(copy, tmp_path / name))
    target = edited / path
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    target.write_text(text.replace(old, new))
    return edited


# -- the catalogue, the markers and the marks -------------------------------------------------------
def test_every_task_has_solution_regions_and_a_registered_mark():
    regions = scan()
    assert {r.task for rs in regions.values() for r in rs} == {t.id for t in TASKS}
    registered = (ROOT / "setup.cfg").read_text()
    for task in TASKS:
        assert re.search(rf"^\s+{task.marker}:", registered, re.M), f"{task.marker} is not in setup.cfg"
        assert all((ROOT / f).is_file() for f in task.tests), task.id
        assert abs(sum(p.weight for p in task.parts) - 1) < 1e-12, task.id
    parts = {r.part for rs in regions.values() for r in rs}
    assert {"ReLU forward", "ReLU backward", "Conv2d backward", "im2col", "SGD._update", "_topological_order",
            "_run_backward", "gradient_penalty"} <= parts


def test_marks_select_each_tasks_tests_from_its_listed_files():
    found = collect()
    for task in TASKS:
        assert found[task.id], f"no test carries {task.marker}"
        files = {n.split("::")[0] for n in found[task.id]}
        assert {f for f in files if not f.endswith("_hidden.py")} <= set(task.tests), task.id
    assert "tests/test_conv.py::test_conv2d_gradcheck[cpu]" in found["conv2d"]
    assert "tests/test_activation.py::test_smooth_activation_gradcheck[cpu-tanh]" in found["tanh"]
    assert not any("[cpu-sigmoid]" in n for n in found["tanh"])  # per-parameter marks, not per-function


def test_every_task_is_graded_in_each_of_its_parts_by_the_same_tests_with_or_without_pytorch():
    """Forward tests never call backward; each part of each task has tests; the PyTorch
    comparisons and the cuda variants never grade (they would skip on some machines only)."""
    plan = planned()
    for task in TASKS:
        tests = plan[task.id]
        present, declared = {t.part for t in tests}, {p.name for p in task.parts}
        assert present <= declared and declared - present <= {"second_order"}, (task.id, present)
        assert not any("[cuda" in t.nodeid or "-cuda" in t.nodeid for t in tests), task.id
    nodes = {t.nodeid for ts in plan.values() for t in ts}
    assert not any("pytorch_for_five_steps" in n or "match_pytorch" in n or "match_pytorch_over_steps" in n
                   for n in nodes)
    parts = {t.nodeid: t.part for t in plan["sigmoid"]}
    assert parts["tests/test_activation.py::test_smooth_activation_values[cpu-sigmoid]"] == "forward"
    assert parts["tests/test_activation.py::test_smooth_activation_gradcheck[cpu-sigmoid]"] == "backward"
    assert parts["tests/test_activation.py::test_smooth_activation_gradgradcheck[cpu-sigmoid]"] == "second_order"
    adam = {t.nodeid: t.part for t in plan["adam"]}
    assert adam["tests/test_optim.py::test_adam_state_holds_the_moments[0.1]"] == "state"
    assert adam["tests/test_optim.py::test_adam_by_hand"] == "update"
    for task in ("relu", "sigmoid", "matmul", "conv2d", "batch_norm", "binary_cross_entropy", "non_saturating_loss"):
        assert {"forward", "backward"} <= {t.part for t in plan[task]}, task


def test_markers_are_comments_the_code_runs_unchanged():
    text = (ROOT / "minigan/functional/activation.py").read_text()
    stripped, removed = strip_regions(text, find_regions("activation.py", text), chosen=set())
    assert removed == [] and "SOLUTION" not in stripped
    assert [line for line in text.splitlines() if "### " not in line] == stripped.splitlines()


@pytest.mark.parametrize("source, line, message", [
    ("def f():\n    ### BEGIN SOLUTION relu\n    return 1\n", 2, "without an END SOLUTION"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", 3, "END SOLUTION without a BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION relu\n    ### BEGIN SOLUTION relu\n    return 1\n    ### END SOLUTION\n",
     3, "nested BEGIN SOLUTION"),
    ("def f():\n    ### BEGIN SOLUTION no_such_task\n    return 1\n    ### END SOLUTION\n", 2, "unknown task"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", 2, "needs one task id"),
    ("def f():\n    # BEGIN SOLUTION relu\n    return 1\n", 2, "malformed solution marker"),
    ("def f():\n    if x:\n        ### BEGIN SOLUTION relu\n        return 1\n    ### END SOLUTION\n", 5,
     "indented differently"),
    ("def f():\n    ### BEGIN SOLUTION relu\n    ### END SOLUTION\n", 3, "empty region"),
])
def test_malformed_markers_raise_naming_file_and_line(source, line, message):
    with pytest.raises(MarkerError, match=rf"^lib/ops\.py:{line}: .*{message}"):
        find_regions("lib/ops.py", source, known_tasks={t.id for t in TASKS})


def test_a_malformed_marker_in_the_source_stops_make_assignment(tmp_path):
    fake = tmp_path / "repo"
    for name in ("tests", "minigan"):
        (fake / name).mkdir(parents=True)
    (fake / "setup.cfg").write_text("")
    (fake / "minigan" / "ops.py").write_text("def f():\n    ### BEGIN SOLUTION relu\n    return 1\n")
    with pytest.raises(MarkerError, match=r"minigan/ops\.py:2: BEGIN SOLUTION without an END"):
        make_assignment(tmp_path / "out", ["relu"], root=fake)


def test_the_students_code_is_read_from_between_the_your_code_lines():
    text = ("class A:\n    def f(self):\n        ### BEGIN YOUR CODE relu\n        y = 1\n\n        return y\n"
            "        ### END YOUR CODE\n    def g(self):\n        ### BEGIN YOUR CODE relu\n        return 2\n"
            "        ### END YOUR CODE\n")
    found, errors = markers.student_regions(text)
    assert errors == {} and [c.index for c in found["relu"]] == [0, 1]
    assert found["relu"][0].reindented("    ") == ["    y = 1\n", "\n", "    return y\n"]
    broken = text.replace("        ### END YOUR CODE\n    def g", "    def g")
    assert "its '### END YOUR CODE' line is missing" in markers.student_regions(broken)[1]["relu"]
    changed = text.replace("### END YOUR CODE\n    def g", "### END YOUR CODE here\n    def g")
    assert "a changed marker line" in markers.student_regions(changed)[1]["relu"]
    with pytest.raises(ValueError, match="line 6 is indented less"):
        markers.student_regions(text.replace("        return y", "  return y"))[0]["relu"][0].reindented("")


# -- the screen ----------------------------------------------------------------------------------------
def test_the_screen_passes_every_reference_region():
    for path, regions in scan().items():
        tree = ast.parse((ROOT / path).read_text())
        for r in regions:
            assert screen.screen(tree, set(range(r.begin + 1, r.end))) == [], (path, r.task)


@pytest.mark.parametrize("code, reason", [
    ("import os", "imports os"), ("import numpy.testing as t", "imports testing"),
    ("from _pytest import runner", "imports _pytest"), ("np.testing.assert_allclose = None", "testing"),
    ("xp = backend.array_module(x)\n    xp.allclose = None", "assigns to xp.allclose"),
    ("m = np.random\n    m.seed = 1", "assigns to m.seed"), ("Tensor.numpy = None", "assigns to Tensor.numpy"),
    ("type(self).backward = None", "assigns to type(self).backward"), ("self.__class__.x = 1", "__class__"),
    ("getattr(np, name)", "computed name"), ("getattr(np, '__dict__')", "'__dict__'"), ("eval('1')", "uses eval"),
    ("__import__('os')", "uses __import__"), ("f = x.gi_frame.f_back", "gi_frame"), ("global _profile", "global"),
    ("np.lib.npyio.os.system('x')", ".os"), ("open('results.json', 'w')", "uses open"),
    ("setattr(np, 'x', 1)", "uses setattr"), ("state = vars(F)", "uses vars"),
])
def test_the_screen_refuses_what_a_solution_never_needs(code, reason):
    tree = ast.parse(f"def forward(self, x):\n    {code}\n")
    findings = screen.screen(tree, set(range(2, 4)))
    assert any(reason in f for f in findings), findings


# -- the student's copy ----------------------------------------------------------------------------------
def test_skeleton_replaces_the_chosen_regions_and_keeps_the_rest(skeleton):
    out = skeleton.out
    activation = (out / "minigan/functional/activation.py").read_text()
    assert ('        ### BEGIN YOUR CODE relu\n        raise NotImplementedError("Task relu: implement ReLU forward")\n'
            '        ### END YOUR CODE\n') in activation
    assert '        raise NotImplementedError("Task relu: implement ReLU backward")\n' in activation
    conv = (out / "minigan/functional/conv.py").read_text()
    assert 'raise NotImplementedError("Task conv2d: implement Conv2d backward")' in conv
    assert "return backend.array_module(x).tanh(x)" in activation  # an unchosen region keeps its code
    assert "def im2col(" in conv and "as_strided" in conv
    for path in out.rglob("*.py"):
        ast.parse(path.read_text(), str(path))  # still Python
    info = json.loads((out / "course.json").read_text())
    assert info["handout"] is True and info["tasks"] == ["relu", "conv2d"] and "tests/test_conv.py" in info["tests"]
    assignment = (out / "ASSIGNMENT.md").read_text()
    assert "op_relu" in assignment and "Tensor ops" in assignment and "_missing_rows" in assignment
    assert "python -m minigan.course grade" in assignment
    assert (out / "minigan/course/grader.py").is_file()  # the kit, so that the student can grade the copy
    for kept_out in ("tests/test_course.py", "tests/test_course_planted.py", "tests/course_planted.py",
                     "tests/test_course_hidden.py", "tests/test_docs.py", "docs"):
        assert not (out / kept_out).exists(), kept_out
    assert not (out / ".git").exists() and not list(out.rglob("__pycache__"))


def test_skeleton_holds_no_marker_text_and_no_solution_line(skeleton):
    """Checked here independently of make-assignment's own check: every line of a removed
    region that the reference holds nowhere else is absent from every file of the copy."""
    regions = scan()
    inside, elsewhere = set(), set()
    for path in ROOT.joinpath("minigan").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("minigan/course/"):
            continue
        rows = {n for r in regions.get(relative, []) if r.task in ("relu", "conv2d")
                for n in range(r.begin + 1, r.end)}
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            (inside if number in rows else elsewhere).add(line.strip())
    secret = {s for s in inside - elsewhere if len(s) > 10}
    assert RELU_FORWARD in secret
    assert len(secret) >= 8
    for path in skeleton.out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if not path.relative_to(skeleton.out).as_posix().startswith("minigan/course/"):
                assert b"BEGIN SOLUTION" not in data and b"END SOLUTION" not in data, path
            if path.suffix in (".py", ".md", ".cfg", ".toml", ".json", ".txt"):
                assert not secret & {line.strip() for line in data.decode().splitlines()}, path


def test_check_copy_names_a_planted_leak(tmp_path, skeleton):
    leaky = tmp_path / "leaky"
    (leaky / "notes").mkdir(parents=True)
    (leaky / "notes" / "hint.py").write_text(f"# a hint\n    {RELU_FORWARD}\n")
    with pytest.raises(LeakError, match=r"notes/hint\.py:2: holds a removed solution line"):
        check_copy(leaky, {RELU_FORWARD})
    (leaky / "notes" / "hint.py").write_text("### END SOLUTION\n")
    with pytest.raises(LeakError, match=r"notes/hint\.py: holds solution marker text"):
        check_copy(leaky)
    assert main(["check", str(skeleton.out)]) == 0


def test_make_assignment_refuses_a_non_empty_directory_and_unknown_tasks(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["make-assignment", "--ops", "relu", "--out", str(tmp_path / "full")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["make-assignment", "--ops", "relu,convolution", "--out", str(tmp_path / "new")]) == 1
    assert "unknown task 'convolution'" in capsys.readouterr().err


def test_list_names_each_task_its_file_and_what_to_implement(capsys):
    assert main(["list", "--no-count"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^conv2d\s+minigan/functional/conv\.py\s+Conv2d forward, Conv2d backward\s+-\s+"
                     r"forward=0\.5 backward=0\.35 second_order=0\.15\s+op_conv2d$", out, re.M)
    assert re.search(r"^backprop\s+minigan/autograd\.py\s+_topological_order, _run_backward", out, re.M)


def test_the_copys_own_tests_collect_without_errors(skeleton):
    """Every test file the copy holds imports and collects in the copy (the docs' tests, which
    read docs/, stay out of a copy without docs/)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"],
                          cwd=skeleton.out, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(skeleton.out), "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "error" not in done.stdout.splitlines()[-1]


# -- grading -----------------------------------------------------------------------------------------------
def test_the_reference_solution_scores_full_marks(solved):
    report = grade(solved, ops=["relu", "backprop"], keyword=GRADCHECKS + " or accumulates or after_every", **FAST)
    for result in report.results:
        assert result.tests and result.full_marks, result.output()
    assert report.score == report.max_score == 2


def test_a_skeleton_scores_zero_and_gradescope_gets_its_results(skeleton, tmp_path, capsys):
    results = tmp_path / "results.json"
    assert main(["grade", str(skeleton.out), "--ops", "relu,conv2d,tanh", "--json", str(results),
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
    report = grade(copy, ops=["relu", "sigmoid", "backprop"], keyword=GRADCHECKS + " or leaf_used_twice", **FAST)
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


def test_code_that_does_not_compile_scores_zero_with_the_error(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, "return (")
    results = tmp_path / "results.json"
    report = grade(copy, ops=["relu", "sigmoid"], keyword=GRADCHECKS, json_path=results, **FAST)
    assert report.by_task()["relu"].score == 0 and report.by_task()["sigmoid"].full_marks
    assert "does not compile" in json.loads(results.read_text())["tests"][0]["output"]


def test_missing_marker_lines_cost_that_task_only(solved, tmp_path):
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py",
                   f"{RELU_FORWARD}\n        ### END YOUR CODE", RELU_FORWARD)
    report = grade(copy, ops=["relu", "sigmoid"], keyword=GRADCHECKS, **FAST)
    assert report.by_task()["relu"].score == 0 and "END YOUR CODE' line is missing" in report.by_task()["relu"].error
    assert report.by_task()["sigmoid"].full_marks


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
    before = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*"))
    report = grade(copy, ops=["relu", "conv2d"], keyword=GRADCHECKS, **FAST)
    assert report.score == 0 and all(r.tests for r in report.results)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == before  # nothing written there


@pytest.mark.parametrize("code, defence", [
    ("import _pytest.runner\n        _pytest.runner.TestReport.passed = property(lambda self: True)\n"
     "        raise NotImplementedError", "test machinery"),
    ("import numpy\n        numpy.testing.assert_allclose = lambda *a, **k: None\n"
     "        numpy.testing.assert_array_equal = lambda *a, **k: None\n        return x", "test machinery"),
    ("import gc\n        for o in gc.get_objects():\n            if type(o).__name__ == 'PytestPluginManager':\n"
     "                o.register(type('Forge', (), {'pytest_runtest_logreport': lambda self, report: None})())\n"
     "        raise NotImplementedError", "test machinery"),
    ("import os\n        for fd in range(3, 64):\n            try:\n                os.write(fd, b'{\"event\": \"test\"}\\tf\\n')\n"
     "            except OSError:\n                pass\n        os._exit(0)", "could not be trusted"),
])
def test_code_that_reaches_for_the_test_machinery_is_refused_and_caught(solved, tmp_path, code, defence):
    """The screen refuses it before it runs; run anyway (--no-screen), the watch on the test
    machinery or the signed channel still refuses the results."""
    copy = _edited(solved, tmp_path, "minigan/functional/activation.py", RELU_FORWARD, code)
    screened = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", **FAST).by_task()["relu"]
    assert screened.score == 0 and screened.error.startswith("refused: the code uses what a solution never needs")
    unscreened = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero or relu_and_leaky_relu_values",
                       use_screen=False, **FAST).by_task()["relu"]
    assert unscreened.score == 0 and defence in unscreened.error, unscreened.output()


def test_grading_writes_nothing_into_the_submission(solved, tmp_path):
    copy = Path(shutil.copytree(solved, tmp_path / "clean"))
    before = {p.relative_to(copy).as_posix(): p.stat().st_mtime_ns for p in copy.rglob("*")}
    grade(copy, ops=["relu"], keyword="relu_and_leaky_relu_values", **FAST)
    assert {p.relative_to(copy).as_posix(): p.stat().st_mtime_ns for p in copy.rglob("*")} == before


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
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_grader_writes_the_results_and_ends_the_tests(solved, tmp_path, stop):
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
    grader.send_signal(stop)
    output, _ = grader.communicate(timeout=60)
    assert grader.returncode == (143 if stop == signal.SIGTERM else 130), output
    written = json.loads(results.read_text())
    assert written["tests"][0]["score"] == 1  # sigmoid, graded before the stop
    assert "the grader was stopped" in written["tests"][1]["output"]
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
