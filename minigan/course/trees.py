"""trees: the source the grader trusts, the student's code it takes, and the trees the tests run in.

A :class:`Source` is either an instructor's checkout (the reference, with its solution regions)
or a student's handout (``course.json`` says so: grading it locally, the student's own code
stands in for the reference of the other tasks, and there are no hidden tests).

For every task the grader builds a tree of its own, outside the submission: the reference
package with the regions of that task, and only those, replaced by the student's code for it
(read from between the handout's ``### BEGIN YOUR CODE <task>`` / ``### END YOUR CODE`` lines),
the reference's test files for the tasks, their helpers, and setup.cfg. Nothing else from the
submission is read: not its ``__init__.py``, its tests, a conftest.py or a results.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from . import markers, screen, tasks as catalogue

HIDDEN_SUFFIX = "_hidden.py"  # tests/test_*_hidden.py: graded like the others, never in the handout
SUPPORT_TESTS = ("tests/conftest.py", "tests/helpers.py")


class SubmissionError(ValueError):
    """The student's code for a task cannot be taken or does not compile (the message says why)."""


@dataclass
class Source:
    """Where the package and the tests the grader trusts come from."""
    root: Path
    handout: bool  # True: a student's copy (its code is the student's own)
    regions: dict = field(default_factory=dict)  # reference: {relative path: [Region]}
    assigned: list = field(default_factory=list)  # handout: the tasks of course.json

    @classmethod
    def at(cls, root) -> "Source":
        root = Path(root).resolve()
        listed = root / "course.json"
        if listed.is_file():
            info = json.loads(listed.read_text(encoding="utf-8"))
            if info.get("handout"):
                return cls(root, True, assigned=list(info.get("tasks") or []))
        from .assignment import scan
        return cls(root, False, regions=scan(root))

    def test_files(self, task_ids) -> list:
        """The task's test files, the hidden ones and the helpers they import, as relative paths."""
        wanted = {f for t in task_ids for f in catalogue.get(t).tests}
        wanted |= {p.relative_to(self.root).as_posix() for p in (self.root / "tests").glob(f"test_*{HIDDEN_SUFFIX}")}
        return sorted(f for f in wanted | set(SUPPORT_TESTS) if (self.root / f).is_file())

    def region_files(self, task_id: str) -> list:
        return sorted({path for path, rs in self.regions.items() for r in rs if r.task == task_id})


def edited_tests(source: Source) -> list:
    """The handout's test files that differ from the checksums course.json recorded."""
    info = json.loads((source.root / "course.json").read_text(encoding="utf-8"))
    edited = []
    for relative, checksum in sorted((info.get("tests") or {}).items()):
        path = source.root / relative
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != checksum:
            edited.append(relative)
    return edited


def is_hidden(nodeid: str) -> bool:
    return nodeid.split("::")[0].endswith(HIDDEN_SUFFIX)


# -- the base tree: the source's package and tests, read-only, with a digest ------------------------------
def build_base(source: Source, out: Path, task_ids) -> str:
    """Write the package (without the course kit, markers dropped) and the tests into ``out``,
    make it read-only, and return its digest (:func:`digest`)."""
    for path in sorted((source.root / "minigan").rglob("*")):
        relative = path.relative_to(source.root)
        if path.is_dir() or "__pycache__" in relative.parts or relative.parts[1:2] == ("course",) \
                or path.suffix in (".pyc", ".pyo"):
            continue
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        key = relative.as_posix()
        if key in source.regions:
            text, _ = markers.strip_regions(path.read_text(encoding="utf-8"), source.regions[key], set())
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(path, target)
    for relative in source.test_files(task_ids) + ["setup.cfg"]:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.root / relative, target)
    _read_only(out)
    return digest(out)


def digest(tree: Path) -> str:
    """A SHA-256 over every file's path and bytes: checked before each task's tree is copied
    from the base, so that a task's code that changed the base cannot reach the next task."""
    h = hashlib.sha256()
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        h.update(path.relative_to(tree).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        if path.is_dir():
            mode |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        os.chmod(path, mode)


def make_writable(tree: Path) -> None:
    """Undo :func:`_read_only` so that the tree can be deleted."""
    for path in [tree, *tree.rglob("*")]:
        os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


# -- the student's code ------------------------------------------------------------------------------------------
def find_file(submission: Path, relative: str):
    """The submission's copy of ``relative``: at that path, else (a flat upload) the one file
    with its name anywhere in the submission."""
    exact = submission / relative
    if exact.is_file():
        return exact
    name = relative.rsplit("/", 1)[-1]
    matches = [p for p in submission.rglob(name) if p.is_file() and "__pycache__" not in p.parts]
    return matches[0] if len(matches) == 1 else None


def student_code(source: Source, submission: Path, task_id: str) -> dict:
    """``{relative path: {(task, k): lines}}``: the student's code for each region of the task,
    re-indented to the reference's. Raises :class:`SubmissionError` naming what is missing."""
    found = {}
    for relative in source.region_files(task_id):
        path = find_file(submission, relative)
        if path is None:
            raise SubmissionError(f"the submission has no {relative}")
        text = path.read_text(encoding="utf-8", errors="replace")
        regions, errors = markers.student_regions(text)
        error = errors.get(task_id) or errors.get("")
        if error:
            raise SubmissionError(f"{relative}, {error}")
        mine = regions.get(task_id, [])
        theirs = [r for r in source.regions[relative] if r.task == task_id]
        if not mine:
            raise SubmissionError(f"{relative} has no '### {markers.YOURS_BEGIN} {task_id}' line: was {task_id} "
                                  "assigned? (your code for it goes between that line and '### "
                                  f"{markers.YOURS_END}')")
        if len(mine) != len(theirs):
            raise SubmissionError(
                f"{relative} should hold {len(theirs)} region(s) of task {task_id} between "
                f"'### {markers.YOURS_BEGIN} {task_id}' and '### {markers.YOURS_END}' lines, but holds "
                f"{len(mine)}: put the marker lines back around your code")
        try:
            found[relative] = {(task_id, k): StudentLines(code.reindented(region.indent), code.begin + 1)
                               for k, (code, region) in enumerate(zip(mine, theirs))}
        except ValueError as error:
            raise SubmissionError(f"{relative}: {error}") from None
    return found


class StudentLines(list):
    """The student's lines for one region, and the line of the student's file they start at."""

    def __init__(self, lines, origin: int):
        super().__init__(lines)
        self.origin = origin


def task_files(source: Source, task_id: str, code: dict, use_screen: bool = True) -> dict:
    """``{relative path: text}``: the reference's files that hold ``task_id``'s regions, with the
    student's ``code`` for that task in place of the reference's (and nothing else changed).
    Raises :class:`SubmissionError` if one does not compile, or if
    :mod:`~minigan.course.screen` refuses the student's lines."""
    files = {}
    for relative, replacements in code.items():
        original = (source.root / relative).read_text(encoding="utf-8")
        spans = []
        text, _ = markers.strip_regions(original, source.regions[relative], {task_id}, replacements, spans=spans)
        origins = {(task, k): getattr(replacements[(task, k)], "origin", None) for task, k, _, _ in spans}
        _check_compiles(text, relative, [(*span, origins[span[:2]]) for span in spans], use_screen)
        files[relative] = text
    return files


def build_task_tree(source: Source, base: Path, out: Path, task_id: str, code: dict, use_screen: bool = True) -> None:
    """Copy ``base`` to ``out`` with :func:`task_files` written over it (read-only again)."""
    files = task_files(source, task_id, code, use_screen)
    shutil.copytree(base, out, copy_function=shutil.copyfile)
    make_writable(out)
    for relative, text in files.items():
        (out / relative).write_text(text, encoding="utf-8")
    _read_only(out)


def check_handout_code(tree: Path, task_id: str, use_screen: bool = True) -> None:
    """The handout's own files (local grading): the same checks on the student's lines."""
    for path in sorted((tree / "minigan").rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if markers.YOURS_BEGIN not in text:
            continue
        regions, errors = markers.student_regions(text)
        relative = path.relative_to(tree).as_posix()
        error = errors.get(task_id) or (errors.get("") if task_id in regions else "")
        if error:
            raise SubmissionError(f"{relative}, {error}")
        spans = [(task_id, c.index, c.begin + 1, c.begin + len(c.lines), c.begin + 1) for c in regions.get(task_id, [])]
        if spans:
            _check_compiles(text, relative, spans, use_screen)


def _check_compiles(text: str, relative: str, spans, use_screen: bool) -> None:
    """``spans``: (task, k, first line, last line, the student's line number of the first)."""
    def where(line):
        for _, _, first, last, origin in spans:
            if origin is not None and first <= line <= last:
                return f"line {origin + line - first} of your {relative}"
        return f"line {line} of the graded {relative}"

    try:
        tree = markers.parse(text, f"<{relative}>")  # not a real path: Python would quote the file on disk
    except SyntaxError as error:
        number = error.lineno or 0
        lines = text.splitlines()
        line = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        raise SubmissionError(f"{relative}: the code does not compile: {error.msg} ({where(number)}"
                              f"{': ' + line if line else ''})") from None
    if not use_screen:
        return
    lines = {n for _, _, first, last, _ in spans for n in range(first, last + 1)}
    findings = [f"{where(line)}: {reason}" for line, reason in screen.screen(tree, lines)]
    if findings:
        raise SubmissionError("refused: the code uses what a solution never needs (the grader does not run "
                              "code that could change the tests or their report):\n  " + "\n  ".join(findings[:8]))
