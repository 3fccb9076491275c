#!/usr/bin/env bash
# One prepared call on a lent GPU machine (issue 19): the paper profile of
# grokking_replication as a results snapshot (results/paper/grokking_replication/,
# first, since it is the longest), then the engine's CUDA benchmark rows. Through the device tool,
# from a clean committed tree, after `make gpu-wheels`:
#     run(command="GOALDRIFT_COMMIT=<sha> bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=600)
# The device image has torch (CUDA), numpy, sympy, matplotlib, but not the
# notebook toolchain (papermill, ipykernel, myst-nb, ...): .whl carries it as
# cp312 wheels. Every stage is capped by what is left of BUDGET_S, so the call
# ends inside its limit and returns whatever finished. Back under $OUT:
# logs.tar.gz (every log) and results.tar.gz (the snapshots).
set -uo pipefail
T0=$(date +%s)
BUDGET=${BUDGET_S:-550}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
OUT="${OUT:-/tmp/gpu_session}"
LOGS=/tmp/gpu_logs
mkdir -p "$OUT" "$LOGS"
pack() {
    tar -czf "$OUT/logs.tar.gz" -C "$LOGS" . 2>/dev/null
    [ -d results ] && tar -czf "$OUT/results.tar.gz" results 2>/dev/null
    # each seed's own execution (n_seeds 1): a usable result even when the snapshot run is cut short
    [ -d /tmp/pretrain ] && tar -czf "$OUT/pretrain.tar.gz" --exclude='.*' -C /tmp pretrain 2>/dev/null
}
trap pack EXIT

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$LOGS/wheels.log" 2>&1 || echo "wheel install failed (see wheels.log): chapters cannot run"
export PYTHONPATH="/tmp/site:$PWD/src" PYTHONUNBUFFERED=1 GOALDRIFT_RUNS_DIR=/tmp/runs GOALDRIFT_NUM_THREADS=2
export GOALDRIFT_COMMIT="${GOALDRIFT_COMMIT:-unknown}"
GD="python3 -m goaldrift"
{ nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } \
    2>&1 | tee "$LOGS/device.txt"

echo "== 1. grokking_replication, paper profile: one process per seed (CUDA tests beside them), then the snapshot [$(left) s left]"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/engine/test_cuda.py > "$LOGS/test_cuda.log" 2>&1 &
# GROK_SEEDS and GROK_PARAMS ("-p steps 15000 ...") shrink the run to what a call's budget allows;
# the snapshot records its parameters, and its page names those that differ from the profile.
SEEDS=${GROK_SEEDS:-5}
PARAMS=${GROK_PARAMS:-}
for s in $(seq 0 $((SEEDS - 1))); do
    timeout $(( $(left) - ${GROK_RESERVE_S:-200} )) $GD run grokking_replication --profile paper $PARAMS -p seed $s -p n_seeds 1 \
        --out /tmp/pretrain/grokking_replication_$s > "$LOGS/pretrain_grokking_$s.log" 2>&1 &
done
wait
tail -n 3 "$LOGS/test_cuda.log"
tail -n 1 "$LOGS"/pretrain_grokking_*.log
if [ "$(grep -l -- '-> /tmp/pretrain' "$LOGS"/pretrain_grokking_*.log | wc -l)" = "$SEEDS" ]; then
    timeout $(( $(left) - ${BENCH_RESERVE_S:-100} )) $GD run grokking_replication --profile paper $PARAMS -p n_seeds $SEEDS --snapshot \
        --out /tmp/paper/grokking_replication 2>&1 | tee "$LOGS/grokking_replication.log"
else
    echo "the seeds' runs did not all finish: no snapshot (see pretrain_grokking_*.log)"
fi

[ -n "${SKIP_BENCH:-}" ] && { echo "== benchmark skipped [$(left) s left]"; exit 0; }
echo "== 2. engine benchmark, CUDA rows: early/late phase, ensembles, one whole 3000-step run [$(left) s left]"
timeout $(( $(left) - 60 )) python3 benchmarks/bench_engine.py --device cuda --threads 2 --trials 3 --plain-steps 20 \
    --engine-steps 200 --state-cache /tmp/bench_state --run-steps 3000 2>&1 | tee "$LOGS/bench.log"
echo "== 3. 16-member λ sweep, 4000 steps, scaled to 40k [$(left) s left]"
timeout $(( $(left) > 60 ? 60 : $(left) )) python3 benchmarks/bench_engine.py --device cuda --sweep-only --sweep-steps 4000 2>&1 | tee "$LOGS/sweep.log"

projected=$(sed -n 's/.*scaled to [0-9]* steps: \([0-9.]*\) s.*/\1/p' "$LOGS/sweep.log" | tail -1)
if [ -n "$projected" ] && awk "BEGIN {exit !($projected < 180 && $projected + 20 < $(left))}"; then
    echo "== 4. the 16-member λ sweep at 40000 steps (projected ${projected} s) [$(left) s left]"
    timeout $(( $(left) )) python3 benchmarks/bench_engine.py --device cuda --sweep-only --sweep-steps 40000 \
        2>&1 | tee -a "$LOGS/sweep.log"
else
    echo "== 4. the 40000-step sweep skipped (projected ${projected:-?} s, $(left) s left)"
fi
echo "== done [$(left) s left]"
