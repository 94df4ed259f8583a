"""``python -m minigan.course list | make-assignment | grade | copy-submission | check``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import assignment, autograder, grader, markers, scoring, tasks


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
    make.add_argument("--solution", action="store_true",
                      help="keep the reference's code between the YOUR CODE lines: a submission that scores full "
                           "marks (to try the autograder; never hand it out)")
    make.add_argument("--autograder", metavar="ZIP", help="also write Gradescope's autograder zip here")
    make.add_argument("--visibility", default="", choices=("",) + scoring.VISIBILITIES,
                      help="when students see their results (default: Gradescope's setting)")
    make.add_argument("--hidden-visibility", default="after_published", choices=scoring.VISIBILITIES,
                      help="when they see the hidden tests' results (default after_published)")
    make.add_argument("--points", type=float, default=1.0, help="points per task (default 1)")
    make.add_argument("--total-timeout", type=float, default=540.0,
                      help="the autograder's limit for the whole run, in seconds (default 540; Gradescope "
                           "stops it at 600 unless told otherwise)")

    grading = commands.add_parser("grade", help="score each task of a submission")
    grading.add_argument("directory", nargs="?", default=None,
                         help="the submission (default: this copy, when run in a student's copy)")
    grading.add_argument("--ops", default="", help="tasks to grade (default: those in course.json, else all)")
    grading.add_argument("--reference", default=None,
                         help="the reference checkout (default: the one this kit runs from)")
    grading.add_argument("--json", dest="json_path", help="write Gradescope's results.json here")
    grading.add_argument("--timeout", type=float, default=20.0, help="seconds per test (default 20)")
    grading.add_argument("--task-timeout", type=float, default=180.0, help="seconds per task (default 180)")
    grading.add_argument("--total-timeout", type=float, default=600.0,
                         help="seconds for the whole run, shared among the tasks (default 600)")
    grading.add_argument("--max-examples", type=int, default=25,
                         help="Hypothesis examples per property test, derandomized (default 25; "
                              "0: the project's profile)")
    grading.add_argument("--max-timeouts", type=int, default=2,
                         help="stop a task's tests after this many time-outs (default 2)")
    grading.add_argument("-k", dest="keyword", help="pytest -k expression narrowing every task's tests")
    grading.add_argument("--points", type=float, default=1.0, help="points per task (default 1)")
    grading.add_argument("--jobs", type=int, default=1,
                         help="tasks graded at once (default 1: each test's time is its own)")
    grading.add_argument("--run-as", default="", help="run the tests as this user (when the grader runs as root)")
    grading.add_argument("--no-screen", action="store_true",
                         help="run code that uses what a solution never needs (import os, setattr, ...) "
                              "instead of refusing it")
    grading.add_argument("--visibility", default="", choices=("",) + scoring.VISIBILITIES)
    grading.add_argument("--hidden-visibility", default="after_published", choices=scoring.VISIBILITIES)

    taking = commands.add_parser("copy-submission",
                                 help="copy only the files that hold the tasks out of a submission")
    taking.add_argument("submission")
    taking.add_argument("out")
    taking.add_argument("--ops", required=True)

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
    counts = None if args.no_count else grader.planned()
    rows = [("task", "file", "implement", "tests", "parts", "marker")]
    for task in tasks.TASKS:
        places = [(path, r) for path, rs in regions.items() for r in rs if r.task == task.id]
        files = ", ".join(sorted({path for path, _ in places})) or "(no region!)"
        parts = ", ".join(dict.fromkeys(r.part for _, r in places))
        count = "-" if counts is None else str(len(counts.get(task.id, [])))
        shares = " ".join(f"{p.name}={p.weight:g}" for p in task.parts)
        rows.append((task.id, files, parts, count, shares, task.marker))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = (cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        print("  ".join(cells).rstrip())
    print(f"\n{len(tasks.TASKS)} tasks. tests: how many grade the task (on the cpu and sim devices; the cuda "
          "variants and the PyTorch comparisons do not grade).\nRun one task's tests: python -m pytest -m "
          "op_<task> <its test file>")
    return 0


def _make(args) -> int:
    ops = [t.id for t in tasks.TASKS] if args.ops.strip() == "all" else tasks.parse_ops(args.ops)
    made = assignment.make_assignment(args.out, ops, with_docs=args.with_docs, force=args.force,
                                      solution=args.solution)
    print(f"wrote {made.files} files to {made.out}; tasks removed: {', '.join(made.tasks) or 'none'}")
    if args.solution:
        print("the reference's solutions are in it: a submission to try the autograder with, never a handout")
    else:
        print(f"checked: no marker text and none of {made.checked_lines} removed solution lines in the copy")
    if args.autograder:
        settings = autograder.Settings(points=args.points, total_timeout=args.total_timeout,
                                       visibility=args.visibility, hidden_visibility=args.hidden_visibility)
        path = autograder.make_zip(args.autograder, ops, assignment.repository_root(), settings)
        print(f"wrote Gradescope's autograder {path} (upload it as the assignment's autograder)")
    print(f"grade a submission with: python -m minigan.course grade SUBMISSION --ops {','.join(ops)} "
          "--json results.json")
    return 0


def _grade(args) -> int:
    try:
        report = grader.grade(args.directory, ops=args.ops or None, reference=args.reference, timeout=args.timeout,
                              task_timeout=args.task_timeout, total_timeout=args.total_timeout,
                              keyword=args.keyword, max_examples=args.max_examples, max_timeouts=args.max_timeouts,
                              points=args.points, json_path=args.json_path, run_as=args.run_as,
                              use_screen=not args.no_screen, visibility=args.visibility,
                              hidden_visibility=args.hidden_visibility, jobs=args.jobs,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    except grader.GradingStopped:
        print("stopped (SIGTERM)" + (f"; wrote {args.json_path}" if args.json_path else ""), file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)" + (f"; wrote {args.json_path}" if args.json_path else ""), file=sys.stderr)
        return 130
    print(report.table())
    if args.json_path:
        print(f"\nwrote {args.json_path}")
    return 0


def _copy_submission(args) -> int:
    copied, missing = autograder.copy_submission(args.submission, args.out, args.ops, assignment.repository_root())
    for relative in copied:
        print(f"took {relative}")
    for relative in missing:
        print(f"missing {relative} (its tasks score 0)")
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


COMMANDS = {"list": _list, "make-assignment": _make, "grade": _grade, "copy-submission": _copy_submission,
            "check": _check}

if __name__ == "__main__":
    sys.exit(main())
