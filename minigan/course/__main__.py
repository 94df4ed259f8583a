"""``python -m minigan.course list | make-assignment | grade | check``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import assignment, grader, markers, tasks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigan.course",
                                     description="minigan as graded reimplementation assignments")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="the tasks, their files and their tests")
    listing.add_argument("--no-count", action="store_true", help="skip collecting the tests (faster)")

    make = commands.add_parser("make-assignment", help="write a student's copy without the chosen solutions")
    make.add_argument("--ops", default="", help="comma-separated task ids (see `list`); 'all' for every task; "
                                                "empty: a complete reference copy")
    make.add_argument("--out", required=True, help="directory to write (must be empty or missing)")
    make.add_argument("--with-docs", action="store_true", help="copy docs/ too (checked like the rest)")
    make.add_argument("--force", action="store_true", help="replace a non-empty --out")

    grading = commands.add_parser("grade", help="run each task's tests against a student's copy")
    grading.add_argument("directory")
    grading.add_argument("--ops", default="", help="tasks to grade (default: those in DIR/course.json, else all)")
    grading.add_argument("--json", dest="json_path", help="write Gradescope's results.json here")
    grading.add_argument("--timeout", type=float, default=60.0, help="seconds per test (default 60)")
    grading.add_argument("--task-timeout", type=float, default=900.0,
                         help="seconds for all of one task's tests (default 900)")
    grading.add_argument("--max-examples", type=int, default=25,
                         help="Hypothesis examples per property test, derandomized (default 25; "
                              "0: the project's profile)")
    grading.add_argument("--max-timeouts", type=int, default=3,
                         help="stop a task's tests after this many time-outs (default 3)")
    grading.add_argument("-k", dest="keyword", help="pytest -k expression narrowing every task's tests")
    grading.add_argument("--points", type=float, default=1.0, help="points per task (default 1)")

    checking = commands.add_parser("check", help="check a student's copy for marker text and solution lines")
    checking.add_argument("directory")

    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (markers.MarkerError, assignment.LeakError, ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _list(args) -> int:
    regions = assignment.scan()
    counts = None if args.no_count else grader.collect()
    rows = [("task", "file", "implement", "tests", "marker")]
    for task in tasks.TASKS:
        places = [(path, r) for path, rs in regions.items() for r in rs if r.task == task.id]
        files = ", ".join(sorted({path for path, _ in places})) or "(no region!)"
        parts = ", ".join(dict.fromkeys(r.part for _, r in places))
        count = "-" if counts is None else str(len(counts.get(task.id, [])))
        rows.append((task.id, files, parts, count, task.marker))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = (cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        print("  ".join(cells).rstrip())
    print(f"\n{len(tasks.TASKS)} tasks. tests: how many (on the cpu and sim devices; the cuda variants run "
          "where CuPy finds a GPU).\nRun one task's tests: python -m pytest -m op_<task> <its test file>")
    return 0


def _make(args) -> int:
    ops = [t.id for t in tasks.TASKS] if args.ops.strip() == "all" else args.ops
    made = assignment.make_assignment(args.out, ops, with_docs=args.with_docs, force=args.force)
    print(f"wrote {made.files} files to {made.out}; tasks removed: {', '.join(made.tasks) or 'none'}")
    print(f"checked: no marker text and none of {made.checked_lines} removed solution lines in the copy")
    print(f"grade it with: python -m minigan.course grade {made.out} --json results.json")
    return 0


def _grade(args) -> int:
    report = grader.grade(args.directory, ops=args.ops or None, timeout=args.timeout,
                          task_timeout=args.task_timeout, keyword=args.keyword, max_examples=args.max_examples,
                          max_timeouts=args.max_timeouts, points=args.points, json_path=args.json_path,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(report.table())
    if args.json_path:
        print(f"\nwrote {args.json_path}")
    return 0


def _check(args) -> int:
    directory = Path(args.directory)
    listed = directory / "course.json"
    chosen = json.loads(listed.read_text(encoding="utf-8"))["tasks"] if listed.is_file() else []
    forbidden = assignment.forbidden_lines(assignment.repository_root(), tasks.parse_ops(chosen),
                                           with_docs=(directory / "docs").is_dir())
    assignment.check_copy(directory, forbidden)
    print(f"{directory}: clean (tasks removed: {', '.join(chosen) or 'none'})")
    return 0


COMMANDS = {"list": _list, "make-assignment": _make, "grade": _grade, "check": _check}

if __name__ == "__main__":
    sys.exit(main())
