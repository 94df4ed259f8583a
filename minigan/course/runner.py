"""runner: one task's tests in child pytest processes, with limits the student's code cannot lift.

:func:`run_tests` starts ``python -m pytest -- <node ids>`` in a tree the grader built, in its
own process group (ended with the grader: on Linux the child also dies when the grader dies),
with a clean environment and the plugin of :mod:`minigan.course.pytest_plugin`. The plugin
sends each result over a pipe, signed with a key only this run knows; the grader reads nothing
else. It watches the clock too: a test that runs past its limit and did not stop (the code
caught the plugin's time-out) is killed with the process group, named, and the remaining tests
run in a fresh process; so is a test during which the process died (``os._exit``, a crash).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN = "minigan_course_plugin"
OUTPUT_TAIL = 3000  # characters of a child's own output kept when it fails to report
# Linux: the test process gets SIGKILL when the grader dies, however the grader dies. Set in a
# trampoline that then execs pytest (the setting survives exec), not in a preexec_fn, which is
# unsafe when the grader grades tasks in threads.
DIE_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                   "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
                   "os.execv(sys.argv[1], sys.argv[1:])")
KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "VIRTUAL_ENV", "OPENBLAS_NUM_THREADS",
                    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")


@dataclass
class Limits:
    """How long things may take and how many failures of the process a task absorbs."""
    timeout: float = 20.0  # seconds per test (the plugin's alarm)
    grace: float = 5.0  # then the grader kills the process
    max_timeouts: int = 2  # time-outs before a task's remaining tests are given up
    max_crashes: int = 2  # process deaths in a test before the same
    max_examples: int = 25  # Hypothesis examples per property test (0: the project's profile)
    hide_torch: bool = True
    run_as: str = ""  # a user to run the tests as (when the grader runs as root)


@dataclass
class Outcome:
    nodeid: str
    outcome: str  # passed, failed, error, timeout, crashed, skipped, not run
    message: str = ""
    duration: float = 0.0
    details: str = ""


@dataclass
class Run:
    """What came back from the child processes of one task."""
    results: dict = field(default_factory=dict)  # nodeid -> Outcome
    error: str = ""  # why tests did not run, or the run was refused
    refused: bool = False  # the channel was forged or the test machinery changed: nothing counts
    collected: list = field(default_factory=list)  # with collect=True: the plugin's items


class ChannelError(Exception):
    """A record the grader cannot verify."""


class Channel:
    """The reading end of the plugin's pipe: verified records, in order."""

    def __init__(self, fd: int, key: bytes):
        self.fd, self.key, self.buffer, self.number = fd, key, b"", 0

    def read(self, timeout: float) -> list:
        """The records that arrived within ``timeout`` seconds ([] on none); None at end of file."""
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        if not ready:
            return []
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [self._verify(line) for line in lines]

    def _verify(self, line: bytes) -> dict:
        try:
            payload, mac = line.decode("utf-8").rsplit("\t", 1)
        except (UnicodeDecodeError, ValueError):
            raise ChannelError(f"an unsigned line on the results channel: {line[:200]!r}") from None
        expected = hmac.new(self.key, f"{self.number}:{payload}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            raise ChannelError(f"a record with a wrong signature on the results channel: {payload[:200]}")
        self.number += 1
        return json.loads(payload)


def child_environment(tree: Path, plugin_dir: Path, home: Path) -> dict:
    """A clean environment: the tree and the plugin on the path, nothing else from outside that
    could change how pytest or Hypothesis behave (PYTEST_ADDOPTS, HYPOTHESIS_PROFILE, plugins)."""
    env = {k: os.environ[k] for k in KEPT_ENVIRONMENT if k in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(plugin_dir), str(tree)]), PYTHONDONTWRITEBYTECODE="1",
               PYTHONNOUSERSITE="1", PYTHONHASHSEED="0", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", HOME=str(home),
               MPLBACKEND="Agg", MPLCONFIGDIR=str(home / "matplotlib"), TMPDIR=str(home / "tmp"),
               HYPOTHESIS_STORAGE_DIRECTORY=str(home / "hypothesis"))
    return env


def pytest_command(python: str, channel: str, limits: Limits, basetemp: Path, args, collect: bool,
                   options=()) -> list:
    command = [python, "-m", "pytest", "-q", "--tb=no", "-p", PLUGIN, "-p", "no:cacheprovider", "-o", "addopts=",
               "-o", "console_output_style=classic", "--basetemp", str(basetemp), "--course-channel", channel,
               "--course-timeout", str(limits.timeout), "--course-max-examples", str(limits.max_examples)]
    if _importable("_hypothesis_pytestplugin"):
        command[5:5] = ["-p", "_hypothesis_pytestplugin"]
    if limits.hide_torch:
        command.append("--course-hide-torch")
    if collect:
        command.append("--collect-only")
    return command + list(options) + ["--", *args]


def _importable(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def run_tests(tree: Path, args, limits: Limits, deadline: float, scratch: Path, python: str = sys.executable,
              collect: bool = False, plugin_dir: Path = None, options=(), stopping=None) -> Run:
    """Run the tests ``args`` (node ids, or files with ``collect``) in ``tree`` until each has a
    result, the limits give up on the rest, or ``deadline`` (time.monotonic()) passes.
    ``scratch``: a folder for logs and temporary files; ``plugin_dir``: where the plugin is;
    ``stopping``: a threading.Event that, once set, ends the run (its process group killed)."""
    run = Run()
    remaining, timeouts, crashes = list(args), 0, 0
    while remaining:
        if stopping is not None and stopping.is_set():
            _give_up(run, remaining, "not run: the grader was stopped")
            break
        if time.monotonic() >= deadline:
            _give_up(run, remaining, "not run: the task's time limit was reached")
            run.error = run.error or "the task's time limit was reached"
            break
        child = _Child(tree, remaining, limits, deadline, scratch, python, collect, plugin_dir, options,
                       limits.max_timeouts - timeouts, stopping)
        child.wait()
        run.collected = child.collected or run.collected
        if child.forged:
            run.refused, run.error = True, child.forged
            return run
        for record in child.results:
            run.results[record.nodeid] = record
        timeouts += sum(r.outcome == "timeout" for r in child.results)
        if collect:
            if child.collected is None:
                run.error = child.failure("collecting the tests failed")
            break
        ended = _charge_the_running_test(run, child, limits)
        timeouts, crashes = timeouts + (ended == "timeout"), crashes + (ended == "crashed")
        remaining = [n for n in remaining if n not in run.results]
        why = _why_give_up(child, timeouts, crashes, limits) if remaining else ""
        if why:
            _give_up(run, remaining, f"not run: {why}")
            run.error = why
            break
    return run


def _charge_the_running_test(run: Run, child, limits: Limits) -> str:
    """If the process ended (or was ended) inside a test, that test's outcome ("timeout" or
    "crashed"), recorded in ``run``; else ""."""
    nodeid = child.running
    if nodeid is None:
        return ""
    if child.hard_timeout:
        run.results[nodeid] = Outcome(nodeid, "timeout", (
            f"the test ran past its {limits.timeout:g} s time limit and did not stop (the code caught the "
            f"time-out): the grader ended the test process after {limits.timeout + limits.grace:g} s"))
        return "timeout"
    if child.out_of_time:
        run.results[nodeid] = Outcome(nodeid, "timeout", "the task's time limit was reached during this test")
        return ""
    run.results[nodeid] = Outcome(nodeid, "crashed", child.failure("the test process died during this test"))
    return "crashed"


def _why_give_up(child, timeouts: int, crashes: int, limits: Limits) -> str:
    """Why the tests that are left will not run in a new process ("" if they will)."""
    if child.out_of_time:
        return "the task's time limit was reached"
    if timeouts >= limits.max_timeouts:
        return f"the task was stopped after {timeouts} time-out(s)"
    if crashes > limits.max_crashes:
        return f"the test process died {crashes} times"
    if child.running is None:  # it ended without being inside a test: a new one would do the same
        return child.failure("pytest ended before these tests ran")
    return ""


def _give_up(run: Run, nodeids, why: str) -> None:
    for nodeid in nodeids:
        run.results.setdefault(nodeid, Outcome(nodeid, "not run", why))


class _Child:
    """One child pytest, read until it exits or is ended."""

    def __init__(self, tree, args, limits, deadline, scratch, python, collect, plugin_dir, options,
                 timeouts_left=1, stopping=None):
        self.limits, self.deadline, self.expected = limits, deadline, set(args)
        self.timeouts_left, self.stopping = timeouts_left, stopping
        self.results, self.collected, self.running, self.started_at = [], None, None, 0.0
        self.hard_timeout = self.out_of_time = False
        self.forged = ""
        self.finished = None
        self.log_path = scratch / f"pytest-{secrets.token_hex(4)}.log"
        key = secrets.token_bytes(32)
        key_read, key_write = os.pipe()
        os.write(key_write, key)
        os.close(key_write)
        out_read, out_write = os.pipe()
        home = scratch / "home"
        for folder in (home / "tmp", home / "matplotlib", home / "hypothesis"):
            folder.mkdir(parents=True, exist_ok=True)
        command = pytest_command(python, f"{out_write},{key_read}", limits, scratch / "basetemp", args, collect,
                                 options)
        if sys.platform == "linux":
            command = [python, "-I", "-S", "-c", DIE_WITH_PARENT, *command]
        extra = {}
        if limits.run_as and hasattr(os, "geteuid") and os.geteuid() == 0:
            extra["user"] = limits.run_as
            _give_to(limits.run_as, scratch, home)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=tree, env=child_environment(tree, plugin_dir, home), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(out_write, key_read), **extra)
        os.close(out_write)
        os.close(key_read)
        self.channel = Channel(out_read, key)

    def wait(self) -> None:
        try:
            self._read_until_exit()
        finally:
            _end_group(self.process)
            os.close(self.channel.fd)

    def _read_until_exit(self) -> None:
        while True:
            now = time.monotonic()
            if self.stopping is not None and self.stopping.is_set():
                return
            if now >= self.deadline:
                self.out_of_time = True
                return
            if self.running is not None and now - self.started_at > self.limits.timeout + self.limits.grace:
                self.hard_timeout = True
                return
            try:
                records = self.channel.read(0.2)
            except ChannelError as error:
                self.forged = f"the results could not be trusted: {error}"
                return
            if records is None:  # end of file: the child (and anything it started) is done writing
                self.process.wait()
                return
            for record in records:
                if not self._take(record):
                    return
            if records == [] and self.process.poll() is not None:
                try:  # it exited; whatever it wrote last is still in the pipe
                    tail = self.channel.read(0.0)
                except ChannelError as error:
                    self.forged = f"the results could not be trusted: {error}"
                    return
                for record in tail or []:
                    if not self._take(record):
                        return
                return

    def _take(self, record: dict) -> bool:
        """Handle one verified record; False when the run must stop here."""
        event = record.get("event")
        if event == "start":
            self.running, self.started_at = record["nodeid"], time.monotonic()
        elif event == "test":
            nodeid = record["nodeid"]
            if nodeid not in self.expected or any(r.nodeid == nodeid for r in self.results):
                self.forged = f"a result for a test that was not asked for, or twice: {nodeid}"
                return False
            self.results.append(Outcome(nodeid, record["outcome"], record.get("message", ""),
                                        record.get("duration", 0.0), record.get("details", "")))
            self.running = None
            if record["outcome"] == "timeout":
                self.timeouts_left -= 1
                if self.timeouts_left <= 0:  # the task gives up on its remaining tests: end the process now
                    return False
        elif event == "tampered":
            self.forged = (f"the code under test changed the test machinery during {record.get('nodeid')}: "
                           f"{record.get('what')}")
            return False
        elif event == "collected":
            self.collected = record["items"]
        elif event == "collect_error":
            self.collect_error = record.get("message", "")
        elif event == "finished":
            self.finished = record
        return True

    def failure(self, what: str) -> str:
        """``what``, with the exit code and the end of the process's own output."""
        code = self.process.returncode
        reason = f"exit code {code}" if code is None or code >= 0 else f"signal {signal.Signals(-code).name}"
        error = getattr(self, "collect_error", "")
        text = _tail(self.log_path)
        return f"{what} ({reason}){': ' + error if error else ''}\n{text}".rstrip()


def _end_group(process) -> None:
    """Kill the child's whole process group (anything it started too), then reap the child."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        try:
            process.kill()
        except ProcessLookupError:
            pass
    process.wait()


def _give_to(user: str, work: Path, home: Path) -> None:
    """Let ``user`` write its temporary files in ``work`` and ``home`` (the tree in ``work``
    stays read-only to it)."""
    import pwd
    entry = pwd.getpwnam(user)
    for path in [work, *home.rglob("*"), home]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-OUTPUT_TAIL:].strip()
