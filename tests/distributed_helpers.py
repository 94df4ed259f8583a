"""Stand-ins and reference computations for the data-parallel tests.

- :class:`ThreadGroup`: a process group whose ranks are threads of this process, so that
  several ranks run inside one test without MPI;
- :func:`stand_in_nccl`: CuPy's ``cupy.cuda.nccl`` module as far as minigan uses it, whose
  communicator moves host memory (the sim device's arrays) between threads, by address as
  NCCL moves device memory; the enum values are NCCL's (nccl.h);
- the DCGAN iteration of the correctness test, on a shard or on the whole batch, and the
  single-process prediction of what per-rank batch statistics do (batch norm per half).
"""
from __future__ import annotations

import ctypes
import secrets
import threading
import types

import numpy as np

import minigan
from minigan import autograd, backend, nn, optim
from minigan.distributed import ProcessGroup
from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss

from helpers import gamma, unit_roundoff

TIMEOUT = 60  # seconds a rank waits for the others before the test fails (never hangs)


class ThreadWorld:
    """Where the threads of one group meet: each posts a value, all read all of them."""

    def __init__(self, size: int):
        self.size, self.slots = size, [None] * size
        self.barrier = threading.Barrier(size, timeout=TIMEOUT)

    def exchange(self, rank: int, value) -> list:
        self.slots[rank] = value
        self.barrier.wait()
        values = list(self.slots)
        self.barrier.wait()  # nobody posts the next value before all have read this one
        return values


def _reduce(values, op: str):
    stacked = np.stack(values)
    return stacked.sum(axis=0) if op == "sum" else stacked.max(axis=0)


class ThreadGroup(ProcessGroup):
    """Rank ``rank`` of a group of threads (``world``: their ThreadWorld); arrays on ``device``."""

    backend_name = "threads"

    def __init__(self, world: ThreadWorld, rank: int, device="cpu"):
        self.world, self.rank, self.world_size, self.local_rank = world, rank, world.size, rank
        self.device = backend.Device(device)
        self.calls = []  # (collective, array size), for the tests that count them

    def _exchange(self, name, array):
        self.calls.append((name, array.size))
        return self.world.exchange(self.rank, backend.to_numpy(array).copy())

    def all_reduce(self, array, op="sum"):
        self._check("all_reduce", array, op)
        array[...] = backend.to_device(_reduce(self._exchange("all_reduce", array), op), backend.device_of(array))
        return array

    def broadcast(self, array, src=0):
        self._check("broadcast", array, src=src)
        array[...] = backend.to_device(self._exchange("broadcast", array)[src], backend.device_of(array))
        return array

    def all_gather(self, array):
        self._check("all_gather", array)
        return backend.to_device(np.stack(self._exchange("all_gather", array)), backend.device_of(array))

    def abort(self, code=1):
        raise RuntimeError(f"rank {self.rank} aborted with code {code}")


def run_ranks(size: int, body, device="cpu") -> list:
    """``body(group)`` on ``size`` threads, one ThreadGroup rank each; their results in rank
    order. The first exception of any rank is raised here."""
    world = ThreadWorld(size)
    results, errors = [None] * size, [None] * size

    def rank_main(rank):
        try:
            results[rank] = body(ThreadGroup(world, rank, device))
        except BaseException as err:  # noqa: BLE001 -- handed to the test's thread below
            errors[rank] = err
            world.barrier.abort()  # the others stop waiting

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    first = next((e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)), None)
    if first is not None or any(e is not None for e in errors):
        raise first or next(e for e in errors if e is not None)
    return results


# -- a stand-in for cupy.cuda.nccl ----------------------------------------------------------------
NCCL_CONSTANTS = {  # ncclDataType_t and ncclRedOp_t, as nccl.h numbers them
    "NCCL_INT8": 0, "NCCL_UINT8": 1, "NCCL_INT32": 2, "NCCL_UINT32": 3, "NCCL_INT64": 4, "NCCL_UINT64": 5,
    "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7, "NCCL_FLOAT64": 8, "NCCL_SUM": 0, "NCCL_PROD": 1, "NCCL_MAX": 2,
    "NCCL_MIN": 3}
NCCL_DTYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 3: np.uint32, 4: np.int64, 5: np.uint64, 6: np.float16,
               7: np.float32, 8: np.float64}


def _memory(address: int, count: int, data_type: int) -> np.ndarray:
    """The ``count`` values of NCCL type ``data_type`` at ``address``, as a writable NumPy view."""
    dtype = np.dtype(NCCL_DTYPES[data_type])
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(address)
    return np.ctypeslib.as_array(raw).view(dtype)


def stand_in_nccl():
    """A module with cupy.cuda.nccl's names that minigan uses; its NcclCommunicator joins the
    communicators made with the same unique id (threads of this process)."""
    worlds, lock = {}, threading.Lock()

    class StandInCommunicator:
        def __init__(self, ndev, commId, rank):
            assert isinstance(commId, tuple) and len(commId) == 128 and all(-128 <= v < 128 for v in commId)
            with lock:
                self.world = worlds.setdefault(commId, ThreadWorld(ndev))
            self.rank, self.calls = rank, []

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
            self.calls.append(("allReduce", count, datatype, stream))
            values = self.world.exchange(self.rank, _memory(sendbuf, count, datatype).copy())
            _memory(recvbuf, count, datatype)[:] = _reduce(values, {0: "sum", 2: "max"}[op])

        def bcast(self, buff, count, datatype, root, stream):
            self.calls.append(("bcast", count, datatype, stream))
            values = self.world.exchange(self.rank, _memory(buff, count, datatype).copy())
            _memory(buff, count, datatype)[:] = values[root]

        def allGather(self, sendbuf, recvbuf, count, datatype, stream):
            self.calls.append(("allGather", count, datatype, stream))
            values = self.world.exchange(self.rank, _memory(sendbuf, count, datatype).copy())
            _memory(recvbuf, count * len(values), datatype)[:] = np.concatenate(values)

        def abort(self):
            self.calls.append(("abort",))

    def get_unique_id():
        return tuple(int(b) for b in np.frombuffer(secrets.token_bytes(128), dtype=np.int8))

    return types.SimpleNamespace(available=True, NcclCommunicator=StandInCommunicator, get_unique_id=get_unique_id,
                                 **NCCL_CONSTANTS)


# -- sync_batch_norm's case: shards of unequal size ------------------------------------------------
BATCH_NORM_CASES = {(8, 3, 2, 2): (4, 4), (7, 3): (5, 2)}  # the whole batch's shape: the rows of ranks 0 and 1


def batch_norm_case(shape) -> tuple:
    """(x, weight, bias, upstream gradient) of the whole batch, float64; x far from a zero
    mean, where a variance computed as E[x^2] - E[x]^2 would cancel."""
    rng = np.random.default_rng(len(shape))
    return (rng.standard_normal(shape) * 3 + 5, rng.standard_normal(shape[1]), rng.standard_normal(shape[1]),
            rng.standard_normal(shape))


# -- the DCGAN iteration of the correctness test ---------------------------------------------------
BATCH, LR, ADAM_EPS = 8, 2e-4, 1e-8  # BATCH: the global batch
LONGEST_SUM = 128 * 7 * 7  # D's last layer, a Linear over 128 * 7 * 7 features
DEPTH = 40  # functions on the longest path of a G step, forward and backward (as in test_gpu_path.py)


def gradient_tolerance(dtype=np.float64) -> float:
    """Normwise, relative to a model's gradient: each op on the path adds at most 2 gamma_n
    (two routes' rounding) of the magnitudes it works on, of the order of the gradient's norm.
    The two routes here differ in how the batch's sums are split (over ranks, or not)."""
    return DEPTH * 2 * gamma(LONGEST_SUM, dtype)


def initial_weights(seed=0) -> tuple:
    minigan.manual_seed(seed)
    G, D = dcgan_init_(dcgan_generator()), dcgan_init_(dcgan_discriminator())
    return G.state_dict(), D.state_dict()


def iteration_inputs(seed=123) -> tuple:
    """(real, z for the D step, z for the G step) of the global batch, float64."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (BATCH, 1, 28, 28)), rng.standard_normal((BATCH, 100)),
            rng.standard_normal((BATCH, 100)))


def _models(weights, sync_group=None):
    G, D = dcgan_generator(), dcgan_discriminator()
    G.load_state_dict(weights[0])
    D.load_state_dict(weights[1])
    G, D = G.to("cpu", np.float64), D.to("cpu", np.float64)
    if sync_group is not None:
        G, D = (nn.SyncBatchNorm.convert_sync_batchnorm(m, sync_group) for m in (G, D))
    return G, D


def _adam(params):
    return optim.Adam(params, LR, betas=(0.5, 0.999), eps=ADAM_EPS)


def _result(G, D, metrics) -> dict:
    params = list(D.parameters()) + list(G.parameters())
    return {"params": [p.numpy().copy() for p in params], "grads": [p.grad.numpy().copy() for p in params],
            "metrics": {k: float(v.item()) for k, v in metrics.items()},
            "running": [b.numpy().copy() for m in (D, G) for name, b in m.named_buffers() if "running" in name]}


def trainer_iteration(weights, real, z_d, z_g, group=None, sync_bn=False) -> dict:
    """One GANTrainer.step (a D step then a G step, Adam) from ``weights`` on ``real`` with the
    noise given, in float64: the whole batch without a group, this rank's shard with one."""
    G, D = _models(weights, group if sync_bn else None)
    trainer = GANTrainer(G, D, _adam(G.parameters()), _adam(D.parameters()), get_loss("non-saturating"),
                         process_group=group)
    queue = [minigan.tensor(z_d), minigan.tensor(z_g)]
    trainer.sample_z = lambda n: queue.pop(0)
    metrics = trainer.step(minigan.tensor(real))
    return _result(G, D, metrics)


def per_half_iteration(weights, real, z_d, z_g, parts=2) -> dict:
    """What ``parts`` ranks without synchronised batch norm compute, in one process: the same
    iteration, every forward pass run on each part of the batch separately (so each batch norm
    sees one part's statistics) and the loss the mean of the parts' losses."""
    G, D = _models(weights)
    g_opt, d_opt, loss = _adam(G.parameters()), _adam(D.parameters()), get_loss("non-saturating")
    parts_of = lambda a: np.split(a, parts)  # noqa: E731
    fakes = []
    with minigan.no_grad():
        for z in parts_of(z_d):
            fakes.append(G(minigan.tensor(z)))
    d_loss = sum(loss.d_loss(D(minigan.tensor(r)), D(f)) for r, f in zip(parts_of(real), fakes)) / parts
    params = list(D.parameters())
    for p, g in zip(params, autograd.grad(d_loss, params)):
        p.grad = g
    d_opt.step()
    g_loss = sum(loss.g_loss(D(G(minigan.tensor(z)))) for z in parts_of(z_g)) / parts
    params = list(G.parameters())
    for p, g in zip(params, autograd.grad(g_loss, params)):
        p.grad = g
    g_opt.step()
    return _result(G, D, {"d_loss": d_loss, "g_loss": g_loss})


def assert_same_step(got: dict, expected: dict, what: str) -> None:
    """The gradients within :func:`gradient_tolerance` of the model's gradient norm, and every
    weight after Adam within what its first step allows for that gradient difference: the
    update lr g / (|g| + eps) moves by at most lr / eps times a change of g, and by at most 2 lr."""
    tolerance = gradient_tolerance()
    scale = np.sqrt(sum(float(np.sum(g ** 2)) for g in expected["grads"]))
    u = unit_roundoff(np.float64)
    for i, (g, ge, p, pe) in enumerate(zip(got["grads"], expected["grads"], got["params"], expected["params"])):
        error = float(np.linalg.norm((g - ge).ravel()))
        assert error <= tolerance * scale, f"{what}: gradient {i} off by {error:.3g}, allowed {tolerance * scale:.3g}"
        allowed = np.minimum(2 * LR, LR / ADAM_EPS * np.abs(g - ge)) + 16 * u * (np.abs(pe) + LR)
        assert np.all(np.abs(p - pe) <= allowed), f"{what}: parameter {i} after the step"
    for key in ("d_loss", "g_loss"):
        np.testing.assert_allclose(got["metrics"][key], expected["metrics"][key], rtol=tolerance, err_msg=key)


def largest_gradient_difference(got: dict, expected: dict) -> float:
    """max over parameters of |g - g_expected| / (the expected gradients' norm)."""
    scale = np.sqrt(sum(float(np.sum(g ** 2)) for g in expected["grads"]))
    return max(float(np.linalg.norm((g - ge).ravel())) for g, ge in zip(got["grads"], expected["grads"])) / scale
