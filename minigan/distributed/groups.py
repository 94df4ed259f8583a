"""Process groups: the ranks of a data-parallel job, and the collectives that join them.

A job runs ``world_size`` copies of one script, the *ranks* 0 .. world_size - 1 (one per core
or GPU). A group is this process's handle on the others. Its collectives are called by every
rank at the same point of the program, with arrays of the same shape and dtype:

- ``all_reduce(array, op)``: in place, every rank ends with the elementwise sum (or max) over
  all ranks;
- ``broadcast(array, src)``: in place, every rank ends with rank ``src``'s values;
- ``all_gather(array)``: a new ``(world_size, *shape)`` array whose row r is rank r's array;
- and, built on ``all_gather``, :meth:`ProcessGroup.all_gather_object` for small values
  (numbers, strings, lists and str-keyed dicts of them), sent as JSON text, never pickled.

The groups here: :class:`SingleProcess` (a world of one, for code that runs either way) and
:class:`MPIGroup` (MPI through mpi4py, the optional extra ``minigan[mpi]``). The GPU group,
NCCL through CuPy, is in minigan/distributed/nccl.py. A rank that fails while the others
wait in a collective would leave them waiting forever: :func:`abort_on_error` ends the job.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys

import numpy as np

from .. import backend

OPS = ("sum", "max")
MPI_INSTALL_HINT = 'pip install "minigan[mpi]" (mpi4py and MPICH from PyPI), or pip install mpi4py mpich'
# what MPI launchers (MPICH's and Intel MPI's Hydra, Open MPI, PMIx) and torchrun-style launchers set
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "WORLD_SIZE")
MPI_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def launched_world_size() -> int:
    """How many processes the launcher started (mpiexec -n N, or WORLD_SIZE), read from the
    environment it gives each process; 1 when no launcher started this one."""
    for name in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def launched_by_mpi() -> bool:
    """True when an MPI launcher (mpiexec, mpirun, srun with PMI) started this process."""
    return any(name in os.environ for name in MPI_RANK_VARIABLES)


class ProcessGroup:
    """The collectives of a group of ranks (see the module docstring); subclasses implement
    :meth:`all_reduce`, :meth:`broadcast`, :meth:`all_gather` and :meth:`abort`.

    Attributes: ``rank`` (this process, 0 .. world_size - 1), ``world_size``, ``local_rank``
    (its number among the ranks on this machine: the GPU it takes), ``device`` (where the
    group's arrays live) and ``backend_name``."""

    rank, world_size, local_rank = 0, 1, 0
    device = backend.CPU
    backend_name = "none"

    def all_reduce(self, array, op: str = "sum"):
        """Every rank's ``array`` becomes the elementwise ``op`` ("sum" or "max") over the ranks,
        in place; returns ``array``."""
        raise NotImplementedError

    def broadcast(self, array, src: int = 0):
        """Every rank's ``array`` becomes rank ``src``'s, in place; returns ``array``."""
        raise NotImplementedError

    def all_gather(self, array):
        """A new ``(world_size, *array.shape)`` array: row r is rank r's ``array``."""
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:
        """End the process of every rank (after an error on this one)."""
        raise NotImplementedError

    def barrier(self) -> None:
        """Return once every rank has called it."""
        self.all_reduce(self.device.xp.zeros(1, dtype=np.int32))

    def all_gather_object(self, value) -> list:
        """[rank 0's value, rank 1's, ...]: small JSON values (numbers, strings, lists, dicts
        with str keys) sent as text; tuples come back as lists."""
        text = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        sizes = self.all_gather_numpy(np.array([text.size], dtype=np.int64))[:, 0]
        padded = np.zeros(int(sizes.max()), dtype=np.uint8)
        padded[:text.size] = text
        rows = self.all_gather_numpy(padded)
        return [json.loads(bytes(row[:size])) for row, size in zip(rows, sizes)]

    def all_gather_numpy(self, values: np.ndarray) -> np.ndarray:
        """:meth:`all_gather` of a NumPy array, through the group's device, back as NumPy."""
        return backend.to_numpy(self.all_gather(backend.to_device(values, self.device)))

    # -- argument checks, shared by the backends -------------------------------------------
    def _check(self, name: str, array, op: str = "sum", src: int = 0) -> None:
        if not backend.is_array(array):
            raise TypeError(f"{name}: expected a NumPy or CuPy array, got {type(array).__name__}")
        if op not in OPS:
            raise ValueError(f"{name}: op must be one of {OPS}, got {op!r}")
        if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < self.world_size:
            raise ValueError(f"{name}: src must be a rank from 0 to {self.world_size - 1}, got {src!r}")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name}: the array (shape {array.shape}, strides {array.strides}) must be "
                             "C-contiguous: collectives move one block of memory")

    def __repr__(self):
        return (f"{type(self).__name__}(rank={self.rank}, world_size={self.world_size}, "
                f"local_rank={self.local_rank}, device='{self.device}')")


class SingleProcess(ProcessGroup):
    """A world of one rank: every collective leaves its array as it is (all_gather adds the
    leading axis of one row). For code that runs with or without a distributed job."""

    backend_name = "single"

    def __init__(self, device="cpu"):
        self.device = backend.Device(device)

    def all_reduce(self, array, op: str = "sum"):
        self._check("all_reduce", array, op)
        return array

    def broadcast(self, array, src: int = 0):
        self._check("broadcast", array, src=src)
        return array

    def all_gather(self, array):
        self._check("all_gather", array)
        return array[None].copy()

    def abort(self, code: int = 1) -> None:
        sys.exit(code)


def import_mpi():
    """mpi4py's MPI module (initialising MPI), or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"data-parallel training on CPUs needs mpi4py and an MPI library ({err}): "
                          f"{MPI_INSTALL_HINT}") from err
    return MPI


class MPIGroup(ProcessGroup):
    """The ranks of an MPI communicator (default: every process mpiexec started). Collectives
    work on NumPy arrays in place; a GPU (or sim) array goes through a host copy."""

    backend_name = "mpi"

    def __init__(self, comm=None):
        mpi = import_mpi()
        self._mpi = mpi
        self.comm = mpi.COMM_WORLD if comm is None else comm
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(mpi.COMM_TYPE_SHARED)  # the ranks on this machine (a collective)
        self.local_rank = node.Get_rank()
        node.Free()
        self.device = backend.CPU

    def all_reduce(self, array, op: str = "sum"):
        self._check("all_reduce", array, op)
        host = backend.to_numpy(array)
        self.comm.Allreduce(self._mpi.IN_PLACE, host, op=self._mpi.SUM if op == "sum" else self._mpi.MAX)
        return _copy_back(host, array)

    def broadcast(self, array, src: int = 0):
        self._check("broadcast", array, src=src)
        host = backend.to_numpy(array)
        self.comm.Bcast(host, root=src)
        return _copy_back(host, array)

    def all_gather(self, array):
        self._check("all_gather", array)
        host = backend.to_numpy(array)
        out = np.empty((self.world_size,) + host.shape, dtype=host.dtype)
        self.comm.Allgather(host, out)
        return backend.to_device(out, backend.device_of(array))

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


def _copy_back(host: np.ndarray, array):
    """After a collective on ``host``: a device ``array`` takes its values (a host one is it)."""
    if host is not array:
        array[...] = backend.array_module(array).asarray(host)
    return array


@contextlib.contextmanager
def abort_on_error(group: ProcessGroup, agreed=()):
    """Inside, an exception on one rank ends every rank's process (``group.abort``): the others
    would otherwise wait for this rank in their next collective forever. Exceptions of the
    types in ``agreed`` pass as they are: those that every rank raises at the same point (an
    error in the shared configuration, a stop all ranks agreed on). Without a group, or in a
    world of one, every exception passes."""
    try:
        yield
    except agreed:
        raise
    except BaseException as err:
        if group is None or group.world_size == 1:
            raise
        what = "interrupted" if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}"
        print(f"rank {group.rank} of {group.world_size}: {what}; ending every rank", file=sys.stderr, flush=True)
        group.abort(130 if isinstance(err, KeyboardInterrupt) else 1)
        raise
