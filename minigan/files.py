"""Writing a file so that a crash never leaves half of it: a temporary name, then a rename.

A writer puts its bytes under a hidden temporary name beside the target,
``.<target>.<pid>-<random>.tmp``, and renames that file over the target once it is complete
(``os.replace`` is atomic). A process killed mid-write cannot remove its temporary file, so
each new write of the same target first removes the *stale* ones: those of the same target
whose writer is gone (its process id no longer runs on this machine) or, when the name holds
no process id or the system cannot tell, that nobody has written to for
:data:`STALE_AFTER` seconds. A live writer's file is never touched, nor any file that is not
one of these temporary names.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

STALE_AFTER = 15 * 60  # seconds without a write after which a temporary file is abandoned


def temp_path(target: Path, suffix: str = ".tmp") -> Path:
    """A fresh hidden name beside ``target`` that names this process: .<name>.<pid>-<hex><suffix>."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def remove_stale_temps(target: Path, suffix: str = ".tmp") -> list:
    """Delete the abandoned temporary files of ``target`` (see the module docstring); returns
    their paths. Also recognises the older names without a process id (``.<name>.<hex>.tmp``)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:(\d+)-)?[0-9a-f]{{8}}{re.escape(suffix)}")
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(1)) if match.group(1) else None
        if _is_stale(entry, pid):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass  # gone already, or not ours to remove
    return removed


def _is_stale(entry: os.DirEntry, pid) -> bool:
    if pid is not None and os.name == "posix":
        return pid != os.getpid() and not _process_exists(pid)
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER
    except OSError:
        return False


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # it exists but belongs to someone else, or the id is odd: leave the file
    return True


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (same permissions as
    any file this process creates: the umask applies)."""
    path = Path(path)
    remove_stale_temps(path)
    temp = temp_path(path)
    try:
        with open(temp, "xb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
