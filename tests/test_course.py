"""The course kit (minigan.course): the task catalogue and its parts, solution markers, the
student's code between the handout's YOUR CODE lines, the screen, and student copies without a
trace of the solution. Grading is tested in tests/test_course_grading.py, the planted bugs in
tests/test_course_planted.py."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minigan.course import TASKS, LeakError, MarkerError, check_copy, make_assignment, planned, scan
from minigan.course import find_regions, markers, screen, strip_regions
from minigan.course.__main__ import main
from minigan.course.grader import collect

ROOT = Path(__file__).resolve().parents[1]
RELU_FORWARD = "return backend.array_module(x).maximum(x, 0)"


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory):
    return make_assignment(tmp_path_factory.mktemp("course") / "skeleton", ["relu", "conv2d"])


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
    assert any(reason in f for _, f in findings), findings


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




def test_the_kit_parses_python_only_through_the_locked_parse():
    """The grader grades tasks in threads, and two ast.parse calls at once can fail in CPython
    3.11 ("AST constructor recursion depth mismatch", gh-106905): every parse in minigan/course
    must go through markers.parse, which takes a lock."""
    kit = Path(markers.__file__).parent
    direct = []
    for path in sorted(kit.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_call = isinstance(node, ast.Call)
            func = node.func if is_call else None
            if isinstance(func, ast.Attribute) and func.attr == "parse" and \
                    isinstance(func.value, ast.Name) and func.value.id == "ast" or \
                    isinstance(func, ast.Name) and func.id in ("compile", "exec", "eval"):
                direct.append(f"{path.name}:{node.lineno}")
    assert direct == [f"markers.py:{_line_of(kit / 'markers.py', 'return ast.parse(')}"]


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_the_locked_parse_parses_in_threads():
    from concurrent.futures import ThreadPoolExecutor
    source = Path(markers.__file__).read_text(encoding="utf-8")
    with ThreadPoolExecutor(4) as pool:
        trees = list(pool.map(lambda _: markers.parse(source, "<markers>"), range(8)))
    assert all(ast.dump(tree) == ast.dump(trees[0]) for tree in trees)
