"""The ranks' side of tests/test_distributed_mpi.py.

    mpiexec -n 2 python tests/mpi_worker.py OUT.npz

Every rank runs every case below; rank 0 saves what the test compares (NumPy arrays only,
under "case/name" keys). Values that every rank must hold alike are gathered and checked here.
"""
import sys

import numpy as np

import minigan
from minigan import distributed as dist
from minigan import nn
from minigan.nn.sync_batchnorm import sync_batch_norm

import distributed_helpers as dh


def collectives(group) -> dict:
    r = group.rank
    summed = group.all_reduce(np.arange(4, dtype=np.float32) * (r + 1))
    largest = group.all_reduce(np.array([r, -r, 7], dtype=np.int64), op="max")
    sent = group.broadcast(np.full(3, 10.0 + r), src=1)
    gathered = group.all_gather(np.array([[r, r + 0.5]]))
    objects = group.all_gather_object({"rank": r, "big": 2**100 + r, "list": [1, "two", None]})
    on_sim = group.all_reduce(minigan.tensor(np.full(2, r + 1.0), device="sim").array)
    group.barrier()
    return {"summed": summed, "largest": largest, "sent": sent, "gathered": gathered,
            "objects_ok": np.array(objects == [{"rank": k, "big": 2**100 + k, "list": [1, "two", None]}
                                               for k in range(group.world_size)]),
            "on_sim": on_sim.get()}


def dcgan(group) -> dict:
    """One DCGAN iteration on this rank's half of the global batch, with and without
    synchronised batch norm; every rank's weights must come out identical."""
    weights, (real, z_d, z_g) = dh.initial_weights(), dh.iteration_inputs()
    shard = slice(group.rank * dh.BATCH // 2, (group.rank + 1) * dh.BATCH // 2)
    out = {}
    for name, sync in (("sync", True), ("nosync", False)):
        result = dh.trainer_iteration(weights, real[shard], z_d[shard], z_g[shard], group, sync_bn=sync)
        rows = group.all_gather(np.concatenate([p.ravel() for p in result["params"] + result["grads"]]))
        out[f"{name}/ranks_agree"] = np.array(all(np.array_equal(rows[0], row) for row in rows))
        for key in ("d_loss", "g_loss"):  # each rank's loss is its shard's mean: the batch's is their mean
            out[f"{name}/metrics/{key}"] = group.all_gather(np.array([result["metrics"][key]])).mean()
        for kind in ("params", "grads", "running"):
            for i, array in enumerate(result[kind]):
                out[f"{name}/{kind}/{i}"] = array
    return out


def sync_batch_norm_function(group) -> dict:
    """sync_batch_norm on uneven shards: forward, gradients (dw, db summed over the ranks as the
    gradient all-reduce would), running statistics and a second derivative."""
    out = {}
    for shape, rows in dh.BATCH_NORM_CASES.items():
        x_all, w_all, b_all, gy_all = dh.batch_norm_case(shape)
        start = sum(rows[:group.rank])
        mine = slice(start, start + rows[group.rank])
        x = minigan.tensor(x_all[mine], requires_grad=True)
        w, b = minigan.tensor(w_all, requires_grad=True), minigan.tensor(b_all, requires_grad=True)
        running = minigan.zeros(3, dtype="float64"), minigan.ones(3, dtype="float64")
        y = sync_batch_norm(x, *running, w, b, group)
        gx, gw, gb = minigan.grad(y, [x, w, b], minigan.tensor(gy_all[mine]))
        x2 = minigan.tensor(x_all[mine], requires_grad=True)
        y2 = sync_batch_norm(x2, None, None, w, b, group)
        (gx2,) = minigan.grad((y2 * y2 * y2).sum(), [x2], create_graph=True)
        (hw,) = minigan.grad((gx2 * gx2).sum(), [w])
        key = "x".join(map(str, shape))
        out[f"{key}/y"] = np.concatenate(list(group.all_gather_object(y.numpy().tolist())))
        out[f"{key}/gx"] = np.concatenate(list(group.all_gather_object(gx.numpy().tolist())))
        for name, t in (("gw", gw), ("gb", gb), ("hw", hw)):
            out[f"{key}/{name}"] = group.all_reduce(t.numpy().copy())
        out[f"{key}/running_mean"], out[f"{key}/running_var"] = (t.numpy() for t in running)
    return out


def broadcast(group) -> dict:
    minigan.manual_seed(dist.rank_seed(0, group.rank))  # every rank builds other weights
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4))
    model[1].running_mean.array[:] = group.rank + 1.0
    before = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    initial = group.broadcast(before.copy(), src=0)  # rank 0's weights, for the check
    dist.broadcast_module(model, group)
    after = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    other = nn.Sequential(nn.Linear(5, 4 + group.rank))  # rank 1 built another model
    try:
        dist.broadcast_module(other, group)
        refused = ""
    except RuntimeError as err:
        refused = str(err)
    return {"differed": group.all_gather(np.array([not np.array_equal(before, initial)])),
            "equal_to_rank_0": np.array(bool(group.all_reduce(np.array([np.array_equal(after, initial)],
                                                                       dtype=np.int64)).min())),
            "running_mean": model[1].running_mean.numpy(), "refused": np.array(refused)}


def main(out: str) -> None:
    group = dist.init_process_group("mpi")
    results = {"world_size": np.array(group.world_size)}
    with dist.abort_on_error(group):
        for case in (collectives, dcgan, sync_batch_norm_function, broadcast):
            results.update({f"{case.__name__}/{key}": value for key, value in case(group).items()})
    if group.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1])
