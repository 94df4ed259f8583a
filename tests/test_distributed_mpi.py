"""Data parallelism on 2 real processes (MPI): the correctness test of issue #19.

tests/mpi_worker.py runs on 2 ranks under mpiexec once for this module; the tests compare
what it saved with single-process computations made here. The example script runs under
mpiexec too: it trains, writes from rank 0 only, and resumes exactly. Skipped, saying what to
install, where mpi4py or mpiexec is missing (``pip install "minigan[mpi]"``), unless
``MINIGAN_REQUIRE_MPI=1`` (CI sets it once it has installed them): then that is a failure.
"""
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import minigan
from minigan import functional as F

import distributed_helpers as dh

TESTS = pathlib.Path(__file__).resolve().parent
EXAMPLE = TESTS.parent / "examples" / "mnist_gan.py"
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
MISSING = None
if MPIEXEC is None or importlib.util.find_spec("mpi4py") is None:
    MISSING = 'needs mpi4py and an mpiexec (pip install "minigan[mpi]", or pip install mpi4py mpich)'


@pytest.fixture(autouse=True)
def mpi_available():
    """Skip (or, with MINIGAN_REQUIRE_MPI=1, fail) where MPI is missing."""
    if MISSING is not None:
        if os.environ.get("MINIGAN_REQUIRE_MPI") == "1":
            pytest.fail(f"MINIGAN_REQUIRE_MPI=1 but this test {MISSING}")
        pytest.skip(MISSING)


def run_mpi(n: int, argv: list, env: dict = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """``mpiexec -n n python argv...`` with one BLAS thread per rank (2 ranks on 2 cores);
    on a time-out every process of the job is killed, and the test fails with its output."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    job = subprocess.Popen([MPIEXEC, "-n", str(n), sys.executable, *map(str, argv)], cwd=TESTS, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    try:
        output, _ = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        output, _ = job.communicate()
        pytest.fail(f"mpiexec -n {n} {argv} ran past {timeout} s:\n{output[-3000:]}")
    return subprocess.CompletedProcess(job.args, job.returncode, output)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    if MISSING is not None:
        pytest.skip(MISSING)
    """What the 2 ranks of tests/mpi_worker.py saved: {"case/name": array}."""
    out = tmp_path_factory.mktemp("mpi") / "ranks.npz"
    job = run_mpi(2, [TESTS / "mpi_worker.py", out])
    assert job.returncode == 0, job.stdout[-3000:]
    with np.load(out) as saved:
        return {key: saved[key] for key in saved.files}


def case(ranks, prefix: str) -> dict:
    """The iteration results of one case, rebuilt as trainer_iteration returns them."""
    def arrays(kind):
        return [ranks[f"{prefix}/{kind}/{i}"] for i in range(sum(k.startswith(f"{prefix}/{kind}/") for k in ranks))]
    return {"params": arrays("params"), "grads": arrays("grads"), "running": arrays("running"),
            "metrics": {key: float(ranks[f"{prefix}/metrics/{key}"]) for key in ("d_loss", "g_loss")}}


def test_the_collectives_on_two_processes(ranks):
    assert ranks["world_size"] == 2
    np.testing.assert_array_equal(ranks["collectives/summed"], np.arange(4) * 3.0)  # ranks 0 and 1: x1 + x2
    np.testing.assert_array_equal(ranks["collectives/largest"], [1, 0, 7])
    np.testing.assert_array_equal(ranks["collectives/sent"], [11.0] * 3)  # from rank 1
    np.testing.assert_array_equal(ranks["collectives/gathered"], [[[0, 0.5]], [[1, 1.5]]])
    assert ranks["collectives/objects_ok"]  # big ints, strings, None: as sent
    np.testing.assert_array_equal(ranks["collectives/on_sim"], [3.0, 3.0])  # a device array, through the host


def test_with_synchronised_batch_norm_two_ranks_take_the_step_one_rank_takes_with_the_whole_batch(ranks):
    """A DCGAN iteration (D step, G step, Adam) on 2 ranks with half of the batch each and
    SyncBatchNorm equals one process on the whole batch with plain BatchNorm: gradients,
    weights after the step, losses and running statistics, to the rounding of the sums split
    differently (tests/distributed_helpers.py: gradient_tolerance)."""
    weights, (real, z_d, z_g) = dh.initial_weights(), dh.iteration_inputs()
    whole = dh.trainer_iteration(weights, real, z_d, z_g)
    got = case(ranks, "dcgan/sync")
    assert ranks["dcgan/sync/ranks_agree"]  # bit for bit the same weights and gradients on both ranks
    dh.assert_same_step(got, whole, "2 ranks with SyncBatchNorm")
    scale = max(float(np.abs(r).max()) for r in whole["running"])
    for a, b in zip(got["running"], whole["running"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=dh.gradient_tolerance() * scale)


def test_without_it_the_difference_is_what_per_rank_batch_statistics_predict(ranks):
    """Without SyncBatchNorm each rank normalises its own half: the step is then the one a
    single process takes when every batch norm sees one half of the batch at a time (and the
    loss is the mean of the halves' losses), and it differs from the whole batch's step by far
    more than rounding: per-rank batch statistics change the gradient itself."""
    weights, (real, z_d, z_g) = dh.initial_weights(), dh.iteration_inputs()
    got = case(ranks, "dcgan/nosync")
    assert ranks["dcgan/nosync/ranks_agree"]
    dh.assert_same_step(got, dh.per_half_iteration(weights, real, z_d, z_g), "2 ranks with per-rank BatchNorm")
    whole = dh.trainer_iteration(weights, real, z_d, z_g)
    difference = dh.largest_gradient_difference(got, whole)
    print(f"per-rank batch statistics move the gradient by {difference:.3g} of its norm")
    assert difference > 1e6 * dh.gradient_tolerance()


@pytest.mark.parametrize("shape", list(dh.BATCH_NORM_CASES), ids=["4-D, 4 + 4 rows", "2-D, 5 + 2 rows"])
def test_sync_batch_norm_on_two_ranks_is_batch_norm_on_the_whole_batch(ranks, shape):
    """sync_batch_norm on shards of unequal size (Chan's combination weighs them by count),
    values far from a zero mean: output, dx, dw and db (summed over the ranks), the running
    statistics and a second derivative, against F.batch_norm on the whole batch."""
    x_all, w_all, b_all, gy_all = dh.batch_norm_case(shape)
    x, w, b = (minigan.tensor(a, requires_grad=True) for a in (x_all, w_all, b_all))
    running = minigan.zeros(3, dtype="float64"), minigan.ones(3, dtype="float64")
    y = F.batch_norm(x, *running, w, b, training=True)
    gx, gw, gb = minigan.grad(y, [x, w, b], minigan.tensor(gy_all))
    x2 = minigan.tensor(x_all, requires_grad=True)
    y2 = F.batch_norm(x2, None, None, w, b, training=True)
    (gx2,) = minigan.grad((y2 * y2 * y2).sum(), [x2], create_graph=True)
    (hw,) = minigan.grad((gx2 * gx2).sum(), [w])
    key = "sync_batch_norm_function/" + "x".join(map(str, shape))
    n = x_all.size // 3
    tolerance = 2 * 4 * dh.gamma(n, np.float64)  # 2 routes, each value through <= 4 sums over the batch
    for name, expected in (("y", y), ("gx", gx), ("gw", gw), ("gb", gb), ("hw", hw), ("running_mean", running[0]),
                           ("running_var", running[1])):
        expected = expected.numpy()
        np.testing.assert_allclose(ranks[f"{key}/{name}"], expected, rtol=0,
                                   atol=tolerance * max(1.0, float(np.abs(expected).max())), err_msg=name)


def test_broadcast_module_gives_every_rank_the_weights_of_rank_0(ranks):
    assert ranks["broadcast/differed"][1]  # rank 1 had drawn other weights
    assert ranks["broadcast/equal_to_rank_0"]
    np.testing.assert_array_equal(ranks["broadcast/running_mean"], [1.0] * 4)  # buffers too
    assert "rank 1's model differs from rank 0's" in str(ranks["broadcast/refused"])


# -- the example script ---------------------------------------------------------------------------
TINY = ["--limit", "48", "--batch-size", "8", "--log-every", "2", "--arch", "dcgan"]  # 3 steps per epoch on 2 ranks


def _example(n, flags, tmp_path):
    """The example on n processes, offline: no data folder, and downloads through a dead proxy fail
    at once, so the 10,000 digits inside the package are used."""
    dead_proxy = "http://127.0.0.1:9"
    env = {"MINIGAN_DATA": str(tmp_path / "no-data"), "HOME": str(tmp_path / "home"), "no_proxy": "", "NO_PROXY": "",
           **{k: dead_proxy for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}}
    job = run_mpi(n, [EXAMPLE, *flags], env=env)
    assert job.returncode == 0, job.stdout[-3000:]
    return job.stdout


def _weights(path):
    state = minigan.load(path)["trainer"]
    return {f"{model}/{key}": value.numpy() for model in ("generator", "discriminator")
            for key, value in state[model].items()}


def test_the_example_trains_on_two_processes_and_resumes_exactly(tmp_path):
    """mpiexec -n 2 ... --distributed --sync-bn: rank 0 alone prints and writes (one row per
    global step), the checkpoint holds both ranks' random streams, and going back to the
    snapshot of epoch 1 with --resume ends epoch 2 on the same weights, bit for bit."""
    out = tmp_path / "run"
    output = _example(2, TINY + ["--distributed", "--sync-bn", "--epochs", "2", "--out", out], tmp_path)
    assert output.count("training dcgan") == 1 and "2 processes (global batch 2 x 8), 3 steps per epoch" in output
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, 7))
    checkpoint = minigan.load(out / "checkpoint.npz")
    assert checkpoint["config"]["world_size"] == 2 and checkpoint["config"]["sync_bn"]
    assert len(checkpoint["rank_rng"]) == 2 and checkpoint["rank_rng"][0] == checkpoint["rng"]
    assert checkpoint["rank_rng"][1] != checkpoint["rng"]  # each rank its own stream
    straight = _weights(out / "checkpoint.npz")
    output = _example(2, ["--distributed", "--epochs", "2", "--resume", "checkpoint_epoch_001.npz", "--out", out],
                      tmp_path)
    assert output.count("resuming from") == 1
    assert [json.loads(line)["step"] for line in (out / "steps.jsonl").read_text().splitlines()] == list(range(1, 7))
    again = _weights(out / "checkpoint.npz")
    assert straight.keys() == again.keys()
    for key in straight:
        np.testing.assert_array_equal(straight[key], again[key], err_msg=key)
