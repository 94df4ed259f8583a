"""What the example scripts share on the command line: values checked the argparse way, and
errors told in one line.

- :func:`positive_int`, :func:`positive_float`, :func:`existing_dir` and their kin are
  argparse ``type=`` functions: a bad value ends in argparse's usage message and exit
  status 2, before anything runs.
- :func:`given_options` says which options the user typed (not left at their defaults): a
  resumed run compares those with its saved configuration.
- :func:`run_script` runs a script's body and turns what a user can meet at run time into one
  line on stderr that says what to do, and an exit status: 2 for a :class:`UsageError` (in
  argparse's words), 1 for an error, 128 + N for a run stopped by signal N. With ``--debug``
  the traceback is shown instead.
- :class:`ProgressBar` shows an epoch's steps: tqdm when it is installed, else a text line.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from .backend import device_argument


class UsageError(ValueError):
    """A command-line choice that cannot work, found once the data or checkpoint is read
    (e.g. a batch larger than the dataset): reported like an argparse error."""


def positive_int(text: str) -> int:
    """An int >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An int >= 0."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0 (a learning rate, a weight, a bound); 'inf' only where said."""
    value = _float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite float >= 0 (a loss weight, which 0 switches off)."""
    value = _float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive_float_or_inf(text: str) -> float:
    """A float > 0, 'inf' allowed (a bound that can be switched off)."""
    value = _float(text)
    if not value > 0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be > 0 (or inf), got {text}")
    return value


def unit_interval(text: str) -> float:
    """A float in [0, 1) (Adam's betas)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def existing_dir(text: str) -> str:
    """A folder that exists (a data folder: a typo must not fall back silently to other data)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return text


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """--device: cpu (default), cuda or cuda:N, checked as the command line is read."""
    parser.add_argument("--device", default="cpu", type=device_argument, help="cpu, cuda or cuda:N")


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback")


def given_options(parser: argparse.ArgumentParser, argv) -> set:
    """The ``dest`` names of the options present on the command line ``argv`` (None: sys.argv),
    as opposed to those left at their defaults. ``parser`` must have no required arguments.

    Every option starts out as a marker in the namespace; argparse then sets only what was
    typed (it fills in defaults only where the namespace has nothing)."""
    absent = object()
    namespace = argparse.Namespace(**dict.fromkeys(vars(parser.parse_args([])), absent))
    return {dest for dest, value in vars(parser.parse_args(argv, namespace=namespace)).items() if value is not absent}


def run_script(body, args, parser: argparse.ArgumentParser):
    """``body(args)``, with the errors a user can meet told in one line (see the module docstring)."""
    from .gan.runs import RunStopped  # here: minigan.gan imports much more than a script may need
    try:
        return body(args)
    except RunStopped as stop:
        print(f"{parser.prog}: {stop}", file=sys.stderr)
        raise SystemExit(stop.exit_code) from None
    except UsageError as err:
        if getattr(args, "debug", False):
            raise
        parser.error(one_line(err))
    except KeyboardInterrupt:
        if getattr(args, "debug", False):
            raise
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as err:  # noqa: BLE001 -- each becomes one line; --debug shows the rest
        if getattr(args, "debug", False):
            raise
        print(f"{parser.prog}: error: {describe(err)}", file=sys.stderr)
        raise SystemExit(1) from None


def describe(err: Exception) -> str:
    """One line for ``err``: minigan's own errors and the system's (files, disk) as they are,
    anything else with its type and a pointer to --debug."""
    from .data import DataError, DownloadError
    from .gan.runs import RunError
    from .gan.trainer import DivergenceError
    from .io import CheckpointError
    if isinstance(err, (RunError, DivergenceError, CheckpointError, DataError, DownloadError, OSError)):
        return one_line(err)
    return f"{type(err).__name__}: {one_line(err)} (run again with --debug for the traceback)"


def one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class ProgressBar:
    """tqdm when it is installed; otherwise a one-line text bar on stderr."""

    def __init__(self, total: int, desc: str, shown: bool = True):
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True) if shown else None
        except ImportError:
            self._bar = None
        self.total, self.desc, self.n, self.shown = total, desc, 0, shown

    def update(self, n: int, postfix: dict) -> None:
        if not self.shown:
            return
        text = " ".join(f"{k}={v:.3g}" for k, v in postfix.items())
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(n)
            return
        self.n += n
        width = 30
        filled = width * self.n // max(self.total, 1)
        sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} {text}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.shown:
            sys.stderr.write("\n")
