"""Solution regions in the reference source: finding them, checking them, removing them.

A region is a run of whole lines between two comment lines at the code's indentation::

    def backward(self, gy):  # tanh' = 1 - tanh^2
        ### BEGIN SOLUTION tanh
        y = self.saved_output()
        return gy * (1.0 - y * y)
        ### END SOLUTION

``BEGIN`` names the task (``[a-z][a-z0-9_]*``); ``END`` names nothing. Regions do not nest,
every BEGIN has its END at the same indentation, and every line between them is indented at
least as deep. Anything else that mentions ``BEGIN SOLUTION`` or ``END SOLUTION`` is an error
naming the file and the line.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
_BEGIN_LINE = re.compile(r"^(?P<indent>[ ]*)### BEGIN SOLUTION(?P<rest>.*)$")
_END_LINE = re.compile(r"^(?P<indent>[ ]*)### END SOLUTION(?P<rest>.*)$")
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
        tree = ast.parse(text)
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


def strip_regions(text: str, regions, chosen) -> tuple:
    """``text`` with the regions of the ``chosen`` tasks replaced by a ``raise`` and the marker
    lines of the others dropped. Returns (new text, removed solution lines)."""
    lines = text.splitlines(keepends=True)
    out, removed, position = [], [], 0
    for region in sorted(regions, key=lambda r: r.begin):
        out.extend(lines[position:region.begin - 1])
        body = lines[region.begin:region.end - 1]
        if region.task in chosen:
            out.append(placeholder(region) + "\n")
            removed.extend(body)
        else:
            out.extend(body)
        position = region.end
    out.extend(lines[position:])
    return "".join(out), removed


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
