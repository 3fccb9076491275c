#!/usr/bin/env bash
# One prepared call on a lent GPU machine: the default profile of cleanup_scaling, then of
# grokking_replication, executed on CUDA, so that their verdicts can be compared with the
# CPU build's (CUDA's arithmetic differs from the CPU's in the last bits, which grokking
# amplifies: a verdict that flips between the two is a design defect). Through the device
# tool, from a committed tree, after `make gpu-wheels`:
#     run(command="bash benchmarks/gpu_crosscheck.sh", carry=[".whl"], timeout_s=600)
# Independent runs share the GPU as GOALDRIFT_WORKERS processes. Every chapter is capped by
# what is left of BUDGET_S. Back under $OUT: each chapter's log and claims.json, summary.txt.
set -uo pipefail
T0=$(date +%s)
BUDGET=${BUDGET_S:-560}
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
OUT="${OUT:-/tmp/gpu_crosscheck}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$OUT/wheels.log" 2>&1 || echo "wheel install failed (see wheels.log)"
export PYTHONPATH="/tmp/site:$PWD/src" PYTHONUNBUFFERED=1 GOALDRIFT_RUNS_DIR=/tmp/runs
export GOALDRIFT_WORKERS=${GOALDRIFT_WORKERS:-5}
{ nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } \
    2>&1 | tee "$OUT/summary.txt"
for ch in ${CHAPTERS:-cleanup_scaling grokking_replication}; do
    t=$(date +%s)
    timeout $(( $(left) - 10 )) python3 -m goaldrift run "$ch" --profile default --out "/tmp/out/$ch" > "$OUT/$ch.log" 2>&1
    echo "$ch rc=$? wall=$(( $(date +%s) - t ))s [$(left) s left]" | tee -a "$OUT/summary.txt"
    [ -f "/tmp/out/$ch/claims.json" ] && cp "/tmp/out/$ch/claims.json" "$OUT/$ch.claims.json"
done
