"""Data-parallel training past one process: MPI on CPUs, NCCL on GPUs.

Data parallelism is an all-reduce of gradients. N processes (ranks) each hold the same
model, each backpropagates its own shard of the batch, and an all-reduce replaces every
rank's gradient by the mean over the ranks, so that all of them take the same step: the step
one process would take on the whole batch (docs/14_data_parallel.md). Read it in this order:

- ``groups.py``: a process group (rank, world size) and its collectives; MPI through mpi4py;
- ``nccl.py``: the same collectives on GPUs, NCCL through CuPy;
- ``parallel.py``: per-rank random streams, weights broadcast from rank 0, and the gradient
  all-reduce (one flat buffer per model and step);
- minigan/nn/sync_batchnorm.py: batch norm with the statistics of the global batch.

``group = minigan.distributed.init_process_group("mpi")`` under ``mpiexec -n 4 python
script.py``. Unlike PyTorch's, it returns the group instead of setting a global one: pass it
where it is used (``GANTrainer(..., process_group=group)``, ``nn.SyncBatchNorm``). Nothing
here imports mpi4py or CuPy until a group is made, so minigan works without them
(``pip install "minigan[mpi]"`` brings mpi4py and MPICH).
"""
from __future__ import annotations

import os

from .groups import (MPIGroup, ProcessGroup, SingleProcess, abort_on_error, import_mpi, launched_by_mpi,
                     launched_world_size)
from .nccl import NCCLGroup, init_from_environment, init_over_mpi
from .parallel import GradientAllReduce, broadcast_module, rank_seed

BACKENDS = ("mpi", "nccl")


def init_process_group(backend: str = "mpi", init_method: str | None = None, device=None) -> ProcessGroup:
    """The group of this job's processes.

    ``backend="mpi"``: every process mpiexec started (MPI's COMM_WORLD), collectives on the
    CPU. ``backend="nccl"``: one GPU per process (``device``, default ``cuda:<local rank>``);
    the ranks find each other over MPI (``init_method="mpi"``) or through the environment
    (``"env://"``: RANK, WORLD_SIZE, LOCAL_RANK and MINIGAN_RENDEZVOUS, see
    minigan/distributed/nccl.py). The default: the environment when it sets RANK and mpiexec
    did not start the process, else MPI (a process started alone is a world of one)."""
    if backend not in BACKENDS:
        raise ValueError(f"init_process_group: backend must be one of {BACKENDS}, got {backend!r}")
    if init_method is None:
        from_environment = backend == "nccl" and "RANK" in os.environ and not launched_by_mpi()
        init_method = "env://" if from_environment else "mpi"
    if init_method not in ("mpi", "env://"):
        raise ValueError(f"init_process_group: init_method must be 'mpi' or 'env://', got {init_method!r}")
    if backend == "mpi":
        if init_method != "mpi":
            raise ValueError("init_process_group: the mpi backend takes its ranks from MPI (init_method 'mpi')")
        return MPIGroup()
    return init_over_mpi(device) if init_method == "mpi" else init_from_environment(device)


__all__ = ["BACKENDS", "GradientAllReduce", "MPIGroup", "NCCLGroup", "ProcessGroup", "SingleProcess",
           "abort_on_error", "broadcast_module", "import_mpi", "init_from_environment", "init_over_mpi",
           "init_process_group", "launched_by_mpi", "launched_world_size", "rank_seed"]
