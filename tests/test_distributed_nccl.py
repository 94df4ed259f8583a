"""minigan/distributed/nccl.py without GPUs: NCCLGroup and both bootstraps, driven by a
stand-in for CuPy's NCCL module (tests/distributed_helpers.py: stand_in_nccl) whose
communicator moves the sim device's memory between threads by address, as NCCL moves GPU
memory between processes. What only a GPU machine can check (NCCL itself, CUDA streams, one
GPU per rank) is listed in docs/14_data_parallel.md; the names minigan calls are checked
against the real cupy.cuda.nccl where CuPy and NCCL are installed."""
import os

import numpy as np
import pytest

import minigan
from minigan import distributed as dist
from minigan import functional as F
from minigan.distributed import nccl as nccl_group
from minigan.nn.sync_batchnorm import sync_batch_norm

from distributed_helpers import NCCL_CONSTANTS, ThreadGroup, ThreadWorld, run_ranks, stand_in_nccl
from helpers import gamma


def _nccl_ranks(size, body):
    """``body(nccl_group)`` on ``size`` threads, each rank's NCCLGroup made by
    init_over_mpi with a thread group standing in for MPI, on the sim device."""
    nccl = stand_in_nccl()
    return run_ranks(size, lambda mpi: body(dist.init_over_mpi("sim", nccl, mpi_group=mpi)))


def test_the_collectives_pass_nccl_its_pointers_types_and_stream():
    def body(group):
        r, xp = group.rank, group.device.xp
        summed = group.all_reduce(xp.asarray(np.full(3, r + 1.0, dtype=np.float32)))
        largest = group.all_reduce(xp.asarray(np.array([r, -r], dtype=np.int64)), op="max")
        sent = group.broadcast(xp.asarray(np.full(2, 10.0 * r)), src=1)
        gathered = group.all_gather(xp.asarray(np.array([r, r], dtype=np.uint8)))
        objects = group.all_gather_object({"rank": r})
        return group, summed.get(), largest.get(), sent.get(), gathered.get(), objects, list(group.comm.calls)
    for group, summed, largest, sent, gathered, objects, calls in _nccl_ranks(2, body):
        assert isinstance(group, dist.NCCLGroup) and group.world_size == 2 and str(group.device) == "sim"
        assert summed.tolist() == [3, 3, 3] and largest.tolist() == [1, 0] and sent.tolist() == [10, 10]
        assert gathered.tolist() == [[0, 0], [1, 1]] and objects == [{"rank": 0}, {"rank": 1}]
        n = NCCL_CONSTANTS
        assert calls[:4] == [("allReduce", 3, n["NCCL_FLOAT32"], 0), ("allReduce", 2, n["NCCL_INT64"], 0),
                             ("bcast", 2, n["NCCL_FLOAT64"], 0), ("allGather", 2, n["NCCL_UINT8"], 0)]


def test_an_array_on_another_device_or_of_another_type_is_refused():
    def body(group):
        with pytest.raises(RuntimeError, match="the NCCL group of rank .* works on sim, got an array on cpu"):
            group.all_reduce(np.zeros(2))
        with pytest.raises(TypeError, match="NCCL has no data type for bool"):
            group.broadcast(group.device.xp.zeros(2, dtype=bool))
        return group.comm.calls
    assert all(calls == [] for calls in _nccl_ranks(2, body))


def test_sync_batch_norm_and_the_gradient_all_reduce_over_nccl():
    """Two ranks on halves of a batch, float64 on sim: SyncBatchNorm's output is the whole
    batch's, and the averaged gradient the mean of the ranks'."""
    x_all = np.random.default_rng(0).standard_normal((6, 2, 3, 3)) + 2

    def body(group):
        half = group.device.xp.asarray(x_all[3 * group.rank:3 * group.rank + 3])
        y = sync_batch_norm(minigan.Tensor(half), None, None, None, None, group)
        grad = minigan.full((2, 3), float(group.rank), dtype="float64", device="sim")
        param = minigan.zeros(2, 3, dtype="float64", device="sim", requires_grad=True)
        (mean,) = dist.GradientAllReduce([param], group).average([grad])
        return y.numpy(), mean.numpy()
    results = _nccl_ranks(2, body)
    expected = F.batch_norm(minigan.tensor(x_all), None, None, training=True).numpy()
    np.testing.assert_allclose(np.concatenate([y for y, _ in results]), expected, rtol=0,
                               atol=8 * gamma(x_all.size // 2, np.float64) * np.abs(expected).max())
    assert all(np.array_equal(mean, np.full((2, 3), 0.5)) for _, mean in results)


def test_the_environment_bootstrap_meets_through_a_file_rank_0_removes(tmp_path):
    nccl, rendezvous = stand_in_nccl(), tmp_path / "rendezvous.json"

    def body(thread):
        environ = {"RANK": str(thread.rank), "WORLD_SIZE": "2", "MINIGAN_RENDEZVOUS": str(rendezvous)}
        group = dist.init_from_environment("sim", nccl, environ)
        return group.rank, group.local_rank, group.all_reduce(group.device.xp.ones(1)).get()
    assert run_ranks(2, body) == [(0, 0, [2.0]), (1, 1, [2.0])]
    assert not rendezvous.exists()


def test_the_environment_bootstrap_refuses_a_stale_file_a_bad_variable_and_waits_no_longer_than_asked(tmp_path):
    nccl, rendezvous = stand_in_nccl(), tmp_path / "rendezvous.json"
    rendezvous.write_text("{}")
    environ = {"RANK": "0", "WORLD_SIZE": "2", "MINIGAN_RENDEZVOUS": str(rendezvous)}
    with pytest.raises(RuntimeError, match="exists already"):
        dist.init_from_environment("sim", nccl, environ)
    with pytest.raises(RuntimeError, match="is no rendezvous of a 2-rank job"):
        dist.init_from_environment("sim", nccl, {**environ, "RANK": "1"}, timeout=1)
    os.unlink(rendezvous)
    with pytest.raises(TimeoutError, match="rank 0 wrote no .* within 0.1 s"):
        dist.init_from_environment("sim", nccl, {**environ, "RANK": "1"}, timeout=0.1)
    with pytest.raises(RuntimeError, match="the environment variable WORLD_SIZE must be a non-negative integer"):
        dist.init_from_environment("sim", nccl, {"RANK": "0"})
    with pytest.raises(RuntimeError, match="set MINIGAN_RENDEZVOUS"):
        dist.init_from_environment("sim", nccl, {"RANK": "0", "WORLD_SIZE": "1"})


def test_abort_frees_nccl_then_ends_the_job_through_mpi(monkeypatch):
    exits = []
    monkeypatch.setattr(os, "_exit", exits.append)
    world = ThreadWorld(1)
    mpi = ThreadGroup(world, 0)
    group = dist.init_over_mpi("sim", stand_in_nccl(), mpi_group=mpi)
    with pytest.raises(RuntimeError, match="rank 0 aborted with code 3"):  # the thread group's abort
        group.abort(3)
    assert group.comm.calls[-1] == ("abort",)


def test_the_names_minigan_calls_exist_in_cupys_nccl_module():
    """Where CuPy and the NCCL library are installed (CI installs CuPy; NCCL comes with
    nvidia-nccl-cu12): the data types, operations and methods nccl.py uses, with NCCL's numbers."""
    try:
        from cupy.cuda import nccl
    except ImportError as err:
        pytest.skip(f"CuPy is not installed: {err}")
    if not getattr(nccl, "available", False):
        pytest.skip('CuPy cannot load NCCL here (pip install "nvidia-nccl-cu12>=2.18,<3")')
    names = list(nccl_group.DATA_TYPES.values()) + list(nccl_group.REDUCE_OPS.values())
    assert {name: getattr(nccl, name) for name in names} == {name: NCCL_CONSTANTS[name] for name in names}
    for method in ("allReduce", "bcast", "allGather", "abort"):
        assert callable(getattr(nccl.NcclCommunicator, method))
    assert len(nccl.get_unique_id()) == nccl_group.UNIQUE_ID_BYTES  # needs the library, not a GPU
