"""The planted bugs of tests/course_planted.py, in CI: every bug is caught on its own task and
on no other, the correct-but-unusual solutions score full marks, the blank copy scores 0.

The full run (every bug graded with the default settings, the endless loops, the time of a
whole nine-task grade) is ``python tests/course_planted.py``; here each copy is graded once
for all nine tasks, with few Hypothesis examples: the copy with every correct form, the one
with one bug in every task, and the blank one. That a bug costs no other task anything holds
by construction (each task is graded in a tree where only its own regions are the student's),
and is checked here for every plant without running anything."""
import pytest

from minigan.course import grade, make_assignment, trees

from course_planted import ATTACKS, NINE, PLANTS, check_plant, planted_copy, solved_copy

QUICK = {"max_examples": 3, "jobs": 2}
CORRECT = [p for p in PLANTS if p.correct]
BUGS = [p for p in PLANTS if not p.correct]


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    solved = solved_copy(folder / "solved")
    return {"solved": solved, "correct": planted_copy(solved, folder / "correct", CORRECT), "folder": folder}


@pytest.fixture(scope="module")
def source():
    return trees.Source.at(trees.Path(__file__).resolve().parents[1])


def _graded_files(source, copy, task):
    """The files a task's tree holds that differ from the reference's (its regions spliced in)."""
    return trees.task_files(source, task, trees.student_code(source, copy, task), use_screen=False)


def test_every_plant_and_task_is_covered():
    assert {p.task for p in CORRECT} == {p.task for p in BUGS} == set(NINE)
    assert all(p.parts for p in BUGS), "each bug says which parts it costs"


@pytest.mark.parametrize("plant", BUGS + ATTACKS, ids=lambda p: f"{p.task}: {p.name}")
def test_a_bug_reaches_no_other_tasks_tree(copies, source, tmp_path, plant):
    copy = planted_copy(copies["correct"], tmp_path / "copy", [plant])
    for task in NINE:
        mine, correct = _graded_files(source, copy, task), _graded_files(source, copies["correct"], task)
        assert (mine == correct) == (task != plant.task), task


def test_the_correct_forms_score_full_marks(copies):
    report = grade(copies["correct"], ops=NINE, **QUICK)
    for result in report.results:
        assert result.full_marks, result.output(limit=3)


def test_one_bug_in_every_task_is_caught_in_the_parts_it_breaks(copies):
    round_of_bugs = [next(p for p in BUGS if p.task == task and not p.slow) for task in NINE]
    copy = planted_copy(copies["correct"], copies["folder"] / "bugs", round_of_bugs)
    report = grade(copy, ops=NINE, **QUICK)
    problems = [f"{p.task}, {p.name}: {problem}" for p in round_of_bugs
                for problem in check_plant(p, report.by_task()[p.task])]
    assert not problems, "\n".join(problems)


def test_the_blank_copy_scores_zero_on_every_task(tmp_path):
    blank = make_assignment(tmp_path / "blank", NINE).out
    report = grade(blank, ops=NINE, max_examples=2, jobs=2)
    assert [r.score for r in report.results] == [0.0] * len(NINE), report.table()
    assert all(r.tests for r in report.results)
