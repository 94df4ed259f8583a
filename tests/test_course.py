"""The course kit (minigan.course): solution markers, student copies without a trace of the
solution, and grading that scores the reference fully, a skeleton at zero, and survives wrong,
endless and crashing student code. Grading runs child pytest processes, so each test here
grades a few tests of a few tasks, with two Hypothesis examples each."""
import ast
import json
import re
import shutil
from pathlib import Path

import pytest

from minigan.course import TASKS, LeakError, MarkerError, check_copy, grade, make_assignment, scan
from minigan.course import find_regions, strip_regions
from minigan.course.__main__ import main
from minigan.course.grader import collect

ROOT = Path(__file__).resolve().parents[1]
FAST = {"max_examples": 2, "timeout": 60.0, "task_timeout": 120.0}  # a quick, still deterministic, grading
GRADCHECKS = "gradcheck and not gradgrad and not penalty"  # a -k filter: each task's first-order gradient checks


@pytest.fixture(scope="module")
def reference_copy(tmp_path_factory):
    """A student's copy with nothing removed: the reference, marker lines dropped."""
    return make_assignment(tmp_path_factory.mktemp("course") / "reference", []).out


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory):
    return make_assignment(tmp_path_factory.mktemp("course") / "skeleton", ["relu", "conv2d"])


def _edited_copy(reference_copy, tmp_path, path, old, new):
    """A copy of the reference copy with one edit in the student's code."""
    copy = Path(shutil.copytree(reference_copy, tmp_path / "student"))
    target = copy / path
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    target.write_text(text.replace(old, new))
    return copy


# -- the catalogue, the markers and the marks -------------------------------------------------------
def test_every_task_has_solution_regions_and_a_registered_mark():
    regions = scan()
    assert {r.task for rs in regions.values() for r in rs} == {t.id for t in TASKS}
    registered = (ROOT / "setup.cfg").read_text()
    for task in TASKS:
        assert re.search(rf"^\s+{task.marker}:", registered, re.M), f"{task.marker} is not in setup.cfg"
        assert all((ROOT / f).is_file() for f in task.tests), task.id
    parts = {r.part for rs in regions.values() for r in rs}
    assert {"ReLU forward", "ReLU backward", "Conv2d backward", "im2col", "SGD._update", "_topological_order",
            "_run_backward", "gradient_penalty"} <= parts


def test_marks_select_each_tasks_tests_from_its_listed_files():
    found = collect()
    for task in TASKS:
        assert found[task.id], f"no test carries {task.marker}"
        assert {n.split("::")[0] for n in found[task.id]} <= set(task.tests), task.id
    assert "tests/test_conv.py::test_conv2d_gradcheck[cpu]" in found["conv2d"]
    assert "tests/test_activation.py::test_smooth_activation_gradcheck[cpu-tanh]" in found["tanh"]
    assert not any("[cpu-sigmoid]" in n for n in found["tanh"])  # per-parameter marks, not per-function


def test_markers_are_comments_the_code_runs_unchanged(reference_copy):
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


# -- the student's copy ----------------------------------------------------------------------------------
def test_skeleton_replaces_the_chosen_regions_and_keeps_the_rest(skeleton):
    out = skeleton.out
    activation = (out / "minigan/functional/activation.py").read_text()
    assert '        raise NotImplementedError("Task relu: implement ReLU forward")\n' in activation
    assert '        raise NotImplementedError("Task relu: implement ReLU backward")\n' in activation
    conv = (out / "minigan/functional/conv.py").read_text()
    assert 'raise NotImplementedError("Task conv2d: implement Conv2d backward")' in conv
    assert "return backend.array_module(x).tanh(x)" in activation  # an unchosen region keeps its code
    assert "def im2col(" in conv and "as_strided" in conv
    for path in out.rglob("*.py"):
        ast.parse(path.read_text(), str(path))  # still Python
    assert json.loads((out / "course.json").read_text()) == {"tasks": ["relu", "conv2d"]}
    assert "op_relu" in (out / "ASSIGNMENT.md").read_text()
    assert not (out / "minigan/course").exists() and not (out / "tests/test_course.py").exists()
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
    assert "return backend.array_module(x).maximum(x, 0)" in secret  # relu's forward
    assert len(secret) >= 8
    for path in skeleton.out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"BEGIN SOLUTION" not in data and b"END SOLUTION" not in data, path
            if path.suffix in (".py", ".md", ".cfg", ".toml", ".json", ".txt"):
                assert not secret & {line.strip() for line in data.decode().splitlines()}, path


def test_check_copy_names_a_planted_leak(tmp_path, skeleton):
    leaky = tmp_path / "leaky"
    (leaky / "notes").mkdir(parents=True)
    (leaky / "notes" / "hint.py").write_text("# a hint\n    return backend.array_module(x).maximum(x, 0)\n")
    with pytest.raises(LeakError, match=r"notes/hint\.py:2: holds a removed solution line"):
        check_copy(leaky, {"return backend.array_module(x).maximum(x, 0)"})
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
    assert re.search(r"^conv2d\s+minigan/functional/conv\.py\s+Conv2d forward, Conv2d backward\s+-\s+op_conv2d$",
                     out, re.M)
    assert re.search(r"^backprop\s+minigan/autograd\.py\s+_topological_order, _run_backward", out, re.M)


# -- grading -----------------------------------------------------------------------------------------------
def test_the_reference_scores_full_marks(reference_copy):
    report = grade(reference_copy, ops=["relu", "conv2d"], keyword=GRADCHECKS, **FAST)
    for result in report.results:
        assert result.counted and result.full_marks, result.output()
    assert report.score == report.max_score == 2


def test_a_skeleton_scores_zero_on_its_tasks_and_full_marks_on_another(skeleton, tmp_path, capsys):
    results = tmp_path / "results.json"
    assert main(["grade", str(skeleton.out), "--ops", "relu,conv2d,tanh", "--json", str(results),
                 "-k", GRADCHECKS, "--max-examples", "2"]) == 0
    table = capsys.readouterr().out
    gradescope = json.loads(results.read_text())
    scores = {t["name"].split(":")[0]: t for t in gradescope["tests"]}
    assert scores["relu"]["score"] == 0 and scores["conv2d"]["score"] == 0
    assert scores["tanh"]["score"] == scores["tanh"]["max_score"] == 1 and scores["tanh"]["status"] == "passed"
    assert gradescope["score"] == 1
    for entry in gradescope["tests"]:
        assert set(entry) == {"name", "number", "score", "max_score", "status", "output"}
    assert "Task relu: implement ReLU forward" in scores["relu"]["output"]
    assert re.search(r"^total\s+1\.00 / 3$", table, re.M)


def test_a_wrong_backward_is_caught_by_the_gradient_checks(reference_copy, tmp_path):
    # relu's backward passes the gradient through unmasked: right for x > 0, wrong below
    copy = _edited_copy(reference_copy, tmp_path, "minigan/functional/activation.py",
                        "return gy * Tensor(self.saved_output().array > 0)", "return gy")
    report = grade(copy, ops=["relu"], keyword="relu_gradcheck or relu_derivative_at_zero", **FAST)
    relu = report.by_task()["relu"]
    assert relu.score == 0 and len(relu.counted) == 4
    assert all(t.outcome == "failed" for t in relu.counted)
    assert "test_relu_gradcheck_away_from_the_kink[cpu]" in report.table()
    assert "GradcheckError" in relu.output()


def test_an_endless_loop_is_stopped_by_the_time_limit_and_scores_zero(reference_copy, tmp_path):
    copy = _edited_copy(reference_copy, tmp_path, "minigan/functional/activation.py",
                        "return backend.array_module(x).maximum(x, 0)", "while True:\n            pass")
    results = tmp_path / "results.json"
    report = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", json_path=results, max_timeouts=1,
                   **{**FAST, "timeout": 1.0})
    relu = report.by_task()["relu"]
    assert [t.outcome for t in relu.counted] == ["timeout", "not run"]  # one time-out stops the task here
    assert relu.score == 0 and relu.seconds < 60 and "stopped after 1 time-out(s)" in relu.error
    entry = json.loads(results.read_text())["tests"][0]
    assert entry["score"] == 0 and "1 s time limit" in entry["output"]


def test_a_hang_the_time_limit_cannot_stop_is_killed_and_still_reported(reference_copy, tmp_path):
    # the student swallows every exception, the time limit's too: only the task's time limit ends it
    copy = _edited_copy(reference_copy, tmp_path, "minigan/functional/activation.py",
                        "return backend.array_module(x).maximum(x, 0)",
                        "while True:\n            try:\n                while True:\n                    pass\n"
                        "            except BaseException:\n                pass")
    results = tmp_path / "results.json"
    report = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", json_path=results,
                   **{**FAST, "timeout": 1.0, "task_timeout": 4.0})
    relu = report.by_task()["relu"]
    assert relu.score == 0 and all(t.outcome == "not run" for t in relu.counted)
    assert "stopped after 4 s" in relu.error and relu.seconds < 30
    entry = json.loads(results.read_text())["tests"][0]
    assert entry["score"] == 0 and "stopped after 4 s" in entry["output"]


def test_a_crashing_student_scores_zero_with_the_reason(reference_copy, tmp_path):
    copy = _edited_copy(reference_copy, tmp_path, "minigan/functional/activation.py",
                        "return backend.array_module(x).maximum(x, 0)", "import os; os._exit(3)")
    report = grade(copy, ops=["relu"], keyword="relu_derivative_at_zero", **FAST)
    relu = report.by_task()["relu"]
    assert relu.score == 0 and [t.outcome for t in relu.counted] == ["not run", "not run"]
    assert "pytest crashed (exit code 3)" in relu.output()


def test_code_that_does_not_import_scores_zero_with_the_error(reference_copy, tmp_path):
    copy = _edited_copy(reference_copy, tmp_path, "minigan/functional/activation.py",
                        "return backend.array_module(x).maximum(x, 0)", "return (")
    results = tmp_path / "results.json"
    report = grade(copy, ops=["relu"], json_path=results, **FAST)
    assert report.score == 0
    assert "SyntaxError" in json.loads(results.read_text())["tests"][0]["output"]
