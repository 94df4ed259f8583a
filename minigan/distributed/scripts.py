"""What a training script needs for ``--distributed`` (examples/mnist_gan.py).

``mpiexec -n 4 python examples/mnist_gan.py --distributed`` starts four copies of the
script; each calls :func:`script_group` to join the others. Rank 0 writes the run folder and
prints; every rank trains. A checkpoint holds every rank's random state
(:func:`gathered_rng_state`), so that ``--resume`` with the same number of processes continues
each rank's stream exactly (:func:`restore_rng_state`).
"""
from __future__ import annotations

from .. import backend
from ..cli import UsageError
from .groups import launched_world_size


def script_group(distributed: bool, device: str):
    """(group, device) for a script's ``--distributed`` flag and ``--device``: (None, device)
    without the flag; with it, the MPI group of the processes mpiexec started and the device
    as given, or, with ``--device cuda``, their NCCL group and this rank's GPU
    (``cuda:<local rank>``). A process that a launcher started as one of several, without
    ``--distributed``, is refused: every copy would train its own model into the same folder."""
    if not distributed:
        world = launched_world_size()
        if world > 1:
            raise UsageError(f"this is one of {world} processes that a launcher (mpiexec) started, but --distributed "
                             "is not given: each would train its own model into the same --out. Add --distributed")
        return None, device
    from . import init_process_group  # here: the package imports this module
    if backend.Device(device).type == "cuda":
        if ":" in device:
            raise UsageError(f"--device {device} with --distributed: each process takes the GPU of its local rank; "
                             "give --device cuda")
        group = init_process_group("nccl")
        return group, str(group.device)
    return init_process_group("mpi"), device


def say_on_rank_zero(group):
    """``print`` on rank 0 (or without a group); on the other ranks a function that prints nothing."""
    if group is None or group.rank == 0:
        return print
    return lambda *args, **kwargs: None


def gathered_rng_state(group) -> dict:
    """``{"rng": this rank's random state}``, and with a group ``"rank_rng"``: every rank's,
    in rank order (a collective: every rank calls it at the same point)."""
    state = backend.rng_state()
    if group is None:
        return {"rng": state}
    return {"rng": state, "rank_rng": group.all_gather_object(state)}


def restore_rng_state(checkpoint: dict, group) -> None:
    """This rank's random state from ``checkpoint`` (written with :func:`gathered_rng_state`)."""
    states = checkpoint.get("rank_rng") or [checkpoint["rng"]]
    world, rank = (1, 0) if group is None else (group.world_size, group.rank)
    if len(states) != world:
        raise UsageError(f"the checkpoint holds the random streams of {len(states)} process(es), but this run has "
                         f"{world}: resume with the number of processes it was trained on")
    backend.set_rng_state(states[rank])
