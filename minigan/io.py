"""Checkpoints: :func:`save` and :func:`load` for nested dicts, lists and tuples of tensors.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` arrays) and never contains pickled
Python objects, so loading a file from someone else cannot run their code:

- every array leaf (a :class:`~minigan.Tensor`, a NumPy array or a NumPy scalar) becomes one
  ``.npy`` member named by its path in the tree, e.g. ``generator/conv1.weight``;
- the member ``__minigan__`` holds a JSON *manifest* (as uint8 bytes) that describes the tree:
  containers, dict keys, which leaf is a tensor, an array or a NumPy scalar, and the plain
  values (numbers, strings, bools, None) inline. Python ints are written as decimal strings and
  floats as ``repr`` strings, so 128-bit RNG states and NaNs come back exactly.

Saving is atomic: the file is written beside its target under a temporary name, flushed to
disk and then renamed over the target, so a crash mid-save leaves the previous checkpoint whole.
"""
from __future__ import annotations

import json
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

from . import backend
from .tensor import Tensor

FORMAT = "minigan-checkpoint"
VERSION = 1
MANIFEST_KEY = "__minigan__"


class CheckpointError(ValueError):
    """A file that is not a readable minigan checkpoint (corrupt, truncated or foreign)."""


# -- saving -----------------------------------------------------------------------------------
def save(obj, path) -> None:
    """Write ``obj`` to ``path`` as a pickle-free ``.npz`` checkpoint, atomically.

    ``obj`` may nest dicts (str or int keys), lists and tuples of tensors (on any device: a
    host copy is saved, with ``requires_grad`` but not ``.grad``), NumPy arrays and scalars
    (not object arrays), and Python ints, floats, strings, bools and None; for example
    ``{"generator": g.state_dict(), "step": 1200, "rng": minigan.backend.rng_state()}``.
    A tensor that appears twice is saved, and loaded, as two tensors. ``path`` is used as
    given (no ``.npz`` is appended).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"save: directory {path.parent} does not exist (saving {path})")
    arrays: dict = {}
    tree = _encode(obj, [], arrays, set())
    manifest = {"format": FORMAT, "version": VERSION, "tree": tree}
    arrays[MANIFEST_KEY] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    _atomic_write(path, arrays)


def _encode(obj, parts: list, arrays: dict, open_containers: set):
    """The manifest node of ``obj``; its array leaves are added to ``arrays``."""
    if isinstance(obj, Tensor):
        key = _add_array(arrays, parts, backend.to_numpy(obj.array), obj)
        return {"t": "tensor", "key": key, "requires_grad": bool(obj.requires_grad and obj.is_leaf),
                "device": str(obj.device)}
    if isinstance(obj, np.ndarray):
        return {"t": "ndarray", "key": _add_array(arrays, parts, obj, obj)}
    if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
        return {"t": "npscalar", "key": _add_array(arrays, parts, np.asarray(obj), obj)}
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, bool):  # before int: bool is an int subclass
        return {"t": "bool", "v": obj}
    if isinstance(obj, int):
        return {"t": "int", "v": str(int(obj))}  # a string: JSON readers may round big ints
    if isinstance(obj, float):
        return {"t": "float", "v": repr(float(obj))}  # repr round-trips exactly, nan/inf included
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if isinstance(obj, dict) or type(obj) in (list, tuple):
        return _encode_container(obj, parts, arrays, open_containers)
    raise TypeError(f"save: cannot save {type(obj).__name__} at {_where(parts)}: expected a Tensor, "
                    "numpy array or scalar, int, float, str, bool, None, or a dict/list/tuple of those")


def _encode_container(obj, parts, arrays, open_containers):
    if id(obj) in open_containers:
        raise ValueError(f"save: the {type(obj).__name__} at {_where(parts)} contains itself")
    open_containers.add(id(obj))
    if isinstance(obj, dict):
        for key in obj:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} "
                                f"({type(key).__name__}) at {_where(parts)}")
        node = {"t": "dict", "items": [[k, _encode(v, parts + [k], arrays, open_containers)]
                                       for k, v in obj.items()]}
    else:
        node = {"t": type(obj).__name__,
                "items": [_encode(v, parts + [i], arrays, open_containers) for i, v in enumerate(obj)]}
    open_containers.discard(id(obj))
    return node


def _add_array(arrays: dict, parts: list, array: np.ndarray, original) -> str:
    """Store ``array`` under a free path-like key made from ``parts``; return the key."""
    if array.dtype.hasobject:
        raise TypeError(f"save: the array at {_where(parts)} has dtype {array.dtype}, which only "
                        "pickle can store; checkpoints hold numeric, bool and string arrays only")
    base = "/".join(_key_part(p) for p in parts) or "_"
    key, n = base, 1
    while key in arrays or key == MANIFEST_KEY:  # e.g. the int key 0 and the str key "0"
        n += 1
        key = f"{base}~{n}"
    arrays[key] = array
    return key


def _key_part(part) -> str:
    """One path component: '/' escaped, and never empty, '.' or '..'."""
    text = str(part).replace("%", "%25").replace("/", "%2F")
    return text if text.strip(".") else text.replace(".", "%2E") + "%"


def _where(parts: list) -> str:
    return "the top level" if not parts else "obj" + "".join(f"[{p!r}]" for p in parts)


def _atomic_write(path: Path, arrays: dict) -> None:
    """Write the archive under a temporary name beside ``path``, fsync it, rename it over ``path``."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as file:
            with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, array in arrays.items():
                    _write_member(zf, key, array)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _write_member(zf: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    """One ``.npy`` member, as ``numpy.savez`` writes it (but never with pickle)."""
    with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable, where the system allows it (best effort: the new file
    is already complete and in place; some file systems refuse to fsync a directory)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


# -- loading ----------------------------------------------------------------------------------
def load(path, device=None):
    """Read a checkpoint written by :func:`save`.

    Tensors come back on the CPU, or on ``device`` (``"cuda"``, ``"sim"``...) when given;
    NumPy arrays and plain values come back as they were saved (tuples as tuples, dict keys
    as str or int). Raises :class:`CheckpointError` naming the file when it is not a readable
    minigan checkpoint, and ``FileNotFoundError`` when there is no file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no checkpoint file at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"load: {path} is not a minigan checkpoint: not an .npz (zip) archive "
                              f"({path.stat().st_size} bytes; truncated, corrupt or another format)")
    arrays, manifest = _read_archive(path)
    device = backend.Device(device) if device is not None else None
    return _decode(manifest["tree"], arrays, device, path)


def _read_archive(path: Path):
    """All arrays of the archive (pickle refused) and its checked manifest."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if MANIFEST_KEY not in npz.files:
                raise CheckpointError(f"load: {path} is an .npz file but not a minigan checkpoint "
                                      f"(no '{MANIFEST_KEY}' manifest; it holds {sorted(npz.files)[:5]})")
            arrays = {key: npz[key] for key in npz.files}
    except CheckpointError:
        raise
    except ValueError as err:  # numpy refusing pickled (object) data, or a malformed .npy header
        raise CheckpointError(f"load: {path} is corrupt: unreadable array ({err})") from err
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise CheckpointError(f"load: {path} is corrupt or truncated: {err}") from err
    return arrays, _parse_manifest(arrays.pop(MANIFEST_KEY), path)


def _parse_manifest(raw: np.ndarray, path: Path) -> dict:
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"load: {path}: the manifest is not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "tree" not in manifest:
        raise CheckpointError(f"load: {path}: the manifest is not a minigan checkpoint manifest")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"load: {path} has checkpoint format version {manifest.get('version')!r}; "
                              f"this minigan reads version {VERSION}")
    return manifest


def _decode(node, arrays: dict, device, path: Path):
    """Rebuild the object that ``node`` describes."""
    try:
        kind = node["t"]
        if kind in ("tensor", "ndarray", "npscalar"):
            return _decode_array(node, kind, arrays, device, path)
        if kind == "dict":
            return {key: _decode(value, arrays, device, path) for key, value in node["items"]}
        if kind in ("list", "tuple"):
            items = [_decode(value, arrays, device, path) for value in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "none":
            return None
        if kind in _PLAIN_TYPES:
            return _decode_plain(kind, node["v"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"load: {path}: corrupt manifest entry {str(node)[:80]} ({err!r})") from err
    raise CheckpointError(f"load: {path}: corrupt manifest: unknown entry type {kind!r}")


# how each plain value is stored in the manifest: int and float as strings (exact), the rest as is
_PLAIN_TYPES = {"int": str, "float": str, "str": str, "bool": bool}


def _decode_plain(kind: str, value):
    if not isinstance(value, _PLAIN_TYPES[kind]):
        raise ValueError(f"a {kind} stored as {type(value).__name__}")
    return int(value) if kind == "int" else float(value) if kind == "float" else value


def _decode_array(node, kind, arrays, device, path):
    key = node["key"]
    if key not in arrays:
        raise CheckpointError(f"load: {path}: the array '{key}' named in the manifest is missing")
    array = arrays[key]
    if kind == "ndarray":
        return array
    if kind == "npscalar":
        return array[()]
    if device is not None:
        array = backend.to_device(array, device)
    return Tensor(array, requires_grad=bool(node.get("requires_grad", False)))
