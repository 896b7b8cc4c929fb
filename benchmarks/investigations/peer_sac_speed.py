"""Wall time per 1,000 training steps of CleanRL's own SAC (benchmarks/peers.py cleanrl-sac, .venv-cleanrl) beside
hybrid_sac.py's online SAC, alternated in one run (needs .venv-cleanrl: bash benchmarks/peer_venvs.sh cleanrl):
HalfCheetah-v5, --steps (2,000) env steps with updates from --learning-starts (500), 1 torch thread, one final
10-episode evaluation each.

    python benchmarks/investigations/peer_sac_speed.py --reps 3     # writes benchmarks/results/peer_sac_speed.md

The figure is read from each run's own TensorBoard events (both log losses/qf_loss every 100 steps with its wall
time): the time from step 1,000 to step 1,900, every step an env step and an update, so imports, the random steps
and the evaluation are left out. Each process's CPU seconds (user + system, all of it: imports, 2,000 steps, one
evaluation; ours also writes its checkpoint) are printed beside it: on a busy machine the CPU seconds say more
than the wall time.
"""
import argparse
import glob
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]


def seconds_per_1000(events_dir: str) -> float:
    events = EventAccumulator(events_dir, size_guidance={"scalars": 0})
    events.Reload()
    wall = {e.step: e.wall_time for e in events.Scalars("losses/qf_loss")}
    return (wall[1900] - wall[1000]) / 900 * 1000


def timed(command) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--learning-starts", type=int, default=500)
    parser.add_argument("--env-id", default="HalfCheetah-v5")
    args = parser.parse_args()
    if args.steps < 2000 or args.learning_starts >= 1000:
        sys.exit("error: the figure spans steps 1,000 to 1,900: --steps at least 2,000, --learning-starts below 1,000")
    tmp = Path(tempfile.mkdtemp(prefix="peer_sac_speed_"))
    rows = []
    for rep in range(1, args.reps + 1):
        ours = tmp / f"ours{rep}"
        cpu = timed([sys.executable, "hybrid_sac.py", "--env-id", args.env_id, "--num-iterations", str(args.steps),
                     "--learning-starts", str(args.learning_starts), "--torch-threads", "1", "--eval-interval",
                     str(args.steps), "--run-dir", str(ours)])
        rows.append(("hybrid_sac.py", rep, seconds_per_1000(str(ours)), cpu, os.getloadavg()[0]))
        theirs = tmp / f"cleanrl{rep}"
        # the peer's runner straight from its venv (what peers.py cleanrl-sac starts), without peers.py's own process
        cpu = timed([str(ROOT / ".venv-cleanrl" / "bin" / "python"), "benchmarks/peer_runs/cleanrl_sac.py",
                     "--env-id", args.env_id, "--total-timesteps", str(args.steps), "--learning-starts",
                     str(args.learning_starts), "--torch-threads", "1", "--eval-interval", str(args.steps),
                     "--out", str(theirs)])
        rows.append(("CleanRL 1.2.0", rep, seconds_per_1000(glob.glob(str(theirs / "runs" / "*"))[0]), cpu,
                     os.getloadavg()[0]))
        for row in rows[-2:]:
            print(f"{row[0]:14s} rep {row[1]}: {row[2]:.1f} s per 1,000 steps (wall, steps 1,000-1,900); "
                  f"process CPU {row[3]:.1f} s; load average {row[4]:.1f}", flush=True)
    medians = {name: statistics.median(row[2] for row in rows if row[0] == name)
               for name in ("hybrid_sac.py", "CleanRL 1.2.0")}
    text = "\n".join([
        "# Online SAC's speed beside CleanRL's own code", "",
        f"Made by `python {shlex.join(['benchmarks/investigations/peer_sac_speed.py', *sys.argv[1:]])}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs: {args.env_id}, {args.steps:,} env steps, "
        f"updates from {args.learning_starts:,}, 1 torch thread, the two programs alternated.", "",
        "| program | run | wall s per 1,000 steps (steps 1,000-1,900) | process CPU s, whole run | load after |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {name} | {rep} | {wall:.1f} | {cpu:.1f} | {load:.1f} |" for name, rep, wall, cpu, load in rows), "",
        f"Median wall s per 1,000 steps: hybrid_sac.py {medians['hybrid_sac.py']:.1f}, CleanRL 1.2.0 "
        f"{medians['CleanRL 1.2.0']:.1f}: CleanRL's / ours = "
        f"{medians['CleanRL 1.2.0'] / medians['hybrid_sac.py']:.2f}. "
        "CleanRL's file runs unchanged (benchmarks/peer_runs/cleanrl_sac.py: gym 0.23.1's API over Gymnasium's env).",
    ]) + "\n"
    (ROOT / "benchmarks" / "results" / "peer_sac_speed.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
