#!/usr/bin/env bash
# anynet's one GPU check: the CuPy and torch-CUDA legs of the test suite, the
# cross-backend check, the GPU benchmark and the conv-net rows, in at most 9 minutes on one
# H100/H200.  Every step runs under its own time limit; a failed or timed-out
# step is recorded and the next one runs; a summary ends the run.
#
#   bash benchmarks/gpu_check.sh --fetch-wheels   # where PyPI is reachable: wheels of the packages the
#                                                 # GPU machine lacks (array-api-compat, array-api-strict) into .whl/
#   bash benchmarks/gpu_check.sh                  # on the GPU machine, with .whl/ carried along
#
# Results go to $OUT when it is set (the GPU machine), else to benchmarks/results/:
# gpu-check.json (each step's status, seconds, limit and the end of its log) and
# bench_gpu's JSON and PNG; each step's log goes to $OUT (else a temporary
# folder).  Without a GPU it says so, runs the CPU side of the GPU tests and
# the CPU half of the benchmark, and marks the GPU steps skipped.
# Exit status: 0 when no step failed.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WHEELS=$ROOT/.whl
SITE=/tmp/anynet-site
WHEEL_PINS=(array-api-compat==1.16.0 array-api-strict==2.6.1)

if [ "${1:-}" = "--fetch-wheels" ]; then
    # pure-Python wheels; the GPU machine's python3 is 3.12
    exec "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d "$WHEELS" "${WHEEL_PINS[@]}"
fi

RESULTS=${OUT:-$ROOT/benchmarks/results}
LOGS=${OUT:-$(mktemp -d)}
mkdir -p "$RESULTS" "$LOGS"
STEPS=$(mktemp)
: >"$STEPS"
export PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX, probed by `anynet backends`, must not take the GPU's memory
export PYTHONPATH=$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}
GPU_TESTS=(tests/test_matrix.py tests/test_combinations.py tests/test_syncs.py tests/test_kernels.py)

# step NAME LIMIT_SECONDS COMMAND: run the bash COMMAND, its output in NAME.log, and record the outcome
step() {
    local name=$1 limit=$2 began=$SECONDS rc status
    echo "== $name (limit $limit s): $3"
    timeout --kill-after=10 "$limit" bash -c "$3" >"$LOGS/$name.log" 2>&1
    rc=$?
    case $rc in
        0) status=passed ;;
        124 | 137) status="timed out" ;;
        *) status="failed (exit $rc)" ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - began))" "$limit" >>"$STEPS"
    tail -n 12 "$LOGS/$name.log" | sed 's/^/   | /'
    echo "== $name: $status after $((SECONDS - began)) s"
}

skip() {  # skip NAME REASON
    printf '%s\t%s\t0\t0\n' "$1" "skipped: $2" >>"$STEPS"
    echo "== $1: SKIPPED, $2"
}

# 1. what the machine has; array-api-compat and -strict from the carried wheels when missing
step setup 40 "
    if ! $PY -c 'import array_api_compat, array_api_strict' 2>/dev/null; then
        ls $WHEELS/*.whl || { echo 'no wheels in .whl/: run bash benchmarks/gpu_check.sh --fetch-wheels where PyPI is reachable'; exit 1; }
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE $WHEELS/*.whl || exit 1
    fi
    nvidia-smi -L || echo 'nvidia-smi: not available'
    $PY -c 'import anynet, numpy, array_api_compat, array_api_strict; print(\"anynet\", anynet.__version__, \"numpy\", numpy.__version__, \"array-api-compat\", array_api_compat.__version__)'
    $PY -m anynet backends"

GPU=$($PY -c "
from anynet.xp.devices import cuda_device_count
try:
    print(cuda_device_count())
except ImportError:  # no CuPy
    print(0)" 2>/dev/null || echo 0)
TORCH_CUDA=$($PY -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
if [ "${GPU:-0}" -gt 0 ] || [ "${TORCH_CUDA:-0}" -gt 0 ]; then
    echo "== GPU: $GPU CUDA device(s) seen by CuPy; PyTorch CUDA: $TORCH_CUDA"
    # 2. the CuPy and torch legs of the test matrix (torch's CPU legs come along), and the GPU tests
    step tests 200 "ANYNET_TEST_BACKENDS=cupy,torch $PY -m pytest -q -p no:cacheprovider -rfE --durations=5 ${GPU_TESTS[*]}"
    # 3. every backend and device against NumPy, both dtypes
    step check 120 "$PY -m anynet check --backends cupy,torch --dtype both"
    # 4. the benchmark: anynet against a CuPy loop and PyTorch, and the CPU/GPU grid
    step bench 140 "$PY benchmarks/bench_gpu.py --quick --out $RESULTS"
    # 5. the conv-net rows: the book's first conv net through anynet.Network on CuPy and torch-CUDA vs torch eager
    step bench-conv 90 "$PY benchmarks/bench_conv_device.py --device cuda --quick --out $RESULTS"
else
    REASON="no CUDA device (CuPy: $GPU, PyTorch CUDA: $TORCH_CUDA)"
    echo "== NO GPU: $REASON. The GPU steps are skipped; the CPU side runs."
    step tests-cpu-side 120 "$PY -m pytest -q -p no:cacheprovider -rfE tests/test_syncs.py tests/test_kernels.py"
    skip tests "$REASON"
    skip check "$REASON"
    step bench-cpu-half 200 "$PY benchmarks/bench_gpu.py --quick --images 10000 --out $RESULTS"
    step bench-conv-cpu-side 90 "$PY benchmarks/bench_conv_device.py --device cpu --quick --out $RESULTS"
fi

# the summary, printed and saved
$PY - "$STEPS" "$LOGS" "$RESULTS/gpu-check.json" "$SECONDS" <<'EOF'
import json, sys
from pathlib import Path

steps_file, logs, target, seconds = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
steps = []
for line in Path(steps_file).read_text().splitlines():
    name, status, took, limit = line.split("\t")
    log = logs / f"{name}.log"
    tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
    steps.append({"step": name, "status": status, "seconds": int(took), "limit_seconds": int(limit), "log_tail": tail})
failed = [s["step"] for s in steps if not (s["status"] == "passed" or s["status"].startswith("skipped"))]
summary = {"check": "benchmarks/gpu_check.sh", "seconds": seconds, "failed_steps": failed, "steps": steps}
target.write_text(json.dumps(summary, indent=1) + "\n")
print(f"\n== summary ({seconds} s in all; {target})")
for s in steps:
    print(f"   {s['step']:<15} {s['status']:<45} {s['seconds']:>4} s" + (f" of {s['limit_seconds']}" if s["limit_seconds"] else ""))
print("   RESULT:", "every step that ran passed" if not failed else f"FAILED: {', '.join(failed)}")
sys.exit(1 if failed else 0)
EOF
