"""What a GPU run measures besides the tests: the first iteration's time (kernel compiles on
a cold cache), steady time per iteration, peak GPU memory, and cuda:1 when there is one.

    python bench/gpu_probe.py --device cuda --out probe.json
    python bench/gpu_probe.py --device sim --batch 8 --out probe.json    # dry run on a CPU

Run it first on a fresh CuPy kernel cache (CUPY_CACHE_DIR), as bench/gpu_check.sh does, so that
the first iteration includes compiling every kernel it needs: what a user's first run pays.
Sections print one line each and all go into the JSON file; a section that raises is
recorded as failed and the others still run (exit status 1 then).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import minigan  # noqa: E402
from minigan import backend, optim  # noqa: E402
from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss  # noqa: E402

RESULTS = {}


def section(name):
    """Run the decorated check now; record its dict, or the error that stopped it."""
    def run(fn):
        start = time.perf_counter()
        try:
            RESULTS[name] = {"ok": True, **fn()}
        except Exception as err:  # noqa: BLE001 (one failed section must not hide the others)
            RESULTS[name] = {"ok": False, "error": f"{type(err).__name__}: {err}"[:2000],
                             "traceback": traceback.format_exc()[-3000:]}
        RESULTS[name]["seconds"] = round(time.perf_counter() - start, 2)
        shown = {k: v for k, v in RESULTS[name].items() if k != "traceback"}
        print(f"{name}: {json.dumps(shown, default=str)}", flush=True)
        return fn
    return run


def trainer_on(device, batch):
    minigan.manual_seed(0)
    G, D = dcgan_init_(dcgan_generator()).to(device), dcgan_init_(dcgan_discriminator()).to(device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)), get_loss("non-saturating"),
                         device=device)
    return trainer, minigan.rand(batch, 1, 28, 28, device=device) * 2.0 - 1.0


def environment(device) -> dict:
    info = {"python": platform.python_version(), "minigan": minigan.__file__,
            "cuda_unavailable_reason": backend.cuda_unavailable_reason()}
    if device.startswith("cuda"):
        import cupy
        from cupy.cuda import nvrtc, runtime
        props = runtime.getDeviceProperties(0)
        name = props["name"]
        info.update(cupy=cupy.__version__, nvrtc=".".join(map(str, nvrtc.getVersion())),
                    driver=runtime.driverGetVersion(), runtime=runtime.runtimeGetVersion(),
                    gpus=runtime.getDeviceCount(), gpu=name.decode() if isinstance(name, bytes) else name,
                    compute_capability=f"{props['major']}.{props['minor']}",
                    memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
                    kernel_cache=os.environ.get("CUPY_CACHE_DIR", "~/.cupy/kernel_cache"))
    return info


def first_iteration(device, batch) -> dict:
    """Build the models and run one iteration, then a second: the difference is compiling."""
    start = time.perf_counter()
    trainer, real = trainer_on(device, batch)
    trainer.step(real)
    backend.synchronize(device)
    first = time.perf_counter() - start
    start = time.perf_counter()
    trainer.step(real)
    backend.synchronize(device)
    return {"batch": batch, "first_iteration_s": round(first, 3),
            "second_iteration_s": round(time.perf_counter() - start, 4)}


def timing(device, batch, repeat) -> dict:
    """Median synchronised ms per iteration; and the host's ms per iteration when nothing
    waits for the GPU (the launch-bound floor)."""
    trainer, real = trainer_on(device, batch)
    for _ in range(3):
        trainer.step(real)
    backend.synchronize(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        trainer.step(real)
        backend.synchronize(device)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(repeat):
        trainer.step(real)
    host = (time.perf_counter() - start) / repeat
    backend.synchronize(device)
    ms = statistics.median(times) * 1e3
    return {"batch": batch, "ms_per_iter": round(ms, 3), "images_per_s": round(batch / ms * 1e3),
            "host_ms_per_iter_unsynchronised": round(host * 1e3, 3), "ms_range": [round(min(times) * 1e3, 3),
                                                                                   round(max(times) * 1e3, 3)]}


def memory(device, batch) -> dict:
    """CuPy's pool after 10 iterations at ``batch``: bytes in use, and bytes it holds (its
    high-water mark: the pool keeps what it once needed). Whole-device use from the driver."""
    if not device.startswith("cuda"):
        return {"note": "CuPy's memory pool exists on CUDA only"}
    import cupy
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    trainer, real = trainer_on(device, batch)
    used = []
    for _ in range(10):
        trainer.step(real)
        backend.synchronize(device)
        used.append(pool.used_bytes())
    free, total = cupy.cuda.runtime.memGetInfo()
    return {"batch": batch, "pool_used_mib": round(used[-1] / 2**20, 1),
            "pool_peak_held_mib": round(pool.total_bytes() / 2**20, 1),
            "pool_used_growth_mib_iter_2_to_10": round((used[-1] - used[1]) / 2**20, 2),
            "device_used_mib": round((total - free) / 2**20, 1)}


def resume_rng(device) -> dict:
    """The device's generator restores exactly (what --resume relies on)."""
    minigan.manual_seed(0)
    minigan.randn(3, device=device)
    state = backend.rng_state()
    a = minigan.randn(1000, device=device).numpy()
    backend.set_rng_state(state)
    b = minigan.randn(1000, device=device).numpy()
    if not (a == b).all():
        raise AssertionError("the draws after set_rng_state differ from the draws after rng_state")
    return {"state": {k: v for k, v in state.items() if k != "cpu"}, "mean": float(a.mean()), "std": float(a.std())}


def second_gpu(device) -> dict:
    """One iteration on cuda:1: every parameter, gradient and optimizer state stays there."""
    if not device.startswith("cuda"):
        return {"note": "CUDA only"}
    import cupy
    if cupy.cuda.runtime.getDeviceCount() < 2:
        return {"note": "one GPU: cuda:1 not checked"}
    trainer, real = trainer_on("cuda:1", 16)
    trainer.step(real)
    backend.synchronize("cuda:1")
    params = list(trainer.G.parameters()) + list(trainer.D.parameters())
    where = {str(p.device) for p in params} | {str(p.grad.device) for p in params}
    where |= {str(backend.device_of(s["exp_avg"])) for s in trainer.d_optimizer.state.values()}
    if where != {"cuda:1"}:
        raise AssertionError(f"arrays of a cuda:1 iteration on {sorted(where)}")
    return {"devices_seen": sorted(where)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--out", default="probe.json")
    args = p.parse_args(argv)
    device = args.device
    section("environment")(lambda: environment(device))
    section("first_iteration")(lambda: first_iteration(device, args.batch[0]))
    for batch in args.batch:
        section(f"timing_batch_{batch}")(lambda: timing(device, batch, args.repeat))
    section("memory")(lambda: memory(device, args.batch[-1]))
    section("resume_rng")(lambda: resume_rng(device))
    section("second_gpu")(lambda: second_gpu(device))
    with open(args.out, "w") as f:
        json.dump(RESULTS, f, indent=1, default=str)
    failed = [name for name, r in RESULTS.items() if not r["ok"]]
    print(f"gpu_probe: {len(RESULTS)} sections, failed: {failed or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
