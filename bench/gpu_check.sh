#!/usr/bin/env bash
# minigan's GPU check: everything one run on a GPU machine should show, in one call, in under 8 minutes.
#
#   OUT=/some/folder bash bench/gpu_check.sh             # on the GPU machine, from the checkout's root
#   OUT=/some/folder bash bench/gpu_check.sh --dry-run   # anywhere: the sim device, small sizes
#
# Nothing is installed and nothing downloaded: it runs this checkout (PYTHONPATH=$PWD) with the
# machine's python3, which must hold CuPy, numpy, pytest and hypothesis (PyTorch with CUDA,
# matplotlib and tqdm are used when present). MNIST comes from the 10,000 digits inside minigan
# (a dead proxy makes any download fail at once).
#
# Steps, in this order, each under its own time limit, all under BUDGET seconds (default 450);
# a step that fails or runs out of time does not stop the others:
#   env      nvidia-smi, python, the git revision, and minigan's own verdict (cuda_unavailable_reason)
#   probe    bench/gpu_probe.py on a fresh kernel cache: the first iteration (compiling every kernel),
#            ms per iteration at batch 64 and 256, peak GPU memory, the device RNG's resume, cuda:1
#   example  examples/mnist_gan.py: 2 epochs straight; 1 epoch, then --resume to 2; the checkpoints
#            and every step's losses must be the same bits
#   bench    bench/dcgan_step.py --device cuda --batch 64 256: minigan beside PyTorch (minigan alone
#            when that PyTorch has no CUDA), each in its own process
#   tests    python3 -m pytest -m cuda: tests/test_gpu_path.py first, then every op test's cuda case,
#            with the time that is left
# $OUT receives SUMMARY.md (the verdicts and figures), gpu_check.log (every step's output),
# probe.json, pytest_cuda.log and dcgan_step.md: five files.
#
# Knobs: OUT (default ./gpu_check_out), BUDGET (seconds), PYTHON (python3), DEVICE (cuda; --dry-run: sim).

set -u
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
OUT=${OUT:-$PWD/gpu_check_out}
BUDGET=${BUDGET:-450}
PYTHON=${PYTHON:-python3}
if [ "$DRY_RUN" = 1 ]; then DEVICE=${DEVICE:-sim}; else DEVICE=${DEVICE:-cuda}; fi
if [ "$DEVICE" = sim ]; then  # the dry run: small sizes, so that the shell logic is what gets tested
  PROBE_ARGS="--batch 8 16 --repeat 2"; LIMIT=64; BATCH=16; BENCH_ARGS="--batch 8 --rounds 1 --repeat 2 --warmup 1"
else
  PROBE_ARGS="--batch 64 256 --repeat 20"; LIMIT=2048; BATCH=64; BENCH_ARGS="--batch 64 256 --rounds 3 --repeat 10 --warmup 5"
fi

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/minigan_gpu_check.XXXXXX")  # runs and the kernel cache: never in $OUT
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg HYPOTHESIS_PROFILE=ci
export CUPY_CACHE_DIR="$WORK/cupy_kernel_cache"  # fresh: the probe's first iteration compiles every kernel
export MINIGAN_DATA="$WORK/no-data" http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy
unset no_proxy NO_PROXY
LOG="$OUT/gpu_check.log"
STEPS="$WORK/steps.tsv"
: > "$LOG"; : > "$STEPS"
START=$(date +%s)
DEADLINE=$((START + BUDGET))

step() {  # step NAME CAP_SECONDS COMMAND...: run it with min(CAP, time left), output into the log
  local name=$1 cap=$2; shift 2
  local left=$((DEADLINE - $(date +%s)))
  local limit=$((cap < left ? cap : left))
  if [ "$limit" -lt 20 ]; then
    echo "=== $name: skipped, ${left}s of the budget left" | tee -a "$LOG"
    printf '%s\tskipped\t0\n' "$name" >> "$STEPS"
    return 0
  fi
  echo "=== $name (limit ${limit}s): $*" | tee -a "$LOG"
  local t0; t0=$(date +%s)
  # SIGINT first, so that pytest and Python print what they have before they stop
  timeout --signal=INT --kill-after=15 "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  local took=$(($(date +%s) - t0))
  [ "$rc" = 124 ] && echo "=== $name: TIMED OUT after ${limit}s" | tee -a "$LOG"
  echo "=== $name: exit $rc in ${took}s" | tee -a "$LOG"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$took" >> "$STEPS"
}

environment() {
  date -u
  uname -a
  command -v nvidia-smi > /dev/null && nvidia-smi \
    && nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || echo "no nvidia-smi"
  "$PYTHON" --version
  git -C "$ROOT" rev-parse HEAD 2> /dev/null || echo "not a git checkout"
  git -C "$ROOT" status --short 2> /dev/null | head -20
  "$PYTHON" - "$DEVICE" <<'EOF'
import sys
import minigan
from minigan import backend
for name in ("numpy", "cupy", "torch", "pytest", "hypothesis", "matplotlib", "tqdm"):
    try:
        module = __import__(name)
        extra = f", CUDA {module.cuda.is_available()}" if name == "torch" else ""
        print(f"{name} {module.__version__}{extra}")
    except Exception as err:  # noqa: BLE001
        print(f"{name}: not importable ({type(err).__name__}: {err})")
device = sys.argv[1]
reason = backend.cuda_unavailable_reason() if device.startswith("cuda") else None
print(f"minigan {minigan.__version__} from {minigan.__file__}; {device}: {reason or 'usable'}")
sys.exit(1 if reason else 0)
EOF
}

example() {  # two epochs straight; one, then --resume to two; the same bits in the end
  local args=(examples/mnist_gan.py --device "$DEVICE" --limit "$LIMIT" --batch-size "$BATCH" --log-every 8)
  "$PYTHON" "${args[@]}" --epochs 2 --out "$WORK/straight" || return 1
  "$PYTHON" "${args[@]}" --epochs 1 --out "$WORK/resumed" || return 1
  "$PYTHON" "${args[@]}" --epochs 2 --resume --out "$WORK/resumed" || return 1
  "$PYTHON" - "$WORK/straight" "$WORK/resumed" <<'EOF'
import json, sys
import numpy as np
import minigan
a, b = (minigan.load(f"{d}/checkpoint.npz") for d in sys.argv[1:])
def flat(state, prefix=""):
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}/"))
        elif isinstance(v, minigan.Tensor):
            out[prefix + k] = v.numpy()
    return out
fa, fb = flat(a["trainer"]), flat(b["trainer"])
different = [k for k in fa if k not in fb or not np.array_equal(fa[k], fb[k])]
steps = [open(f"{d}/steps.jsonl").read() for d in sys.argv[1:]]
epochs = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl")]
print(f"example: {len(fa)} arrays compared, {len(different)} differ {different[:5]}; "
      f"steps.jsonl identical: {steps[0] == steps[1]}; rng states identical: {a['rng'] == b['rng']}")
print("example: " + "; ".join(f"epoch {e['epoch']}: {e['images_per_s']} img/s, {e['seconds']} s" for e in epochs))
ok = not different and steps[0] == steps[1] and a["rng"] == b["rng"] and a["trainer"]["d_steps"] > 0
print(f"EXAMPLE_RESUME_BIT_IDENTICAL={'yes' if ok else 'NO'}")
sys.exit(0 if ok else 1)
EOF
}

bench() {
  "$PYTHON" bench/dcgan_step.py --device "$DEVICE" $BENCH_ARGS | tee "$OUT/dcgan_step.md"
  return "${PIPESTATUS[0]}"
}

tests() {
  local files=(tests/test_gpu_path.py tests/test_cuda_setup.py tests/test_rng.py tests/)
  "$PYTHON" -m pytest -m cuda -p no:cacheprovider -q -rfEs --durations=15 "${files[@]}" > "$OUT/pytest_cuda.log" 2>&1
  local rc=$?
  tail -n 40 "$OUT/pytest_cuda.log"
  return "$rc"
}

summary() {
  {
    echo "# minigan GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), device $DEVICE$([ "$DRY_RUN" = 1 ] && echo ' (DRY RUN)')"
    echo
    echo "revision $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo '?'), budget ${BUDGET}s, took $(($(date +%s) - START))s"
    grep -A1 -E "^name, compute_cap" "$LOG" | sed 's/^/    /'
    grep -E "^(minigan [0-9]|cupy |torch )" "$LOG" | sed 's/^/    /'
    echo
    echo "| step | exit | seconds |"
    echo "| --- | ---: | ---: |"
    while IFS=$'\t' read -r name rc took; do echo "| $name | $rc | $took |"; done < "$STEPS"
    echo
    echo "## probe (bench/gpu_probe.py)"
    grep -E "^(environment|first_iteration|timing_batch_[0-9]+|memory|resume_rng|second_gpu|gpu_probe):" "$LOG" | sed 's/^/    /'
    echo
    echo "## example (examples/mnist_gan.py, --limit $LIMIT, batch $BATCH)"
    grep -E "^(example:|EXAMPLE_RESUME_BIT_IDENTICAL=)" "$LOG" | sed 's/^/    /'
    echo
    echo "## bench/dcgan_step.py $BENCH_ARGS"
    if [ -s "$OUT/dcgan_step.md" ]; then grep -E "^(#|\||  torch failed)" "$OUT/dcgan_step.md"; else echo "(no output)"; fi
    echo
    echo "## pytest -m cuda"
    if [ -s "$OUT/pytest_cuda.log" ]; then
      grep -E "^(FAILED|ERROR) " "$OUT/pytest_cuda.log" | head -30
      tail -n 1 "$OUT/pytest_cuda.log"
    else
      echo "(not run)"
    fi
  } > "$OUT/SUMMARY.md"
}

# the steps run under `timeout`, in a child bash: it needs the functions and settings exported
export -f environment example bench tests
export ROOT OUT WORK PYTHON DEVICE LIMIT BATCH BENCH_ARGS
[ "$DRY_RUN" = 1 ] && echo "DRY RUN on device $DEVICE: small sizes; GPU-only figures are skipped" | tee -a "$LOG"
step env 60 bash -c environment
step probe 150 "$PYTHON" bench/gpu_probe.py --device "$DEVICE" $PROBE_ARGS --out "$OUT/probe.json"
step example 120 bash -c example
step bench 150 bash -c bench
step tests 600 bash -c tests  # whatever is left of the budget
summary
rm -rf "$WORK"
cat "$OUT/SUMMARY.md"
ls -l "$OUT"
