"""NCCL through CuPy (``cupy.cuda.nccl``): the collectives of one GPU per rank.

NCCL's ranks find each other through a *unique id*, 128 bytes that rank 0 makes
(``nccl.get_unique_id()``) and every rank passes to ``NcclCommunicator(world_size, id, rank)``.
There are two ways here to hand it round, as the issue of data-parallel training asks:

- **over MPI** (:func:`init_over_mpi`; mpiexec started the job): MPI says each process's rank,
  the world size and the local rank (its GPU), and broadcasts rank 0's id;
- **through the environment** (:func:`init_from_environment`): ``RANK``, ``WORLD_SIZE`` and
  ``LOCAL_RANK`` (as torchrun sets them) say who is who, and ``MINIGAN_RENDEZVOUS`` names a
  file every rank can read (a shared file system across machines): rank 0 writes the id there
  atomically, the others wait for it, and rank 0 deletes it once every rank has joined. The
  file must not exist when the job starts (PyTorch's ``file://`` initialisation has the same
  rule): a stale one from a crashed job would send the other ranks to a group that never forms.

Each collective is enqueued on the current CUDA stream, after the kernels that made its array
and before those that read the result, so nothing waits on the host; ``all_gather_object``
copies to the host, which does wait. NCCL has no time-out: a rank that dies leaves the others
waiting, so :meth:`NCCLGroup.abort` ends the job through MPI when MPI started it (an
environment-started job's launcher must stop the other ranks itself).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .. import backend
from ..files import temp_path
from .groups import MPIGroup, ProcessGroup

NCCL_INSTALL_HINT = ('NCCL for CuPy: pip install "nvidia-nccl-cu12>=2.18,<3" (or -cu13 for cupy-cuda13x), '
                     'next to cupy-cuda12x[ctk] (pip install -e ".[cuda12]")')
UNIQUE_ID_BYTES = 128
# NumPy dtype -> the name of NCCL's data type in cupy.cuda.nccl
DATA_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
              "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8"}
REDUCE_OPS = {"sum": "NCCL_SUM", "max": "NCCL_MAX"}


def import_nccl():
    """CuPy's NCCL module, or an ImportError that says what to install."""
    try:
        backend._import_cupy()
        from cupy.cuda import nccl
    except (ImportError, RuntimeError) as err:
        raise ImportError(f"data-parallel training on GPUs needs CuPy with NCCL ({err}); {NCCL_INSTALL_HINT}") from err
    if not getattr(nccl, "available", False):
        raise ImportError(f"CuPy cannot load the NCCL library: {NCCL_INSTALL_HINT}")
    return nccl


def _pointer(array) -> int:
    """The address of ``array``'s first element: a CuPy array's device pointer (the sim
    device's arrays, on which the tests run this module, are host memory)."""
    return array.data.ptr if backend.is_cupy(array) else array.ctypes.data


def _stream(array) -> int:
    """The CUDA stream CuPy runs on now (0, the default stream, off CUDA)."""
    if backend.is_cupy(array):
        return backend.array_module(array).cuda.get_current_stream().ptr
    return 0


class NCCLGroup(ProcessGroup):
    """The ranks of an NCCL communicator, one GPU (``device``) each; collectives take CuPy
    arrays on that GPU. Made by :func:`init_over_mpi` or :func:`init_from_environment`
    (``communicator`` is a ``cupy.cuda.nccl.NcclCommunicator``; ``nccl`` the module that made
    it; ``launcher`` the MPI group it was bootstrapped over, or None)."""

    backend_name = "nccl"

    def __init__(self, communicator, nccl, rank: int, world_size: int, local_rank: int, device, launcher=None):
        self.comm, self._nccl, self._launcher = communicator, nccl, launcher
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device = backend.Device(device)

    def _data_type(self, name: str, array) -> int:
        where = backend.device_of(array)
        if where != self.device:
            raise RuntimeError(f"{name}: the NCCL group of rank {self.rank} works on {self.device}, got an array on "
                               f"{where}")
        code = DATA_TYPES.get(array.dtype.name)
        if code is None:
            raise TypeError(f"{name}: NCCL has no data type for {array.dtype} (supported: {', '.join(DATA_TYPES)})")
        return getattr(self._nccl, code)

    def all_reduce(self, array, op: str = "sum"):
        self._check("all_reduce", array, op)
        data_type = self._data_type("all_reduce", array)
        with backend.on_device(self.device):
            self.comm.allReduce(_pointer(array), _pointer(array), array.size, data_type,
                                getattr(self._nccl, REDUCE_OPS[op]), _stream(array))
        return array

    def broadcast(self, array, src: int = 0):
        self._check("broadcast", array, src=src)
        data_type = self._data_type("broadcast", array)
        with backend.on_device(self.device):
            self.comm.bcast(_pointer(array), array.size, data_type, int(src), _stream(array))
        return array

    def all_gather(self, array):
        self._check("all_gather", array)
        data_type = self._data_type("all_gather", array)
        with backend.on_device(self.device):
            out = self.device.xp.empty((self.world_size,) + array.shape, dtype=array.dtype)
            self.comm.allGather(_pointer(array), _pointer(out), array.size, data_type, _stream(array))
        return out

    def abort(self, code: int = 1) -> None:
        try:
            self.comm.abort()  # frees this rank's NCCL resources without waiting for the others
        finally:
            if self._launcher is not None:
                self._launcher.abort(code)
            os._exit(code)


def _connect(nccl, unique_id: tuple, rank: int, world_size: int, local_rank: int, device, launcher=None) -> NCCLGroup:
    device = backend.Device(device)
    with backend.on_device(device):  # NCCL binds the communicator to the current GPU
        communicator = nccl.NcclCommunicator(world_size, unique_id, rank)
    return NCCLGroup(communicator, nccl, rank, world_size, local_rank, device, launcher)


def init_over_mpi(device=None, nccl=None, mpi_group=None) -> NCCLGroup:
    """The NCCL group of the processes mpiexec started: ranks from MPI, rank 0's unique id
    broadcast over MPI. ``device``: this rank's GPU (default ``cuda:<local rank>``)."""
    nccl = import_nccl() if nccl is None else nccl
    mpi_group = MPIGroup() if mpi_group is None else mpi_group
    unique_id = np.zeros(UNIQUE_ID_BYTES, dtype=np.int8)
    if mpi_group.rank == 0:
        unique_id[:] = nccl.get_unique_id()
    mpi_group.broadcast(unique_id, 0)
    device = f"cuda:{mpi_group.local_rank}" if device is None else device
    return _connect(nccl, tuple(int(v) for v in unique_id), mpi_group.rank, mpi_group.world_size,
                    mpi_group.local_rank, device, launcher=mpi_group)


def _environment_int(environ, name: str, default=None) -> int:
    value = environ.get(name)
    if value is None and default is not None:
        return default
    if value is None or not value.isdigit():
        raise RuntimeError(f"init_from_environment: the environment variable {name} must be a non-negative "
                           f"integer, got {value!r} (the launcher sets RANK, WORLD_SIZE and LOCAL_RANK)")
    return int(value)


def init_from_environment(device=None, nccl=None, environ=None, timeout: float = 300.0) -> NCCLGroup:
    """The NCCL group of processes started with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (default:
    RANK) and ``MINIGAN_RENDEZVOUS`` (the file through which rank 0 hands out NCCL's unique id;
    see the module docstring) in their environment. ``device``: default ``cuda:<LOCAL_RANK>``.
    A rank that finds no id within ``timeout`` seconds raises TimeoutError."""
    nccl = import_nccl() if nccl is None else nccl
    environ = os.environ if environ is None else environ
    rank, world_size = _environment_int(environ, "RANK"), _environment_int(environ, "WORLD_SIZE")
    local_rank = _environment_int(environ, "LOCAL_RANK", default=rank)
    if not rank < world_size:
        raise RuntimeError(f"init_from_environment: RANK {rank} is not below WORLD_SIZE {world_size}")
    path = environ.get("MINIGAN_RENDEZVOUS")
    if not path:
        raise RuntimeError("init_from_environment: set MINIGAN_RENDEZVOUS to a file path every rank can read "
                           "(it must not exist yet): rank 0 hands out NCCL's unique id through it")
    if rank == 0:
        unique_id = tuple(nccl.get_unique_id())
        _write_rendezvous(path, {"world_size": world_size, "nccl_id": list(unique_id)})
    else:
        unique_id = _read_rendezvous(path, world_size, timeout)
    device = f"cuda:{local_rank}" if device is None else device
    group = _connect(nccl, unique_id, rank, world_size, local_rank, device)
    group.barrier()  # every rank has the id: the file has done its work
    if rank == 0:
        os.unlink(path)
    return group


def _write_rendezvous(path: str, content: dict) -> None:
    if os.path.exists(path):
        raise RuntimeError(f"init_from_environment: the rendezvous file {path} exists already (left by an "
                           "earlier job?): delete it, then start every rank again")
    temp = temp_path(Path(path))
    try:
        temp.write_text(json.dumps(content))
        os.replace(temp, path)  # the other ranks see the whole file or none
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _read_rendezvous(path: str, world_size: int, timeout: float) -> tuple:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"init_from_environment: rank 0 wrote no {path} within {timeout:g} s")
        time.sleep(0.05)
    with open(path) as f:
        content = json.load(f)
    ids = content.get("nccl_id") if isinstance(content, dict) else None
    if not isinstance(ids, list) or len(ids) != UNIQUE_ID_BYTES or content.get("world_size") != world_size:
        raise RuntimeError(f"init_from_environment: {path} is no rendezvous of a {world_size}-rank job "
                           f"(world_size {content.get('world_size') if isinstance(content, dict) else None})")
    return tuple(int(v) for v in ids)
