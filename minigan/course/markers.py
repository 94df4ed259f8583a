"""Solution regions in the reference source: finding them, checking them, removing them; and
the student's code in place of a removed region.

A region is a run of whole lines between two comment lines at the code's indentation::

    def backward(self, gy):  # tanh' = 1 - tanh^2
        ### BEGIN SOLUTION tanh
        <the code of Tanh's backward>
        ### END SOLUTION

``BEGIN`` names the task (``[a-z][a-z0-9_]*``); ``END`` names nothing. Regions do not nest,
every BEGIN has its END at the same indentation, and every line between them is indented at
least as deep. Anything else that mentions ``BEGIN SOLUTION`` or ``END SOLUTION`` is an error
naming the file and the line.

In the student's copy a removed region is one ``raise NotImplementedError`` between two lines
that say where the student's code goes::

    ### BEGIN YOUR CODE tanh
    raise NotImplementedError("Task tanh: implement Tanh backward")
    ### END YOUR CODE

The grader takes the student's code for a task from between those lines
(:func:`student_regions`) and puts it in place of the reference's region (:func:`strip_regions`
with ``replacements``), into a copy of the reference where everything else is the reference's.
"""
from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from pathlib import Path

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
YOURS_BEGIN, YOURS_END = "BEGIN YOUR CODE", "END YOUR CODE"  # the handout's lines around a student's code

_PARSING = threading.Lock()


def parse(text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time. The grader grades tasks in ``--jobs`` threads, and
    CPython 3.11's AST constructor keeps its recursion depth in state the threads share: two
    parses at once can fail with "SystemError: AST constructor recursion depth mismatch"
    (CPython issue gh-106905; seen here in a two-job grade). Every parse of the course kit goes
    through this function."""
    with _PARSING:
        return ast.parse(text, filename)
_BEGIN_LINE = re.compile(r"^(?P<indent>[ ]*)### BEGIN SOLUTION(?P<rest>.*)$")
_END_LINE = re.compile(r"^(?P<indent>[ ]*)### END SOLUTION(?P<rest>.*)$")
_YOURS_BEGIN_LINE = re.compile(r"^(?P<indent>[ \t]*)### BEGIN YOUR CODE(?P<rest>.*?)\s*$")
_YOURS_END_LINE = re.compile(r"^(?P<indent>[ \t]*)### END YOUR CODE\s*$")
_TASK_ID = re.compile(r"[a-z][a-z0-9_]*")


class MarkerError(ValueError):
    """A malformed solution region: unmatched, nested, unknown task or bad syntax (file:line)."""

    def __init__(self, path, line: int, message: str):
        self.path, self.line = str(path), line
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Region:
    """Lines ``begin``..``end`` (1-based, the marker lines included) of ``path`` solve ``task``."""
    path: str  # relative to the repository root, with forward slashes
    task: str
    begin: int
    end: int
    indent: str
    part: str  # what the student implements there, e.g. "ReLU backward" or "im2col"

    def solution_lines(self, lines) -> list:
        """The code between the markers (``lines``: the file's lines)."""
        return lines[self.begin:self.end - 1]


def find_regions(path, text: str, known_tasks=None) -> list:
    """Every region of one file, checked; ``known_tasks`` (a set of ids) rejects other ids."""
    lines = text.splitlines()
    regions, open_at = [], None  # open_at: (line number, indent, task) of the BEGIN being read
    for number, line in enumerate(lines, start=1):
        if BEGIN not in line and END not in line:
            if open_at and line.strip() and not line.startswith(open_at[1]):
                raise MarkerError(path, number, f"line is indented less than the BEGIN SOLUTION "
                                                f"marker of line {open_at[0]}")
            continue
        begin, end = _BEGIN_LINE.match(line), _END_LINE.match(line)
        if begin:
            task = begin["rest"].strip()
            if open_at:
                raise MarkerError(path, number, f"nested BEGIN SOLUTION: the region opened at line "
                                                f"{open_at[0]} has no END SOLUTION yet")
            if not begin["rest"].startswith(" ") or not _TASK_ID.fullmatch(task):
                raise MarkerError(path, number, f"BEGIN SOLUTION needs one task id ([a-z][a-z0-9_]*) "
                                                f"after a space, got {begin['rest'].strip()!r}")
            if known_tasks is not None and task not in known_tasks:
                raise MarkerError(path, number, f"unknown task {task!r} (not in minigan.course.tasks)")
            open_at = (number, begin["indent"], task)
        elif end:
            if end["rest"].strip():
                raise MarkerError(path, number, f"END SOLUTION takes nothing after it, got {end['rest'].strip()!r}")
            if not open_at:
                raise MarkerError(path, number, "END SOLUTION without a BEGIN SOLUTION")
            if end["indent"] != open_at[1]:
                raise MarkerError(path, number, f"END SOLUTION is indented differently from the "
                                                f"BEGIN SOLUTION of line {open_at[0]}")
            if number == open_at[0] + 1:
                raise MarkerError(path, number, f"empty region (BEGIN SOLUTION at line {open_at[0]})")
            regions.append(Region(str(path), open_at[2], open_at[0], number, open_at[1], ""))
            open_at = None
        else:
            raise MarkerError(path, number, "malformed solution marker: write '### BEGIN SOLUTION <task>' "
                                            "or '### END SOLUTION' alone on the line")
    if open_at:
        raise MarkerError(path, open_at[0], "BEGIN SOLUTION without an END SOLUTION")
    return _name_parts(path, text, regions)


def _name_parts(path, text: str, regions) -> list:
    """Each region with ``part`` set from the function (and class) around it."""
    if not regions:
        return regions
    try:
        tree = parse(text)
    except SyntaxError as error:
        raise MarkerError(path, error.lineno or 1, f"not valid Python: {error.msg}") from None
    scopes = []  # (first line, last line, qualified name parts)

    def visit(node, names):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = names + [child.name]
                if not isinstance(child, ast.ClassDef):
                    scopes.append((child.lineno, child.end_lineno, inner))
                visit(child, inner)
    visit(tree, [])
    named = []
    for region in regions:
        around = [s for s in scopes if s[0] < region.begin <= s[1]]  # (a function's last line is code)
        if not around:
            raise MarkerError(path, region.begin, "a solution region must lie inside a function")
        names = max(around, key=lambda s: s[0])[2]  # the innermost
        if len(names) >= 2 and names[-1] in ("forward", "backward"):
            part = f"{names[-2]} {names[-1]}"
        else:
            part = ".".join(names)
        named.append(Region(region.path, region.task, region.begin, region.end, region.indent, part))
    return named


def placeholder(region: Region) -> str:
    """The line that replaces a region in the student's copy."""
    return f'{region.indent}raise NotImplementedError("Task {region.task}: implement {region.part}")'


def handout_lines(region: Region) -> list:
    """What a chosen region becomes in the student's copy: the placeholder between the two lines
    that tell the grader where the student's code for the task is."""
    return [f"{region.indent}### {YOURS_BEGIN} {region.task}\n", placeholder(region) + "\n",
            f"{region.indent}### {YOURS_END}\n"]


def strip_regions(text: str, regions, chosen, replacements=None, handout: bool = False, spans=None) -> tuple:
    """``text`` with the regions of the ``chosen`` tasks replaced and the marker lines of the
    others dropped. A chosen region becomes ``replacements[(task, k)]`` (the lines of the k-th
    region of that task in the file) if given, else the placeholder ``raise`` (between the
    handout's ``YOUR CODE`` lines when ``handout``). Returns (new text, removed solution lines);
    ``spans``, a list, receives ``(task, k, first line, last line)`` of each replacement put in."""
    lines = text.splitlines(keepends=True)
    out, removed, position, seen = [], [], 0, {}
    for region in sorted(regions, key=lambda r: r.begin):
        out.extend(lines[position:region.begin - 1])
        body = lines[region.begin:region.end - 1]
        index = seen[region.task] = seen.get(region.task, -1) + 1
        if region.task in chosen:
            removed.extend(body)
            if replacements is not None and (region.task, index) in replacements:
                lines_in = replacements[(region.task, index)]
                if spans is not None:
                    first = sum(line.count("\n") for line in out) + 1
                    spans.append((region.task, index, first, first + len(lines_in) - 1))
                out.extend(lines_in)
            else:
                out.extend(handout_lines(region) if handout else [placeholder(region) + "\n"])
        else:
            out.extend(body)
        position = region.end
    out.extend(lines[position:])
    return "".join(out), removed


# -- the student's side: the code between the handout's YOUR CODE lines ----------------------------
@dataclass
class StudentCode:
    """The lines a student wrote for the ``index``-th region of ``task`` in one file."""
    task: str
    index: int
    begin: int  # line number of the BEGIN YOUR CODE line in the student's file
    indent: str  # that line's indentation
    lines: list  # the lines between the two marker lines, as written

    def reindented(self, indent: str) -> list:
        """The lines moved from the student's indentation to ``indent`` (ValueError naming the
        line if one is indented less than the BEGIN YOUR CODE line)."""
        out = []
        for number, line in enumerate(self.lines, start=self.begin + 1):
            if not line.strip():
                out.append("\n")
            elif line.startswith(self.indent):
                out.append(indent + line[len(self.indent):].rstrip("\r\n") + "\n")
            else:
                raise ValueError(f"line {number} is indented less than its '### {YOURS_BEGIN} {self.task}' "
                                 f"line ({self.begin}): {line.strip()!r}")
        return out


def student_regions(text: str) -> tuple:
    """The student's code in one file: ``({task: [StudentCode]}, {task: error})``. Lenient, so
    that one task's broken marker lines cost that task only ("" stands for the whole file)."""
    found, errors, open_at = {}, {}, None
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        if YOURS_BEGIN not in line and YOURS_END not in line:
            if open_at:
                open_at.lines.append(line)
            continue
        begin, end = _YOURS_BEGIN_LINE.match(line), _YOURS_END_LINE.match(line)
        if begin:
            task = begin["rest"].strip()
            if open_at:
                errors.setdefault(open_at.task, f"line {open_at.begin}: its '### {YOURS_END}' line is missing "
                                                 f"(line {number} opens the next region)")
            open_at = StudentCode(task, len(found.get(task, [])), number, begin["indent"], [])
            found.setdefault(task, []).append(open_at)
        elif end and open_at:
            open_at = None
        elif end:
            errors.setdefault("", f"line {number}: '### {YOURS_END}' without a '### {YOURS_BEGIN} <task>' line")
        else:
            target = open_at.task if open_at else ""
            errors.setdefault(target, f"line {number}: a changed marker line: {line.strip()!r} (write "
                                      f"'### {YOURS_BEGIN} <task>' and '### {YOURS_END}' alone on their lines)")
    if open_at:
        errors.setdefault(open_at.task, f"line {open_at.begin}: its '### {YOURS_END}' line is missing")
    return found, errors


def scan_tree(root, known_tasks=None, package="minigan", skip=("course",)) -> dict:
    """``{relative path: [Region]}`` for every Python file of ``root/package`` that has regions
    (the subpackages in ``skip`` are not scanned: the course kit talks *about* markers)."""
    root = Path(root)
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[1] in skip or "__pycache__" in relative.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if BEGIN in text or END in text:
            regions = find_regions(relative.as_posix(), text, known_tasks)
            if regions:
                found[relative.as_posix()] = regions
    return found
