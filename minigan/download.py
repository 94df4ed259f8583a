"""Downloading a data file safely: from the first mirror that serves it whole, with a
progress bar, into a temporary file that is renamed only once its SHA-256 is right.

A mirror is not trusted to behave: each read waits at most ``timeout`` seconds, the whole file
must arrive within ``deadline`` seconds (a server that trickles a byte at a time is given up
on), and no more than ``max_bytes`` are accepted (a server that streams without end is cut off,
and nothing that large is written)."""
from __future__ import annotations

import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .files import remove_stale_temps, temp_path
from .idx import DataError, _content_sha256

DEADLINE = 15 * 60.0  # seconds for one file, from the request to the last byte
MAX_BYTES = 1 << 30  # the most bytes accepted for one file, unless the caller knows better


class DownloadError(OSError):
    """A file could not be downloaded from any mirror; ``offline`` is True when none answered."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def download(stem: str, mirrors, directory, sha256: str, progress: bool = True,
             timeout: float = 30.0, deadline: float = DEADLINE, max_bytes: int = MAX_BYTES) -> Path:
    """Download ``stem + ".gz"`` from the first mirror that serves it whole, into ``directory``.

    The file is streamed to a temporary name in ``directory`` and renamed to its final name
    only once complete and once the SHA-256 of its (gunzipped) content equals ``sha256``, so
    an interrupted or wrong download never leaves a file behind. ``mirrors`` are base URLs
    tried in order. ``timeout`` bounds each wait for the server, ``deadline`` the whole
    transfer of one file (seconds), ``max_bytes`` its size. Raises :class:`DownloadError`
    listing what every mirror did.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create the download folder {directory}: {err}") from err
    target = directory / f"{stem}.gz"
    remove_stale_temps(target, ".part")  # left by a download that was killed
    failures, offline = [], True
    for url in _urls(mirrors, target.name):
        temp = temp_path(target, ".part")
        try:
            _fetch(url, temp, progress, timeout, time.monotonic() + deadline, max_bytes)
            _verify(temp, sha256)
            os.replace(temp, target)
            return target
        except (OSError, http.client.HTTPException, DataError) as err:
            failures.append(f"{url}: {_reason(err)}")
            offline = offline and _is_connection_failure(err)
        finally:
            temp.unlink(missing_ok=True)
    summary = "no mirror could be reached (offline?)" if offline else "every mirror failed"
    raise DownloadError(f"could not download {target.name}: {summary}: " + "; ".join(failures),
                        offline=offline)


def _urls(mirrors, filename: str) -> list:
    mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
    return [base.rstrip("/") + "/" + filename for base in mirrors]


def _fetch(url: str, temp: Path, progress: bool, timeout: float, give_up_at: float, max_bytes: int) -> None:
    """Stream ``url`` into the new file ``temp``, checking the length the server announced,
    the size limit and the deadline (``give_up_at``, on the time.monotonic clock) as it goes."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(temp, "xb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise DownloadError(f"the server announces {total} bytes, more than the {max_bytes} this file may have")
        bar = _progress_bar(total, Path(urllib.parse.urlparse(url).path).name) if progress else None
        received, started = 0, time.monotonic()
        try:
            while chunk := response.read1(1 << 16):  # read1: what has arrived, so the clock is checked often
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(f"the server sent more than {max_bytes} bytes, the most this file may have")
                if time.monotonic() > give_up_at:
                    raise DownloadError(f"gave up after {time.monotonic() - started:.0f} s with {received} bytes "
                                        "received: the server is too slow (the deadline for one file)")
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and received != total:
            raise DownloadError(f"connection closed after {received} of {total} bytes")
        out.flush()
        os.fsync(out.fileno())


def _verify(path: Path, sha256: str) -> None:
    actual = _content_sha256(path)
    if actual != sha256:
        raise DataError(f"SHA-256 of the content is {actual}, expected {sha256}")


def _reason(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"no connection ({err.reason})"
    if isinstance(err, http.client.IncompleteRead):
        return f"connection closed after {len(err.partial)} bytes ({err.expected} more expected)"
    return str(err) or type(err).__name__


def _is_connection_failure(err: Exception) -> bool:
    """True when no server answered at all (as opposed to a server that answered badly)."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    return isinstance(err, (urllib.error.URLError, socket.timeout, ConnectionError))


def _progress_bar(total, label: str):
    """A tqdm bar when tqdm is installed, else a plain text bar on stderr."""
    try:
        from tqdm import tqdm
    except ImportError:
        return TextProgress(total, label)
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)


class TextProgress:
    """A one-line progress bar on ``stream`` (stderr), redrawn at each new percent."""

    WIDTH = 30

    def __init__(self, total, label: str, stream=None):
        self.total, self.label, self.done = total, label, 0
        self.stream = stream if stream is not None else sys.stderr
        self._shown = None

    def update(self, n: int) -> None:
        self.done += n
        if self.total:
            percent = min(100, 100 * self.done // self.total)
            step, text = percent, self._bar(percent)
        else:
            step = self.done >> 20  # redraw each MiB when the size is unknown
            text = f"{self.label} {self.done / 1e6:.1f} MB"
        if step != self._shown:
            self._shown = step
            self.stream.write("\r" + text)
            self.stream.flush()

    def _bar(self, percent: int) -> str:
        filled = self.WIDTH * percent // 100
        return (f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}% "
                f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB")

    def close(self) -> None:
        if self._shown is not None:
            self.stream.write("\n")
            self.stream.flush()
