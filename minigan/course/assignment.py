"""make-assignment: a student's copy of the repository with the chosen solutions taken out.

The copy holds the package (with this course kit, so that ``python -m minigan.course grade``
grades the copy as the autograder will), the tests (without the kit's own, the hidden ones and,
unless docs/ is copied, the docs' tests), the examples and benchmarks, README.md, setup.cfg and
pyproject.toml, plus ASSIGNMENT.md (what to implement, how to test it) and course.json (the
assigned task ids and the checksums of the tests, read by ``grade``). It never holds .git, runs/,
caches or compiled files, and docs/ only when asked (the docs explain the reference
implementation and may quote it). Each removed region becomes a ``raise NotImplementedError``
between ``### BEGIN YOUR CODE <task>`` and ``### END YOUR CODE``: the grader takes the student's
code for a task from between those lines.

:func:`check_copy` then proves the copy clean: no marker text anywhere, and none of the removed
solution lines (:func:`forbidden_lines`: the telling ones that the package's code does not also
hold outside the removed regions). A copy that fails the check is deleted, never left behind.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import keyword
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import markers, tasks

COPIED = ("minigan", "tests", "examples", "bench", "README.md", "setup.cfg", "pyproject.toml", "LICENSE")
NOT_COPIED = {"docs/course.md"}  # the instructor's guide stays home
NOT_COPIED_PATTERNS = ("tests/test_course*.py", "tests/course_*.py", "tests/*_hidden.py")  # the kit's own tests,
# the planted bugs (they hold solution lines) and the hidden tests
WITH_DOCS_ONLY = {"tests/test_docs.py"}  # it reads docs/: copied with docs/ only, so that the copy's pytest passes
KIT = "minigan/course/"  # talks about markers: exempt from the marker-text check (not from the solution lines)
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".git", "runs"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
MIN_LINE = 6  # shorter stripped lines ("else:", "pass") say nothing about a solution
GENERIC_NAMES = set(keyword.kwlist) | {"self", "range", "len", "zip", "enumerate", "tuple", "list", "int",
                                       "float", "i", "j", "k", "n"}


class LeakError(AssertionError):
    """The student's copy holds marker text or a removed solution line."""


@dataclass
class Assignment:
    """What make-assignment wrote."""
    out: Path
    tasks: list
    removed: dict = field(default_factory=dict)  # relative path -> removed solution lines
    files: int = 0
    checked_lines: int = 0  # distinct solution lines the check looked for


def repository_root() -> Path:
    """The source checkout this kit belongs to (it needs the tests and setup.cfg)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "tests").is_dir() or not (root / "setup.cfg").is_file():
        raise FileNotFoundError(f"{root} is not a minigan source checkout (no tests/ or setup.cfg): "
                                "the course kit works from a clone of the repository")
    return root


def scan(root=None) -> dict:
    """``{relative path: [Region]}`` for the reference source, every marker checked."""
    return markers.scan_tree(root or repository_root(), known_tasks=set(tasks.BY_ID))


def _copied_files(root: Path, with_docs: bool):
    """The files of the reference that go into a student's copy, as paths relative to root."""
    tops = COPIED + (("docs",) if with_docs else ())
    for top in tops:
        path = root / top
        if path.is_file():
            yield Path(top)
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(root)
                if child.is_dir() or _skipped(relative, with_docs):
                    continue
                yield relative


def _skipped(relative: Path, with_docs: bool = False) -> bool:
    posix = relative.as_posix()
    if any(posix == s or posix.startswith(s + "/") for s in NOT_COPIED):
        return True
    if any(fnmatch.fnmatchcase(posix, pattern) for pattern in NOT_COPIED_PATTERNS):
        return True
    if posix in WITH_DOCS_ONLY and not with_docs:
        return True
    return bool(SKIPPED_NAMES & set(relative.parts[:-1])) or relative.suffix in SKIPPED_SUFFIXES


def make_assignment(out, ops, root=None, with_docs: bool = False, force: bool = False,
                    solution: bool = False) -> Assignment:
    """Write a student's copy of the repository into ``out`` with the regions of the tasks in
    ``ops`` (ids, or a comma-separated string; empty: none) replaced by ``raise
    NotImplementedError("Task <id>: implement <part>")`` between the ``YOUR CODE`` lines, then
    check it (:func:`check_copy`). ``solution``: keep the reference's code between those lines
    instead (a submission that must score full marks; never to be handed out, so not checked)."""
    root = Path(root) if root else repository_root()
    chosen = tasks.parse_ops(ops)
    regions = scan(root)
    with_regions = {r.task for rs in regions.values() for r in rs}
    missing = [t for t in chosen if t not in with_regions]
    if missing:
        raise ValueError(f"no solution region in the source for task(s) {', '.join(missing)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty; pass force=True (--force) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))  # renamed to out once clean
    try:
        result = _write_copy(root, building, chosen, regions, with_docs, solution)
        if not solution:
            forbidden = forbidden_lines(root, chosen, with_docs, regions)
            result.checked_lines = len(forbidden)
            check_copy(building, forbidden)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    building.rename(out)
    result.out = out
    return result


def _write_copy(root: Path, out: Path, chosen, regions, with_docs: bool, solution: bool = False) -> Assignment:
    result = Assignment(out=out, tasks=chosen)
    for relative in _copied_files(root, with_docs):
        source, target = root / relative, out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        key = relative.as_posix()
        if key in regions:
            original = source.read_text(encoding="utf-8")
            kept = _solutions_in_handout_layout(original, regions[key], chosen) if solution else None
            text, removed = markers.strip_regions(original, regions[key], set(chosen), kept, handout=True)
            target.write_text(text, encoding="utf-8")
            if removed:
                result.removed[key] = removed
        else:
            shutil.copyfile(source, target)
        result.files += 1
    _write_instructions(out, chosen, regions)
    return result


def _solutions_in_handout_layout(text: str, regions, chosen) -> dict:
    """``{(task, k): lines}``: each chosen region's own code between the ``YOUR CODE`` lines."""
    lines, found, seen = text.splitlines(keepends=True), {}, {}
    for region in sorted(regions, key=lambda r: r.begin):
        index = seen[region.task] = seen.get(region.task, -1) + 1
        if region.task in chosen:
            marker = markers.handout_lines(region)
            found[(region.task, index)] = [marker[0], *region.solution_lines(lines), marker[2]]
    return found


def forbidden_lines(root, chosen, with_docs: bool = False, regions=None) -> set:
    """The lines a copy without the ``chosen`` tasks must not hold: the stripped, non-trivial
    lines of their regions that the package's code holds nowhere else (such a line, in an op
    that stays, is no secret; the same line in a test, an example or a doc is a leak).
    Computed from the reference alone, so that the check takes nothing on trust."""
    root = Path(root)
    regions = scan(root) if regions is None else regions
    chosen = set(chosen)
    inside, outside = set(), set()
    for relative in _copied_files(root, with_docs):
        if relative.parts[0] != "minigan" or relative.suffix != ".py" or relative.as_posix().startswith(KIT):
            continue  # (the kit's own text never makes a solution line public)
        text = _read_text(root / relative) or ""
        own = [r for r in regions.get(relative.as_posix(), []) if r.task in chosen]
        rows = {n for r in own for n in range(r.begin, r.end + 1)}
        for number, line in enumerate(text.splitlines(), start=1):
            (inside if number in rows else outside).add(line.strip())
    return {s for s in inside - outside if is_telling(s) and markers.BEGIN not in s and markers.END not in s}


def is_telling(line: str) -> bool:
    """True for a stripped line that says something about a solution: at least ``MIN_LINE``
    characters and two names other than keywords and generic ones (not ``else:``, ``return -x``
    or a continuation like ``for i in range(2))``)."""
    names = [n for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line) if n not in GENERIC_NAMES]
    return len(line) >= MIN_LINE and len(names) >= 2


def check_copy(out, forbidden=()) -> None:
    """Raise :class:`LeakError` naming file and line if any file under ``out`` holds solution
    marker text or one of the ``forbidden`` lines (compared stripped), or compiled Python."""
    out = Path(out)
    forbidden = set(forbidden)
    problems = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        relative = path.relative_to(out).as_posix()
        if path.suffix in SKIPPED_SUFFIXES:
            problems.append(f"{relative}: compiled Python in the copy")
            continue
        data = path.read_bytes()
        if not relative.startswith(KIT) and (markers.BEGIN.encode() in data or markers.END.encode() in data):
            problems.append(f"{relative}: holds solution marker text")
        text = _read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() in forbidden:
                problems.append(f"{relative}:{number}: holds a removed solution line: {line.strip()!r}")
    if problems:
        raise LeakError("the student's copy is not clean:\n  " + "\n  ".join(problems[:50])
                        + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""))


def _read_text(path: Path):
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        return None  # a binary file (the embedded MNIST sample, a checkpoint)


def _write_instructions(out: Path, chosen, regions) -> None:
    """ASSIGNMENT.md for the student, and course.json for the grader (the tasks, and the tests'
    checksums, so that grading the copy can tell when its tests were edited)."""
    tests = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((out / "tests").rglob("*.py"))}
    info = {"handout": True, "tasks": list(chosen), "tests": tests}
    (out / "course.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    lines = ["# minigan assignment", ""]
    if not chosen:
        lines += ["Nothing to implement: this copy holds the complete reference.", ""]
    else:
        lines += ["Implement every part of minigan that raises `NotImplementedError(\"Task ...\")`.",
                  "Each task is an op's forward and backward (or an optimizer's update, a GAN loss,",
                  "the backward pass). Tests grade each task on its own; run them as shown below.",
                  "`minigan.gradcheck(fn, inputs)` compares your backward with finite differences.", "",
                  "| task | file | implement | run its tests |", "| --- | --- | --- | --- |"]
        for task_id in chosen:
            task = tasks.get(task_id)
            places = [(path, r) for path, rs in regions.items() for r in rs if r.task == task_id]
            files = sorted({path for path, _ in places})
            parts = ", ".join(dict.fromkeys(r.part for _, r in places))
            command = f"`python -m pytest -q -m {task.marker} {' '.join(task.tests)}`"
            lines.append(f"| {task_id} | {', '.join(files)} | {parts} | {command} |")
        lines += ["", "## How your work is graded", ""]
        lines += [f"- {note}" for note in tasks.GENERAL_NOTES]
        lines += ["- Each task's points are split between its parts (the forward values, the first and the second "
                  "derivatives, an update), and each part's among its tests (a part without tests gives its share "
                  "to the others; second derivatives count in proportion to the first derivatives passed):"]
        for task_id in chosen:
            task = tasks.get(task_id)
            shares = ", ".join(f"{p.name} {p.weight:g}" for p in task.parts)
            lines.append(f"  {task_id}: {shares}.")
        lines += ["- `python -m minigan.course grade` grades this copy as the autograder will (the same tests, "
                  "time limits and points), except that the autograder also runs hidden tests and grades each "
                  "task with the reference implementation of the others. It writes nothing into this folder.", ""]
        lines += ["## Notes", ""]
        for task_id in chosen:
            task = tasks.get(task_id)
            lines.append(f"- **{task_id}** ({task.title}). {task.notes}".rstrip())
        lines += ["", "Here, tasks build on one another (every gradient check multiplies and sums tensors, tanh's",
                  "backward subtracts and multiplies): a task's tests pass once the ops they use work. The",
                  "autograder grades each task with the reference implementation of all the others.", ""]
    (out / "ASSIGNMENT.md").write_text("\n".join(lines), encoding="utf-8")
