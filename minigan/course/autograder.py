"""autograder: Gradescope's autograder zip for an assignment, and taking a submission apart.

The zip holds, at its root (Gradescope unpacks it into /autograder/source):

- ``setup.sh``: run once, as root, when Gradescope builds the image: a virtual environment with
  the package's test dependencies, and an unprivileged user ``student`` that runs the tests;
- ``run_autograder``: run for every submission: copies only the files that hold the
  assignment's tasks out of /autograder/submission (:func:`copy_submission`), then grades them
  against the reference here, writing /autograder/results/results.json;
- the reference: the package with its solution regions, the tests of the tasks (the hidden ones
  too), setup.cfg, pyproject.toml and README.md;
- ``course.json``: the assignment (tasks and grading settings), for people reading the zip.
"""
from __future__ import annotations

import json
import shlex
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import tasks as catalogue, trees
from .scoring import VISIBILITIES

SOURCE_FILES = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE")


@dataclass
class Settings:
    """What run_autograder passes to ``grade``."""
    points: float = 1.0
    timeout: float = 20.0
    task_timeout: float = 180.0
    total_timeout: float = 540.0  # Gradescope's default limit is 600 s
    visibility: str = ""  # the whole result: "" (Gradescope's default), or one of VISIBILITIES
    hidden_visibility: str = "after_published"  # the entries of the hidden tests

    def check(self) -> None:
        for name in ("visibility", "hidden_visibility"):
            value = getattr(self, name)
            if value and value not in VISIBILITIES:
                raise ValueError(f"{name} must be one of {', '.join(VISIBILITIES)}, got {value!r}")


SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
apt-get install -y python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install -e "/autograder/source[test]"
# the students' code runs as this user: it cannot write the results, the reference or the grader
id -u student >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin student
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, in /autograder.
# Only the files that hold the assignment's tasks are taken from the submission; the tests, the
# grader and the rest of the package are the reference's, in /autograder/source.
set -u
cd /autograder/source
PYTHON=/autograder/venv/bin/python
rm -rf /autograder/student
$PYTHON -m minigan.course copy-submission /autograder/submission /autograder/student --ops {ops}
exec $PYTHON -m minigan.course grade /autograder/student --ops {ops} \\
    --json /autograder/results/results.json --run-as student {options}
"""


def make_zip(path, chosen, root: Path, settings: Settings = None) -> Path:
    """Write the autograder zip for the tasks ``chosen`` of the reference at ``root``."""
    settings = settings or Settings()
    settings.check()
    source = trees.Source.at(root)
    if source.handout:
        raise ValueError(f"{root} is a student's copy, not the reference: the autograder needs the solutions")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ops = ",".join(chosen)
    options = [f"--points {settings.points:g}", f"--timeout {settings.timeout:g}",
               f"--task-timeout {settings.task_timeout:g}", f"--total-timeout {settings.total_timeout:g}",
               f"--hidden-visibility {settings.hidden_visibility}"]
    if settings.visibility:
        options.append(f"--visibility {settings.visibility}")
    files = _reference_files(source, chosen)
    partial = path.with_name(f".{path.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "setup.sh", SETUP)
        _add(archive, "run_autograder", RUN.format(ops=shlex.quote(ops), options=" ".join(options)))
        info = {"tasks": list(chosen), "settings": vars(settings),
                "files": sorted({f for t in chosen for f in source.region_files(t)})}
        _add(archive, "course.json", json.dumps(info, indent=2) + "\n", executable=False)
        for relative in files:
            archive.write(root / relative, relative)
    partial.replace(path)
    return path


def _reference_files(source: trees.Source, chosen) -> list:
    """The package (all of it: the grader is in it) and the tests grading needs."""
    files = [p.relative_to(source.root).as_posix() for p in sorted((source.root / "minigan").rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")]
    files += source.test_files(chosen)
    files += [f for f in SOURCE_FILES if (source.root / f).is_file()]
    return files


def _add(archive, name: str, text: str, executable: bool = True) -> None:
    entry = zipfile.ZipInfo(name)
    mode = 0o755 if executable else 0o644
    entry.external_attr = (stat.S_IFREG | mode) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(entry, text)


def copy_submission(submission, out, chosen, root: Path) -> tuple:
    """Copy the files that hold the ``chosen`` tasks from ``submission`` to ``out`` at their
    place in the package (a flat upload's files are found by name). Returns (copied, missing)."""
    source = trees.Source.at(root)
    submission, out = Path(submission), Path(out)
    copied, missing = [], []
    for relative in sorted({f for t in catalogue.parse_ops(chosen) for f in source.region_files(t)}):
        found = trees.find_file(submission, relative)
        if found is None:
            missing.append(relative)
            continue
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, target)
        copied.append(relative)
    return copied, missing
