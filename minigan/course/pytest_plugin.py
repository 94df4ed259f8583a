"""The grader's pytest plugin: a per-test time limit, and results written as they happen.

It imports nothing from minigan (the grader copies this file next to, not inside, the
student's copy and loads it with ``-p minigan_course_plugin``), so that the minigan under
test is the student's. Options:

- ``--course-report PATH``: one JSON object per line: ``collected`` (every selected test and its
  ``op_*`` marks), ``collect_error``, ``test`` (outcome, duration, message) after each test,
  ``finished``. Written and flushed as tests finish, so a crash or a kill loses nothing that ran.
- ``--course-timeout SECONDS``: a test running longer is stopped (SIGALRM, Unix only) and fails
  with :class:`CourseTimeout`. ``--course-max-timeouts N`` stops the session after N of them.
- ``--course-max-examples N``: Hypothesis runs N examples per test, derandomized (the same
  examples on every run), with no example database and no shrinking.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

MAX_MESSAGE = 2000  # characters of each failure kept in the report


class CourseTimeout(BaseException):
    """Raised in a test that ran past the time limit. A BaseException, so that neither the
    student's ``except Exception`` nor Hypothesis's shrinking treats it as an ordinary failure."""


def pytest_addoption(parser):
    group = parser.getgroup("minigan-course")
    group.addoption("--course-report", default=None, help="write results as JSON lines to this file")
    group.addoption("--course-timeout", type=float, default=0.0, help="seconds per test (0: no limit)")
    group.addoption("--course-max-timeouts", type=int, default=3,
                    help="stop the session after this many tests timed out")
    group.addoption("--course-max-examples", type=int, default=0,
                    help="Hypothesis examples per test, derandomized (0: the project's profile)")


class _Reporter:
    def __init__(self, config):
        self.config = config
        path = config.getoption("course_report")
        self.file = open(path, "a", encoding="utf-8") if path else None
        self.timeout = config.getoption("course_timeout")
        self.max_timeouts = config.getoption("course_max_timeouts")
        self.timeouts = 0
        self.session = None
        self.phases = {}  # nodeid -> {"outcome", "message", "details", "duration"} so far

    def write(self, record):
        if self.file:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    # -- collection ---------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        problem = _foreign_minigan(session.config.rootpath)
        items = [{"nodeid": item.nodeid,
                  "marks": sorted({m.name for m in item.iter_markers() if m.name.startswith("op_")}),
                  "cuda": item.get_closest_marker("cuda") is not None, "skip": _skipped(item)}
                 for item in session.items]
        self.write({"event": "collected", "items": items, "minigan": problem})
        if problem:
            self.write({"event": "collect_error", "nodeid": "", "message": problem})
            pytest.exit(problem, returncode=4)

    def pytest_collectreport(self, report):
        if report.failed:
            self.write({"event": "collect_error", "nodeid": report.nodeid,
                        "message": _tail(report.longreprtext)})

    # -- the time limit ---------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        armed = self.timeout > 0 and hasattr(signal, "setitimer")
        if armed:
            limit = self.timeout

            def stop(signum, frame):
                raise CourseTimeout(f"the test ran longer than its {limit:g} s time limit "
                                    "(an endless loop?)")
            previous = signal.signal(signal.SIGALRM, stop)
            # fire at the limit, then every second, in case the code swallows the first one
            signal.setitimer(signal.ITIMER_REAL, limit, 1.0)
        try:
            yield
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    # -- results ------------------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report):
        state = self.phases.setdefault(report.nodeid, {"outcome": "passed", "message": "", "details": "",
                                                       "duration": 0.0})
        state["duration"] += getattr(report, "duration", 0.0)
        if state["outcome"] == "passed" and not report.passed:
            if report.skipped:
                state["outcome"] = "skipped"
                state["message"] = _skip_reason(report)
            else:
                state["outcome"] = "failed" if report.when == "call" else "error"
                state["message"], state["details"] = _failure_message(report)
                if "CourseTimeout" in state["message"]:
                    state["outcome"] = "timeout"
                    self.timeouts += 1
        if report.when == "teardown":
            self.write({"event": "test", "nodeid": report.nodeid, **self.phases.pop(report.nodeid)})
            if self.max_timeouts and self.timeouts >= self.max_timeouts:
                self.session.shouldstop = f"stopped after {self.timeouts} time-out(s)"

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_sessionfinish(self, session, exitstatus):
        self.write({"event": "finished", "exitstatus": int(exitstatus),
                    "stopped": str(session.shouldstop or ""), "time": time.time()})
        if self.file:
            self.file.close()
            self.file = None


def pytest_configure(config):
    examples = config.getoption("course_max_examples")
    if examples:
        _load_hypothesis_profile(examples)
    config.pluginmanager.register(_Reporter(config), "minigan-course-reporter")


def _load_hypothesis_profile(examples: int) -> None:
    """Derandomized and without a database: a student gets the same examples on every run.
    No shrinking: a failing property test reports its first failing example at once (shrinking
    a broken op's failure can take half a minute per test)."""
    from hypothesis import HealthCheck, Phase, settings
    settings.register_profile("minigan-course", derandomize=True, database=None, deadline=None,
                              max_examples=examples, print_blob=False, report_multiple_bugs=False,
                              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    settings.load_profile("minigan-course")


def _skipped(item) -> bool:
    """True if a skip mark, or a skipif mark with a plain True condition (the cuda variants
    without a GPU), will skip the test: a test that never ran for another reason is not."""
    if item.get_closest_marker("skip") is not None:
        return True
    return any(mark.args and all(isinstance(a, bool) for a in mark.args) and any(mark.args)
               for mark in item.iter_markers("skipif"))


def _foreign_minigan(rootpath) -> str:
    """An error message if the tests imported a minigan from outside the copy under test."""
    module = sys.modules.get("minigan")
    if module is None or not getattr(module, "__file__", None):
        return ""
    where = os.path.realpath(module.__file__)
    root = os.path.realpath(str(rootpath))
    if os.path.commonpath([where, root]) != root:
        return f"the tests imported minigan from {where}, not from the copy under test ({root})"
    return ""


def _failure_message(report) -> tuple:
    """(the error, with Hypothesis's falsifying example; the traceback's end, where it was raised)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = report.longreprtext or ""
    headline = crash.message if crash is not None else text.strip().splitlines()[-1:] or [""]
    headline = headline if isinstance(headline, str) else headline[0]
    return _tail(headline), text[-MAX_MESSAGE:]


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return _tail(str(longrepr))


def _tail(text: str) -> str:
    """The start of a long message (where the error is named) and its end (where it was raised)."""
    text = str(text)
    if len(text) <= MAX_MESSAGE:
        return text
    half = MAX_MESSAGE // 2
    return text[:half] + "\n[...]\n" + text[-half:]
