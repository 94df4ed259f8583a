"""The grader's pytest plugin: results over an authenticated channel, time limits, a watch on the
test machinery.

It imports nothing from the course kit (the grader copies this file next to, not inside, the
tree under test and loads it with ``-p minigan_course_plugin``), and minigan only from that
tree, so that the minigan under test is the one the grader built. Options:

- ``--course-channel OUT,KEY``: two file descriptors the grader passed down. The plugin reads a
  one-time key from KEY and closes it before any test module is imported, then writes one JSON
  record per line to OUT, each signed with an HMAC of the key and its sequence number:
  ``collected`` (with ``--collect-only``: every test, its file, function and ``op_*`` marks),
  ``start`` (a test begins), ``test`` (its outcome, after teardown), ``tampered``,
  ``finished``. A record the grader cannot verify, or none at all, scores nothing: a report
  file, a patched exit code or printed text are never read.
- ``--course-timeout SECONDS``: a test running longer is stopped (SIGALRM, Unix only) and fails
  with :class:`CourseTimeout`; the alarm fires again every second in case the code swallows it
  (the grader kills the process if it still runs).
- ``--course-max-examples N``: Hypothesis runs N examples per test, derandomized (the same
  examples on every run), with no example database and no shrinking.
- ``--course-hide-torch``: ``import torch`` fails, so the tests that compare with PyTorch skip
  on every machine alike.

Before each test result is sent, the plugin checks that the functions and classes of pytest,
pluggy, Hypothesis, NumPy, the tests, their helpers and this plugin are the ones they were
before the first test ran, and that no plugin or hook was registered since: code under test
that patches the test machinery is reported (``tampered``) instead of being believed.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import signal
import sys
import time

import pytest

MAX_MESSAGE = 2000  # characters of each failure kept in the report
WATCHED = ("builtins", "_pytest", "pytest", "pluggy", "hypothesis", "numpy", "minigan", "helpers", "conftest",
           "test_", "json", "hmac", "hashlib", "os", "signal", "time", "itertools", "minigan_course_plugin")


class CourseTimeout(BaseException):
    """Raised in a test that ran past the time limit. A BaseException, so that neither the
    student's ``except Exception`` nor Hypothesis's shrinking treats it as an ordinary failure."""


def pytest_addoption(parser):
    group = parser.getgroup("minigan-course")
    group.addoption("--course-channel", default=None, help="OUT,KEY: file descriptors from the grader")
    group.addoption("--course-timeout", type=float, default=0.0, help="seconds per test (0: no limit)")
    group.addoption("--course-max-examples", type=int, default=0,
                    help="Hypothesis examples per test, derandomized (0: the project's profile)")
    group.addoption("--course-hide-torch", action="store_true", help="make `import torch` fail")


def _channel(out_fd: int, key: bytes, _write=os.write, _dumps=json.dumps, _new=hmac.new, _sha=hashlib.sha256):
    """A function that signs and sends one record. The key lives only in this closure, and the
    functions it uses are bound now, so that patching json or os later changes nothing here."""
    numbers = itertools.count()

    def send(record):
        payload = _dumps(record, sort_keys=True)
        number = next(numbers)
        mac = _new(key, f"{number}:{payload}".encode(), _sha).hexdigest()
        data = f"{payload}\t{mac}\n".encode()
        while data:
            data = data[_write(out_fd, data):]
    return send


def _read_key(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


class _Reporter:
    def __init__(self, config, send):
        self.config = config
        self.send = send
        self.timeout = config.getoption("course_timeout")
        self.session = None
        self.phases = {}  # nodeid -> {"outcome", "message", "details", "duration"} so far
        self.baseline = None
        self.tampered = ""
        self.package = os.path.realpath(os.path.join(str(config.rootpath), "minigan"))
        self.tracebacks = {}  # nodeid -> the long traceback of its first failure

    # -- collection ---------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if session.config.option.collectonly:
            self.send({"event": "collected", "items": [_describe(item) for item in session.items]})
        self.baseline = _Snapshot(self.config)

    def pytest_collectreport(self, report):
        if report.failed:
            self.send({"event": "collect_error", "nodeid": report.nodeid, "message": _tail(report.longreprtext)})

    # -- the time limit ---------------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid, location):
        self.send({"event": "start", "nodeid": nodeid})

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        armed = self.timeout > 0 and hasattr(signal, "setitimer")
        if armed:
            limit = self.timeout

            def stop(signum, frame):
                raise CourseTimeout(f"the test ran longer than its {limit:g} s time limit (an endless loop?)")
            previous = signal.signal(signal.SIGALRM, stop)
            signal.setitimer(signal.ITIMER_REAL, limit, 1.0)  # at the limit, then every second
        try:
            yield
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    # -- results ------------------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """Keep each failure's long traceback for the report: the child runs with --tb=no, so
        that its own output (read back after a crash) prints no source."""
        yield
        if call.excinfo is not None and item.nodeid not in self.tracebacks:
            try:
                self.tracebacks[item.nodeid] = call.excinfo.getrepr(style="long", tbfilter=True)
            except Exception:  # a traceback that cannot be shown: the error's name is enough
                pass

    def pytest_runtest_logreport(self, report):
        state = self.phases.setdefault(report.nodeid, {"outcome": "passed", "message": "", "details": "",
                                                       "duration": 0.0})
        state["duration"] += getattr(report, "duration", 0.0)
        if state["outcome"] == "passed" and not report.passed:
            if report.skipped:
                state["outcome"], state["message"] = "skipped", _skip_reason(report)
            else:
                state["outcome"] = "failed" if report.when == "call" else "error"
                traceback = self.tracebacks.get(report.nodeid)
                state["message"], state["details"] = _failure_message(report, self.package, traceback)
                if "CourseTimeout" in state["message"]:
                    state["outcome"] = "timeout"
        if report.when == "teardown":
            record = self.phases.pop(report.nodeid)
            self.tracebacks.pop(report.nodeid, None)
            changed = self.tampered or (self.baseline.changes() if self.baseline else "")
            if changed:
                self.tampered = changed
                self.send({"event": "tampered", "nodeid": report.nodeid, "what": changed})
                self.session.shouldstop = "the test machinery was changed"
            else:
                self.send({"event": "test", "nodeid": report.nodeid, **record})

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_sessionfinish(self, session, exitstatus):
        self.send({"event": "finished", "exitstatus": int(exitstatus), "stopped": str(session.shouldstop or ""),
                   "time": time.time()})


def pytest_configure(config):
    channel = config.getoption("course_channel")
    if channel is None:
        return
    out_fd, key_fd = (int(fd) for fd in channel.split(","))
    send = _channel(out_fd, _read_key(key_fd))
    if config.getoption("course_hide_torch"):
        sys.modules["torch"] = None  # import torch raises ImportError: importorskip skips
    examples = config.getoption("course_max_examples")
    if examples:
        _load_hypothesis_profile(examples)
    config.pluginmanager.register(_Reporter(config, send), "minigan-course-reporter")


def _load_hypothesis_profile(examples: int) -> None:
    """Derandomized and without a database: a student gets the same examples on every run.
    No shrinking: a failing property test reports its first failing example at once (shrinking
    a broken op's failure can take half a minute per test)."""
    from hypothesis import HealthCheck, Phase, settings
    settings.register_profile("minigan-course", derandomize=True, database=None, deadline=None,
                              max_examples=examples, print_blob=False, report_multiple_bugs=False,
                              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    settings.load_profile("minigan-course")


def _describe(item) -> dict:
    function = getattr(item, "originalname", None) or item.name.split("[")[0]
    return {"nodeid": item.nodeid, "file": item.nodeid.split("::")[0], "function": function,
            "marks": sorted({m.name for m in item.iter_markers() if m.name.startswith("op_")}),
            "cuda": item.get_closest_marker("cuda") is not None, "skip": _skipped(item)}


def _skipped(item) -> bool:
    """True if a skip mark, or a skipif mark with a plain True condition (the cuda variants
    without a GPU), will skip the test: a test that never ran for another reason is not."""
    if item.get_closest_marker("skip") is not None:
        return True
    return any(mark.args and all(isinstance(a, bool) for a in mark.args) and any(mark.args)
               for mark in item.iter_markers("skipif"))


# -- the watch on the test machinery ---------------------------------------------------------------
class _Snapshot:
    """What must not change while the tests run: every function and class of the watched
    modules (and the functions in those classes, and how many attributes each class has), the
    code of those functions, and the hook implementations pytest calls. Taken once; checked
    after every test by identity, so that a check costs a millisecond."""

    def __init__(self, config):
        self.config, self.entries, self.sizes, self.codes, self.seen = config, [], [], [], set()
        for lazy in ("numpy.testing", "minigan.gradcheck"):  # loaded on first use otherwise: watch them now
            try:
                __import__(lazy)
            except ImportError:
                pass
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(WATCHED) or name.startswith("minigan.course"):
                continue
            try:
                namespace = vars(module)
            except TypeError:
                continue
            for attribute, value in list(namespace.items()):
                if isinstance(value, type):
                    self._watch_class(value)
                elif callable(value):
                    self._watch(namespace, attribute, value, f"{name}.{attribute}")
        self.hooks = _hooks(config)

    def _watch(self, namespace, key, value, label):
        if (id(namespace), key) in self.seen:
            return
        self.seen.add((id(namespace), key))
        self.entries.append((namespace, key, value, label))
        code = getattr(value, "__code__", None)
        if code is not None:
            self.codes.append((value, code, label))

    def _watch_class(self, cls):
        namespace = vars(cls)
        if id(cls) in self.seen:
            return
        self.seen.add(id(cls))
        label = f"{cls.__module__}.{cls.__qualname__}"
        if str(cls.__module__).startswith(WATCHED):  # (typing's and abc's classes cache attributes as they go)
            self.sizes.append((namespace, set(namespace), label))
        for key, value in list(namespace.items()):
            if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                self._watch(namespace, key, value, f"{label}.{key}")

    def changes(self) -> str:
        changed = [label for namespace, key, value, label in self.entries if namespace.get(key) is not value]
        changed += [label for function, code, label in self.codes if getattr(function, "__code__", None) is not code]
        changed += [f"{label}.{key} (added)" for namespace, keys, label in self.sizes if len(namespace) != len(keys)
                    for key in set(namespace) - keys if not (key.startswith("__") and key.endswith("__"))]
        if _hooks(self.config) != self.hooks:
            changed.append("pytest's plugins or hook implementations")
        return ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")


def _hooks(config) -> tuple:
    manager = config.pluginmanager
    callers = tuple((name, tuple(id(i.function) for i in caller.get_hookimpls()))
                    for name, caller in sorted(vars(manager.hook).items()) if hasattr(caller, "get_hookimpls"))
    return callers, tuple(sorted(id(p) for p in manager.get_plugins())), id(getattr(manager, "_inner_hookexec", None))


# -- messages ------------------------------------------------------------------------------------------------
def _failure_message(report, package, traceback=None) -> tuple:
    """(the error, with Hypothesis's falsifying example; the traceback's end, where it was raised).
    The traceback shows no source of the package under test (``package``): outside the task's
    own regions that is the reference's code, which may solve another task the student has."""
    longrepr = traceback if traceback is not None else report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = str(longrepr) if traceback is not None else (report.longreprtext or "")
    headline = crash.message if crash is not None else text.strip().splitlines()[-1:] or [""]
    headline = headline if isinstance(headline, str) else headline[0]
    return _tail(headline), _traceback_without_package_source(longrepr, package, text)[-MAX_MESSAGE:]


def _traceback_without_package_source(longrepr, package, text: str) -> str:
    chain = getattr(longrepr, "chain", None)
    if chain is None:
        traceback = getattr(longrepr, "reprtraceback", None)
        if traceback is None:
            return "" if package in text else text  # an unusual report: keep it only if it cannot leak
        chain = [(traceback, None, None)]
    lines = []
    for traceback, _, description in chain:
        for entry in getattr(traceback, "reprentries", []):
            location = getattr(entry, "reprfileloc", None)
            source = list(getattr(entry, "lines", []))
            path = os.path.realpath(os.path.join(os.path.dirname(package), location.path)) if location else ""
            if location is None or not path.startswith(package + os.sep):
                lines += source + ([f"{location.path}:{location.lineno}: {location.message}"] if location else [])
            else:  # where, and the error raised there, without the package's source lines
                lines += [f"{location.path}:{location.lineno}: {location.message}"]
                lines += [line for line in source if line.startswith("E ")]
        if description:
            lines.append(description)
    return "\n".join(lines)


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
