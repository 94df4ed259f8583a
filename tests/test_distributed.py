"""minigan.distributed in one process: per-rank seeds, the groups' collectives and checks, the
gradient all-reduce (one flat buffer per model and step), the GAN trainer's use of it, the
sharded DataLoader, a Run on several ranks (threads as ranks: tests/distributed_helpers.py)
and the example's flags. The same on 2 real processes: test_distributed_mpi.py."""
import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minigan
from minigan import distributed as dist
from minigan import nn, optim
from minigan.cli import UsageError
from minigan.data import ArrayDataset, DataLoader
from minigan.gan import GANTrainer, get_loss
from minigan.gan.runs import Run, RunStopped

from distributed_helpers import run_ranks

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


# -- seeds and launchers ----------------------------------------------------------------------------
def test_rank_seed_keeps_the_seed_on_rank_0_and_gives_every_other_rank_its_own():
    assert dist.rank_seed(5, 0) == 5
    seeds = [dist.rank_seed(5, r) for r in range(1, 9)]
    assert len(set(seeds)) == 8 and all(0 <= s < 2**63 for s in seeds) and 5 not in seeds
    assert seeds == [dist.rank_seed(5, r) for r in range(1, 9)]  # the same on every run
    assert dist.rank_seed(6, 1) != dist.rank_seed(5, 1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="rank_seed: rank must be an int >= 0"):
            dist.rank_seed(0, bad)


def test_the_launchers_environment_says_how_many_processes(monkeypatch):
    for name in dist.groups.LAUNCHER_SIZE_VARIABLES + dist.groups.MPI_RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert dist.launched_world_size() == 1 and not dist.launched_by_mpi()
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "2")
    assert dist.launched_world_size() == 4 and dist.launched_by_mpi()


def test_minigan_imports_and_trains_without_mpi4py():
    """Nothing imports mpi4py until a group is made; asking for one without it says what to install."""
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import minigan, minigan.distributed as d\n"
            "try:\n    d.init_process_group('mpi')\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "minigan[mpi]"' in out


def test_init_process_group_names_what_it_cannot_do():
    with pytest.raises(ValueError, match=r"backend must be one of \('mpi', 'nccl'\), got 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="init_method must be 'mpi' or 'env://', got 'tcp://host:1'"):
        dist.init_process_group("nccl", init_method="tcp://host:1")
    with pytest.raises(ValueError, match="the mpi backend takes its ranks from MPI"):
        dist.init_process_group("mpi", init_method="env://")


# -- the collectives ---------------------------------------------------------------------------------
def test_a_single_process_group_leaves_arrays_alone_and_checks_them():
    group = dist.SingleProcess()
    a = np.arange(3.0)
    assert group.all_reduce(a) is a and group.broadcast(a) is a and np.array_equal(a, [0, 1, 2])
    assert group.all_gather(a).shape == (1, 3)
    assert group.all_gather_object({"k": (1, "x", None, 2**70)}) == [{"k": [1, "x", None, 2**70]}]
    with pytest.raises(ValueError, match=r"all_reduce: op must be one of \('sum', 'max'\), got 'mean'"):
        group.all_reduce(a, op="mean")
    with pytest.raises(ValueError, match="broadcast: src must be a rank from 0 to 0, got 1"):
        group.broadcast(a, src=1)
    with pytest.raises(ValueError, match="must be C-contiguous"):
        group.all_reduce(np.zeros((3, 4))[:, 1])
    with pytest.raises(TypeError, match="all_gather: expected a NumPy or CuPy array, got list"):
        group.all_gather([1, 2])


def test_three_thread_ranks_reduce_broadcast_and_gather():
    def body(group):
        r = group.rank
        return (group.all_reduce(np.full(2, r + 1.0)), group.all_reduce(np.array([r, -r]), "max"),
                group.broadcast(np.full(2, r * 10.0), src=2), group.all_gather(np.array([r])),
                group.all_gather_object(f"rank {r}"))
    for summed, largest, sent, gathered, names in run_ranks(3, body):
        assert summed.tolist() == [6, 6] and largest.tolist() == [2, 0] and sent.tolist() == [20, 20]
        assert gathered.tolist() == [[0], [1], [2]] and names == ["rank 0", "rank 1", "rank 2"]


# -- the gradient all-reduce ------------------------------------------------------------------------
def test_gradient_all_reduce_averages_with_one_collective_per_dtype():
    def body(group):
        minigan.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
        model[1].to(dtype=np.float64)
        reducer = dist.GradientAllReduce(model.parameters(), group)
        grads = [minigan.ones(*p.shape, dtype=p.dtype) * (group.rank + 1) for p in model.parameters()]
        averaged = reducer.average(grads)
        return averaged, group.calls, reducer.calls, grads
    for averaged, calls, count, grads in run_ranks(2, body):
        assert [a.dtype for a in averaged] == [g.dtype for g in grads]
        assert all(np.array_equal(a.numpy(), np.full(a.shape, 1.5)) for a in averaged)  # (1 + 2) / 2
        assert calls == [("all_reduce", 3 * 4 + 4), ("all_reduce", 4 * 2 + 2)] and count == 2
        assert all(np.array_equal(g.numpy(), np.full(g.shape, g.numpy().flat[0])) for g in grads)  # inputs untouched


def test_gradient_all_reduce_refuses_a_missing_or_misshapen_gradient_before_sending():
    group = dist.SingleProcess()
    reducer = dist.GradientAllReduce(nn.Linear(2, 3).parameters(), group)
    with pytest.raises(ValueError, match=r"parameter 1 \(shape \(3,\)\) has no gradient"):
        reducer.average([minigan.zeros(3, 2), None])
    with pytest.raises(ValueError, match=r"gradient 0 is float32 \(2, 3\) on cpu, but its parameter is float32 "
                                         r"\(3, 2\)"):
        reducer.average([minigan.zeros(2, 3), minigan.zeros(3)])
    with pytest.raises(ValueError, match="got 1 gradients for 2 parameters"):
        reducer.average([minigan.zeros(3, 2)])
    assert reducer.calls == 0


def _tiny_gan(group):
    minigan.manual_seed(dist.rank_seed(0, group.rank))
    G = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    for model in (G, D):
        dist.broadcast_module(model, group)
    return GANTrainer(G, D, optim.Adam(G.parameters(), 1e-2), optim.Adam(D.parameters(), 1e-2),
                      get_loss("non-saturating"), latent_dim=4, process_group=group)


def test_the_trainer_reduces_d_and_g_gradients_each_in_one_all_reduce_per_step():
    """A D step sends D's gradients (one buffer of all of D's parameters), a G step G's; each
    rank then holds the mean gradient and the same weights, and its metrics' gradient norm is
    the mean gradient's."""
    def body(group):
        trainer = _tiny_gan(group)
        group.calls.clear()
        real = minigan.tensor(np.random.default_rng(group.rank).uniform(-1, 1, (4, 6)).astype(np.float32))
        metrics = trainer.step(real)
        d_grads = [p.grad.numpy() for p in trainer.D.parameters()]
        norm = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in d_grads))
        weights = np.concatenate([p.numpy().ravel() for m in (trainer.G, trainer.D) for p in m.parameters()])
        return group.calls, weights, norm, float(metrics["d_grad_norm"].item())
    results = run_ranks(2, body)
    d_size, g_size = 6 * 8 + 8 + 8 + 1, 4 * 8 + 8 + 8 + 8 + 8 * 6 + 6
    for calls, weights, norm, logged in results:
        assert calls == [("all_reduce", d_size), ("all_reduce", g_size)]
        np.testing.assert_array_equal(weights, results[0][1])
        np.testing.assert_allclose(logged, norm, rtol=1e-5)


# -- the sharded loader -------------------------------------------------------------------------------
def test_the_ranks_shards_make_up_the_global_batches_and_resume():
    data = ArrayDataset(np.arange(50))
    whole = [b.numpy() for (b,) in DataLoader(data, 12, shuffle=True, drop_last=True, seed=3)]
    shards = [DataLoader(data, 4, shuffle=True, drop_last=True, seed=3, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]
    for b, batches in enumerate(zip(*([x.numpy() for (x,) in s] for s in shards))):
        np.testing.assert_array_equal(np.concatenate(batches), whole[b])  # rank r: block r of global batch b
    loader = shards[1]
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = [x.numpy() for (x,) in it]
    again = DataLoader(data, 4, shuffle=True, drop_last=True, seed=99, rank=1, world_size=3)
    again.load_state_dict(state)
    np.testing.assert_array_equal(np.concatenate([x.numpy() for (x,) in again]), np.concatenate(rest))


def test_a_sharded_loader_needs_a_rank_in_range_and_drop_last():
    data = ArrayDataset(np.arange(10))
    with pytest.raises(ValueError, match=r"rank must be in \[0, world_size\), got rank 2 and world_size 2"):
        DataLoader(data, 2, drop_last=True, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size 2 needs drop_last=True"):
        DataLoader(data, 2, rank=0, world_size=2)
    with pytest.raises(TypeError, match="world_size must be an int"):
        DataLoader(data, 2, drop_last=True, world_size=2.0)
    with pytest.raises(ValueError, match="world_size 2 with shuffle=True needs seed="):
        DataLoader(data, 2, shuffle=True, drop_last=True, rank=1, world_size=2)  # each rank would draw its own order


# -- a run on several ranks ----------------------------------------------------------------------------
def _train_ranks(out, epochs, stop_on=None, resume=None):
    """The examples' loop on the tiny GAN, 2 thread ranks, 8 global batches of 2 x 2 per
    epoch; ``stop_on``: (rank, step) at which that rank alone receives SIGTERM. Returns each
    rank's (how it ended, the message, its step, the rows end_epoch gave it)."""
    rows = np.random.default_rng(0).uniform(-1, 1, (32, 6)).astype(np.float32)

    def body(group):
        trainer = _tiny_gan(group)
        loader = DataLoader(ArrayDataset(rows), 2, shuffle=True, drop_last=True, seed=0, rank=group.rank,
                            world_size=2)
        run = Run(out, group=group)
        checkpoint = run.open(resume)
        if checkpoint:
            trainer.load_state_dict(checkpoint["trainer"])
            loader.load_state_dict(checkpoint["loader"])

        def state():
            return {"config": {}, "trainer": trainer.state_dict(), "loader": loader.state_dict()}
        run.track(loader, trainer.G, trainer.D)
        rows_seen = None
        try:
            for epoch in run.epochs(epochs):
                for (real,) in loader:
                    run.record(trainer.step(real), log_every=2)
                    if stop_on == (group.rank, run.step):
                        run._signals.received, run._signals.signum = "SIGTERM", 15  # as its handler would
                    run.stop_if_asked(state)
                rows_seen = run.end_epoch()
                run.finish_epoch({"epoch": epoch, "step": run.step}, state)
        except RunStopped as stop:
            return "stopped", str(stop), run.step, rows_seen
        return "done", "", run.step, rows_seen
    return run_ranks(2, body)


def test_a_signal_on_one_rank_stops_every_rank_at_the_next_flush_and_rank_0_saves(tmp_path):
    """Rank 1 alone is signalled after step 3: both ranks learn it at the flush of step 4
    (log_every 2) and stop there; rank 0 wrote the checkpoint and the logs, whose values are
    the mean over the ranks; a resume continues to the end."""
    results = _train_ranks(tmp_path, epochs=1, stop_on=(1, 3))
    assert [r[0] for r in results] == ["stopped", "stopped"] and [r[2] for r in results] == [4, 4]
    assert "stopped by SIGTERM at step 4" in results[0][1]
    assert minigan.load(tmp_path / "checkpoint.npz")["step"] == 4
    logged = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged] == [1, 2, 3, 4]
    results = _train_ranks(tmp_path, epochs=1, resume="checkpoint.npz")
    assert [(r[0], r[2]) for r in results] == [("done", 8), ("done", 8)]
    assert len(results[0][3]) == 8 and results[1][3] == []  # rank 1 writes and reads no log


def test_the_logged_metrics_are_the_mean_over_the_ranks(tmp_path):
    def body(group):
        run = Run(tmp_path, group=group)
        run.open()
        run.track(range(1), nn.Linear(1, 1))
        run.record({"d_loss": minigan.tensor(float(group.rank + 1))}, log_every=1)
        return run.end_epoch()
    losses = run_ranks(2, body)
    assert losses[0][0][1]["d_loss"] == 1.5 and losses[1] == []


# -- the example's flags ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_gan():
    spec = importlib.util.spec_from_file_location("mnist_gan", EXAMPLES / "mnist_gan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_refuses_what_data_parallel_runs_cannot_do(mnist_gan, monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        mnist_gan.main(["--sync-bn", "--out", str(tmp_path)])
    assert stop.value.code == 2 and "--sync-bn synchronises batch norm across the processes of --distributed" in \
        capsys.readouterr().err
    monkeypatch.setenv("PMI_SIZE", "2")  # one of 2 processes mpiexec started
    with pytest.raises(SystemExit):
        mnist_gan.main(["--out", str(tmp_path)])
    assert "this is one of 2 processes" in capsys.readouterr().err
    args = mnist_gan.parse_args(["--batch-size", "8"])
    checkpoint = {"config": {**mnist_gan.settings(args), "world_size": 4}}
    with pytest.raises(UsageError, match=r"trained on 4 process\(es\) \(a global batch of 4 x 8\), this is 2"):
        mnist_gan.configuration(mnist_gan.parse_args(["--resume"]), checkpoint, "ckpt", world_size=2)
    with pytest.raises(UsageError, match=r"--limit 12 is below the global batch 16 \(2 x --batch-size 8\)"):
        mnist_gan.configuration(mnist_gan.parse_args(["--batch-size", "8", "--limit", "12"]), None, None, 2)
