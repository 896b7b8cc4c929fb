#!/usr/bin/env bash
# Why does online SAC stall near 1,600 on some HalfCheetah-v5 seeds? Short online SAC runs (20,000 iterations,
# where stalled and learning seeds have parted in the records) that change one setting at a time:
#   base         the defaults of hybrid_sac.py before this study (learning_starts 500, q_lr 1e-3, LayerNorm)
#   starts5000   5,000 uniform random steps before learning (CleanRL's learning_starts)
#   qlr3e-4      the critics' and entropy coefficient's learning rate 3e-4 (Haarnoja et al.)
#   nolayernorm  critics without LayerNorm (standard SAC)
# Usage: bash benchmarks/investigations/halfcheetah_sac.sh [ITERATIONS] [SEEDS...]; one run at a time, 1 thread;
# finished runs are skipped. Runs go to benchmarks/runs/halfcheetah_sac/ (git-ignored); the summary to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations=${1:-20000}; shift || true
seeds=${*:-1 2 3 4}
python=${PYTHON:-.venv/bin/python}
declare -A flags=([base]="--learning-starts 500 --q-lr 1e-3" [starts5000]="--learning-starts 5000 --q-lr 1e-3"
                  [qlr3e-4]="--learning-starts 500 --q-lr 3e-4" [nolayernorm]="--learning-starts 500 --q-lr 1e-3 --no-critic-layer-norm")
for seed in $seeds; do
  for setting in base starts5000 qlr3e-4 nolayernorm; do
    dir=benchmarks/runs/halfcheetah_sac/$setting/seed$seed
    if grep -q "\"iteration\": $iterations," "$dir/eval.jsonl" 2>/dev/null; then continue; fi
    rm -rf "$dir"
    # shellcheck disable=SC2086
    $python hybrid_sac.py --env-id HalfCheetah-v5 --seed "$seed" --num-iterations "$iterations" --eval-interval 2500 \
      --eval-episodes 5 --checkpoint-interval 1000000 --no-save-buffer --torch-threads 1 ${flags[$setting]} \
      --run-dir "$dir" > /dev/null 2>&1
  done
done
for setting in base starts5000 qlr3e-4 nolayernorm; do
  printf '%-12s' "$setting"
  for seed in $seeds; do
    tail -n 1 "benchmarks/runs/halfcheetah_sac/$setting/seed$seed/eval.jsonl" 2>/dev/null \
      | $python -c 'import json,sys; print(f" {json.loads(sys.stdin.read())[\"return_mean\"]:8.1f}", end="")' || printf '       -'
  done
  echo
done
