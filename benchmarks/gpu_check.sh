#!/usr/bin/env bash
# The GPU check (issue 19): on a machine with one GPU, in about 6 minutes (under 10 on an H200 with 16
# cores, inductor's cache cold), measures
#   1. benchmarks/speed.py --device cuda --quick: each script's update eager and under torch.compile (the
#      scripts' --compile) on the GPU, the bmm reference, speed.py's Pendulum-v1 training loop on the GPU;
#      and benchmarks/speed.py --device cpu --quick --no-compile on the same machine's CPU, beside them;
#   2. a dataset for the hybrid runs: collect.py, 20,000 steps of uniform random actions;
#   3. hybrid_sac.py online and hybrid (that dataset as --offline-buffer-dir), ITERATIONS iterations each
#      (5,000), with --cuda and with --no-cuda: env steps/s and the whole command's seconds;
# on HalfCheetah-v5 (Pendulum-v1 when MuJoCo is missing), and prints one markdown table of it all, written
# to $OUT/gpu_check.md.
#
#   benchmarks/gpu_check.sh              # on the GPU machine (cds to the repo root itself)
#   SMOKE=1 benchmarks/gpu_check.sh      # without a GPU: everything tiny, --device cpu; checks this script
#
# Environment: PY, the python (default .venv/bin/python where there is one, else python3); OUT, where the
# results go (default benchmarks/results; with SMOKE=1 a new temporary folder): gpu_check.md, speed_cuda.md,
# gpu_check_cpu/speed.md and gpu_check.log (every command's output); ITERATIONS (default 5000; SMOKE 200);
# GPU_COMPILE=0 skips torch.compile on the GPU; CPU_COMPILE=1 measures it on the CPU too (a minute or two
# more); CPU_SPEED=committed takes the CPU's update figures from the committed benchmarks/results/speed.md
# (made on another machine: its header says which) instead of measuring them here.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${PY:-} ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
    DEVICE=cpu SPEED_BUDGET=--smoke ITERATIONS=${ITERATIONS:-200} LEARNING_STARTS=100 DATA_STEPS=2000
    OUT=${OUT:-$(mktemp -d /tmp/gpu_check_smoke.XXXXXX)}
else
    DEVICE=cuda SPEED_BUDGET=--quick ITERATIONS=${ITERATIONS:-5000} LEARNING_STARTS=256 DATA_STEPS=20000
    OUT=${OUT:-benchmarks/results}
fi
GPU_COMPILE=${GPU_COMPILE:-1} CPU_COMPILE=${CPU_COMPILE:-0} CPU_SPEED=${CPU_SPEED:-run}
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/gpu_check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
LOG=$OUT/gpu_check.log
: >"$LOG"
: >"$TMP/seconds"
CHECK_START=$(date +%s.%N)

# Before anything long: the GPU and the packages the scripts import (a GPU image may lack some)
"$PY" - "$DEVICE" <<'EOF'
import importlib, sys
missing = []
for name in ("torch", "numpy", "gymnasium", "tyro", "tqdm", "tensorboard", "minari"):
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
if missing:
    sys.exit(f"error: {sys.executable} lacks {', '.join(missing)} (see requirements.txt; set PY to another python)")
import torch
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit(f"error: no GPU here (torch {torch.__version__}: torch.cuda.is_available() is False); "
             "SMOKE=1 checks this script without one")
EOF

if "$PY" -c "import gymnasium as gym; gym.make('HalfCheetah-v5').close()" >/dev/null 2>&1; then
    ENV=HalfCheetah-v5
else
    ENV=Pendulum-v1
    echo "HalfCheetah-v5 cannot be made here (MuJoCo missing?): the hybrid_sac.py runs are on Pendulum-v1" \
        | tee -a "$LOG"
fi

step() {  # step NAME COMMAND...: runs it, its output into $TMP/NAME.log and the log, its seconds into $TMP/seconds
    local name=$1 start end
    shift
    echo "== $name: $*" | tee -a "$LOG"
    start=$(date +%s.%N)
    if ! "$@" >"$TMP/$name.log" 2>&1; then
        cat "$TMP/$name.log" >>"$LOG"
        echo "error: $name failed; the end of its output (all of it in $LOG):" >&2
        tail -n 25 "$TMP/$name.log" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    cat "$TMP/$name.log" >>"$LOG"
    echo "$name $(awk "BEGIN {print $end - $start}")" >>"$TMP/seconds"
    echo "   $(awk "BEGIN {printf \"%.0f\", $end - $start}") s" \
         "(all so far: $(awk "BEGIN {printf \"%.0f\", $end - $CHECK_START}") s)"
}

# 1. the updates and speed.py's loop, on the GPU first (SMOKE: on the CPU), then on the CPU
gpu_flags=(--device "$DEVICE" "$SPEED_BUDGET" --results-dir "$OUT")
[[ $GPU_COMPILE == 1 ]] || gpu_flags+=(--no-compile)
step speed_gpu "$PY" benchmarks/speed.py "${gpu_flags[@]}"
GPU_MD=$OUT/$([[ $DEVICE == cuda ]] && echo speed_cuda.md || echo speed.md)

# 2. the hybrid runs' dataset
step collect "$PY" collect.py --env-id "$ENV" --source random --num-steps "$DATA_STEPS" --reference-episodes 2 \
    --output "$TMP/data/ckpt-$DATA_STEPS-replay_buffer"

# a batch sampled in host memory and copied to the GPU through pinned memory (offline data too big for the
# GPU; the runs below keep theirs on the GPU) arrives unchanged
step host_batch "$PY" -c "import buffer, torch
offline = buffer.load_offline_buffer(['$TMP/data'])
batch = offline.sample(256)
moved = batch.to('$DEVICE')
assert all(torch.equal(a.cpu(), b) for a, b in zip(moved, batch)), 'the batch changed on its way'
print('a host batch on', moved.action.device, 'equal to the host one')"

# 3. hybrid_sac.py online and hybrid, on the GPU (--cuda; SMOKE: the CPU, as the run's first line says) and the CPU
for mode in online hybrid; do
    for where in cuda cpu; do
        flags=(--env-id "$ENV" --num-iterations "$ITERATIONS" --learning-starts "$LEARNING_STARTS"
               --eval-interval 1000000000 --eval-episodes 1 --checkpoint-interval 1000000000 --no-save-buffer
               --run-dir "$TMP/runs/$mode-$where")
        if [[ $where == cuda ]]; then flags+=(--cuda); else flags+=(--no-cuda); fi
        [[ $mode == hybrid ]] && flags+=(--offline-buffer-dir "$TMP/data")
        step "$mode-$where" "$PY" hybrid_sac.py "${flags[@]}"
    done
done

# 4. the CPU's update figures, measured last (the GPU's first, should the time run out)
if [[ $CPU_SPEED == committed ]]; then
    CPU_MD=benchmarks/results/speed.md
else
    cpu_flags=(--device cpu "$SPEED_BUDGET" --results-dir "$OUT/gpu_check_cpu")
    [[ $CPU_COMPILE == 1 ]] || cpu_flags+=(--no-compile)
    step speed_cpu "$PY" benchmarks/speed.py "${cpu_flags[@]}"
    CPU_MD=$OUT/gpu_check_cpu/speed.md
fi

# 5. one table
GPU_MD=$GPU_MD CPU_MD=$CPU_MD CPU_SPEED=$CPU_SPEED TMP=$TMP OUT=$OUT ENV=$ENV ITERATIONS=$ITERATIONS \
DATA_STEPS=$DATA_STEPS LEARNING_STARTS=$LEARNING_STARTS SMOKE=$SMOKE DEVICE=$DEVICE CHECK_START=$CHECK_START \
"$PY" - <<'EOF'
import os, platform, re, time
from pathlib import Path

import torch

E = os.environ
TMP, OUT, ENV, SMOKE = Path(E["TMP"]), Path(E["OUT"]), E["ENV"], E["SMOKE"] == "1"
seconds = {name: float(s) for name, s in (line.split() for line in (TMP / "seconds").read_text().splitlines())}


def sections(path):
    """{section heading: [row as {column: cell}]} of a markdown file made by speed.py."""
    out, heading, header = {}, "", None
    for line in Path(path).read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("## "):
            heading, header = line[3:], None
        elif not line.startswith("|"):
            header = None
        elif header is None:
            header = cells
        elif set(cells) != {"---"}:
            out.setdefault(heading, []).append(dict(zip(header, cells)))
    return out


def find(tables, heading_start, first_cell_start, column):
    for heading, rows in tables.items():
        if heading.startswith(heading_start):
            for row in rows:
                if next(iter(row.values())).startswith(first_cell_start):
                    return row.get(column)
    return None


def number(text):
    try:
        return float(str(text).replace(",", "").split()[0])
    except (ValueError, IndexError):
        return None


gpu, cpu = sections(E["GPU_MD"]), sections(E["CPU_MD"])
gpu_label = "GPU" if E["DEVICE"] == "cuda" else "GPU (SMOKE: cpu)"
rows = []


def row(what, cpu_value, gpu_value, higher_is_better):
    c, g = number(cpu_value), number(gpu_value)
    ratio = "" if not (c and g) else f"{(g / c if higher_is_better else c / g):.2f}"
    rows.append([what, cpu_value or "—", gpu_value or "—", ratio])


row("torch.bmm [2,256,256] x [2,256,256], GFLOP/s", find(cpu, "Dense", "torch.bmm", "GFLOP/s"),
    find(gpu, "Dense", "torch.bmm", "GFLOP/s"), True)
for name, short in (("hybrid_sac.py", "SAC"), ("offline_bc.py", "BC"), ("offline_cql.py", "CQL")):
    row(f"{name} {short} update, eager, ms", find(cpu, "Updates", name, "ms per update"),
        find(gpu, "Updates", name, "ms per update"), False)
for name, short in (("hybrid_sac.py", "SAC"), ("offline_bc.py", "BC"), ("offline_cql.py", "CQL")):
    c, g = find(cpu, "The same", name, "compiled ms"), find(gpu, "The same", name, "compiled ms")
    cpu_first, gpu_first = (find(md, "The same", name, "seconds to compile") or "—" for md in (cpu, gpu))
    row(f"{name} {short} update, torch.compile, ms (first call: CPU {cpu_first} s, {gpu_label} {gpu_first} s)",
        c or "not measured", g or "not measured", False)
row("speed.py: Pendulum-v1 online training loop, iterations/s (steady state)",
    find(cpu, "hybrid_sac.py online", "", "iterations/s"), find(gpu, "hybrid_sac.py online", "", "iterations/s"), True)


def run_figures(name):
    """(env steps/s over the loop, as hybrid_sac.py's charts/SPS at the last iteration, its device note)"""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(TMP / "runs" / name), size_guidance={"scalars": 0})
    events.Reload()
    sps = events.Scalars("charts/SPS")[-1].value if "charts/SPS" in events.Tags()["scalars"] else None
    note = re.search(r"; (device: [^,]*), torch threads: ([^;]*);", (TMP / f"{name}.log").read_text())
    return sps, (f"{note[1]}, torch threads: {note[2]}" if note else "?")


offline_note = f"{int(E['DATA_STEPS']):,} rows of random actions as --offline-buffer-dir"
for mode, what in (("online", "online"), ("hybrid", f"hybrid ({offline_note})")):
    (c_sps, c_note), (g_sps, g_note) = run_figures(f"{mode}-cpu"), run_figures(f"{mode}-cuda")
    row(f"hybrid_sac.py {ENV} {what}, {int(E['ITERATIONS']):,} iterations: env steps/s ({c_note}; {g_note})",
        f"{c_sps:,.0f}" if c_sps else None, f"{g_sps:,.0f}" if g_sps else None, True)
    row("the same, the whole command's seconds (start-up, final evaluation and checkpoint included)",
        f"{seconds[f'{mode}-cpu']:.1f}", f"{seconds[f'{mode}-cuda']:.1f}", False)

gpu_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
cpu_source = ("the committed benchmarks/results/speed.md (another machine: see its header)"
              if E["CPU_SPEED"] == "committed" else f"`speed.py --device cpu` on this machine ({E['CPU_MD']})")
total = time.time() - float(E["CHECK_START"])
text = "\n\n".join([
    "# GPU check" + (" (SMOKE=1: everything tiny and on the CPU; the figures mean nothing)" if SMOKE else ""),
    f"Made by `benchmarks/gpu_check.sh` on {time.strftime('%Y-%m-%d %H:%M')}: GPU {gpu_name}, {os.cpu_count()} CPUs, "
    f"torch {torch.__version__}, Python {platform.python_version()}; {total / 60:.1f} minutes in all "
    f"({', '.join(f'{name} {s:.0f} s' for name, s in seconds.items())}).",
    "| measurement | CPU | " + gpu_label + " | GPU's speed-up |\n| --- | --- | --- | --- |\n"
    + "\n".join("| " + " | ".join(r) + " |" for r in rows),
    f"Updates at Pendulum's shapes (batch 256, hidden 256), from `speed.py --device {E['DEVICE']}` ({E['GPU_MD']}) "
    f"and {cpu_source}. GPU's speed-up: CPU time / GPU time (or GPU rate / CPU rate); above 1 the GPU is faster. "
    f"The hybrid_sac.py runs: --learning-starts {E['LEARNING_STARTS']}, one evaluation episode and one checkpoint "
    "(no replay buffer) at the end, torch's threads as the script sets them; env steps/s is the script's charts/SPS at "
    "the last iteration (env steps since the loop started / seconds, the final evaluation and checkpoint excluded). "
    "Each command's output is in gpu_check.log.",
]) + "\n"
(OUT / "gpu_check.md").write_text(text)
print("\n" + text)
print(f"wrote {OUT / 'gpu_check.md'}")
EOF
