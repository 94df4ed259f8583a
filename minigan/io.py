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
disk and then renamed over the target, so a crash mid-save leaves the previous checkpoint whole
(and the next save removes the temporary file a killed process left: :mod:`minigan.files`).

Loading treats the file as untrusted: nothing is unpickled, and every size is checked before
memory is taken for it. Each member must be a ``.npy`` array whose header (shape and dtype)
matches the bytes the archive declares for it; a compressed member may not inflate more than
:data:`MAX_INFLATION` times (no zip bombs); all members together may not exceed ``max_bytes``
(:data:`MAX_BYTES` unless the caller raises it); containers may not nest deeper than
:data:`MAX_DEPTH`. Every problem raises :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from . import backend
from .files import remove_stale_temps, temp_path
from .tensor import Tensor

FORMAT = "minigan-checkpoint"
VERSION = 1
MANIFEST_KEY = "__minigan__"
MAX_BYTES = 1 << 30  # load's default cap on the arrays' total size (1 GiB): pass max_bytes= for more
MAX_INFLATION = 100  # a compressed member may declare at most this many times its compressed size
MAX_DEPTH = 100  # dicts, lists and tuples nested deeper than this are refused (saving and loading)


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
    if len(parts) >= MAX_DEPTH:
        raise ValueError(f"save: containers nest deeper than {MAX_DEPTH} levels at {_where(parts[:3])}...; "
                         "load would refuse such a file")
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
    remove_stale_temps(path)  # left by a save that was killed mid-write
    temp = temp_path(path)
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
def load(path, device=None, max_bytes: int = MAX_BYTES):
    """Read a checkpoint written by :func:`save`.

    Tensors come back on the CPU, or on ``device`` (``"cuda"``, ``"sim"``...) when given;
    NumPy arrays and plain values come back as they were saved (tuples as tuples, dict keys
    as str or int). ``max_bytes`` caps the arrays' total size (1 GiB by default; raise it for a
    bigger checkpoint you trust). Raises :class:`CheckpointError` naming the file when it is not
    a readable minigan checkpoint or breaks a limit, and ``FileNotFoundError`` when there is no file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no checkpoint file at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"load: {path} is not a minigan checkpoint: not an .npz (zip) archive "
                              f"({path.stat().st_size} bytes; truncated, corrupt or another format)")
    arrays, manifest = _read_archive(path, max_bytes)
    device = backend.Device(device) if device is not None else None
    return _decode(manifest["tree"], arrays, device, path, 0)


def _read_archive(path: Path, max_bytes: int):
    """All arrays of the archive, each checked before it is read, and its checked manifest."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = _checked_members(zf, path, max_bytes)
            arrays = {key: _read_member(zf, info, key, path) for key, info in members.items()}
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 -- a damaged archive makes zipfile and numpy raise many
        # types (BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError for an unknown
        # compression method, RuntimeError for a set encryption flag...): each means a corrupt file
        raise CheckpointError(f"load: {path} is corrupt or truncated: {type(err).__name__}: {err}") from err
    return arrays, _parse_manifest(arrays.pop(MANIFEST_KEY), path)


def _checked_members(zf: zipfile.ZipFile, path: Path, max_bytes: int) -> dict:
    """{key: ZipInfo} of the archive's members, once what they declare is plausible: a manifest,
    only ``.npy`` members, each name once, stored or deflated, no member inflating more than
    MAX_INFLATION times, no more compressed bytes than the file has, at most ``max_bytes`` in all."""
    infos = zf.infolist()
    names = [info.filename for info in infos]
    if MANIFEST_KEY + ".npy" not in names:
        raise CheckpointError(f"load: {path} is an .npz file but not a minigan checkpoint "
                              f"(no '{MANIFEST_KEY}' manifest; it holds {sorted(names)[:5]})")
    members, declared, compressed = {}, 0, 0
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in members:
            problem = "is not a .npy array" if not name.endswith(".npy") else "appears twice"
            raise CheckpointError(f"load: {path} is not a valid minigan checkpoint: its member {name!r} {problem}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"load: {path} is corrupt: member {name!r} uses compression method "
                                  f"{info.compress_type} (checkpoints are stored or deflated)")
        stored = info.compress_type == zipfile.ZIP_STORED
        inflates = info.file_size > MAX_INFLATION * info.compress_size + 4096
        if inflates or (stored and info.file_size != info.compress_size):
            raise CheckpointError(f"load: {path} is corrupt or hostile: member {name!r} declares {info.file_size} "
                                  f"bytes from {info.compress_size} compressed bytes (a zip bomb?)")
        members[name[:-4]] = info
        declared += info.file_size
        compressed += info.compress_size
    if compressed > path.stat().st_size:
        raise CheckpointError(f"load: {path} is corrupt or truncated: its members declare {compressed} "
                              f"bytes, the file has {path.stat().st_size}")
    if declared > max_bytes:
        raise CheckpointError(f"load: {path} holds {declared} bytes of arrays, more than max_bytes={max_bytes}; "
                              "if you trust this file, load it with a larger max_bytes")
    return members


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, path: Path) -> np.ndarray:
    """One ``.npy`` member: its header is read and checked against the member's declared size
    before the array's memory is taken; object (pickled) dtypes are refused."""
    with zf.open(info) as member:
        shape, fortran_order, dtype = _read_npy_header(member, key, path)
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if member.tell() + nbytes != info.file_size:
            raise CheckpointError(f"load: {path} is corrupt: the array '{key}' declares shape {shape} "
                                  f"{dtype} ({nbytes} bytes), its member holds {info.file_size - member.tell()}")
        if dtype.itemsize == 0:
            return np.empty(shape, dtype=dtype)
        buffer = np.empty(nbytes, dtype=np.uint8)
        view, filled = memoryview(buffer), 0
        while filled < nbytes:  # in 1 MiB pieces: no second copy of a large array
            got = member.readinto(view[filled:filled + (1 << 20)])
            if not got:
                raise CheckpointError(f"load: {path} is truncated: the array '{key}' ends after {filled} of "
                                      f"{nbytes} bytes")
            filled += got
        member.read(1)  # reach the end, where zipfile checks the CRC
    return buffer.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_npy_header(member, key: str, path: Path):
    """(shape, fortran_order, dtype) from a .npy header (format versions 1.0 and 2.0)."""
    try:
        version = np.lib.format.read_magic(member)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f".npy format version {version} is not supported")
        shape, fortran_order, dtype = readers[version](member)
    except ValueError as err:  # numpy's reasons: a bad magic string or header
        raise CheckpointError(f"load: {path} is corrupt: unreadable array '{key}' ({err})") from err
    if dtype.hasobject:
        raise CheckpointError(f"load: {path} is corrupt: unreadable array '{key}': its dtype {dtype} holds "
                              "Python objects, which only pickle could load (refused: allow_pickle=False)")
    return shape, fortran_order, dtype


def _parse_manifest(raw: np.ndarray, path: Path) -> dict:
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"load: {path}: the manifest is not valid JSON ({err})") from err
    except RecursionError as err:
        raise CheckpointError(f"load: {path}: the manifest nests too deep to read "
                              f"(checkpoints nest at most {MAX_DEPTH} levels)") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "tree" not in manifest:
        raise CheckpointError(f"load: {path}: the manifest is not a minigan checkpoint manifest")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"load: {path} has checkpoint format version {manifest.get('version')!r}; "
                              f"this minigan reads version {VERSION}")
    return manifest


def _decode(node, arrays: dict, device, path: Path, depth: int):
    """Rebuild the object that ``node`` describes (``depth``: the containers around it)."""
    if depth > MAX_DEPTH:
        raise CheckpointError(f"load: {path}: corrupt manifest: containers nest deeper than {MAX_DEPTH} levels")
    try:
        kind = node["t"]
        if kind in ("tensor", "ndarray", "npscalar"):
            return _decode_array(node, kind, arrays, device, path)
        if kind == "dict":
            return {_decode_key(key): _decode(value, arrays, device, path, depth + 1) for key, value in node["items"]}
        if kind in ("list", "tuple"):
            items = [_decode(value, arrays, device, path, depth + 1) for value in node["items"]]
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


def _decode_key(key):
    """A dict key as saved: a str, or an int (never a bool: JSON true is not a key save writes)."""
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"a dict key of type {type(key).__name__}")
    return key


# how each plain value is stored in the manifest: int and float as strings (exact), the rest as is
_PLAIN_TYPES = {"int": str, "float": str, "str": str, "bool": bool}


def _decode_plain(kind: str, value):
    if not isinstance(value, _PLAIN_TYPES[kind]):
        raise ValueError(f"a {kind} stored as {type(value).__name__}")
    return int(value) if kind == "int" else float(value) if kind == "float" else value


def _decode_array(node, kind, arrays, device, path):
    key = node["key"]
    if not isinstance(key, str) or key not in arrays:
        raise CheckpointError(f"load: {path}: the array '{key}' named in the manifest is missing")
    array = arrays[key]
    if kind == "ndarray":
        return array
    if kind == "npscalar":
        return array[()]
    if device is not None:
        array = backend.to_device(array, device)
    return Tensor(array, requires_grad=bool(node.get("requires_grad", False)))
