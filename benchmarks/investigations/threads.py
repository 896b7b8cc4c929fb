"""Several trainings at once on one machine: wall time with the scripts' thread sharing (the default,
--torch-threads 0) against every run using all of torch's threads (what the scripts did before).

    python benchmarks/threads.py                  # about 5 minutes on 2 cores; on an otherwise idle machine
    python benchmarks/threads.py --iterations 300 # shorter

Each case starts N copies of `hybrid_sac.py` (online SAC on Pendulum-v1, --iterations iterations, one
evaluation and one checkpoint at the end) at the same moment and waits for all of them: the case's time
is the wall time until the last one ends. "One after another" is N times the time of one run alone with
the same setting. Writes benchmarks/results/threads.md (or --results-dir).
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def run_together(count: int, threads: int, iterations: int) -> float:
    """Seconds until `count` runs started together have all ended."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        runs = [subprocess.Popen([sys.executable, str(ROOT / "hybrid_sac.py"), "--num-iterations", str(iterations),
                                  "--eval-episodes", "2", "--torch-threads", str(threads), "--seed", str(i + 1),
                                  "--run-dir", str(Path(tmp) / str(i))],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(count)]
        for run in runs:
            _, err = run.communicate()
            if run.returncode != 0:
                raise SystemExit(f"error: a hybrid_sac.py run failed: {err.strip().splitlines()[-1]}")
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3], help="runs at once")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    all_threads = torch.get_num_threads()  # what every run used before: torch's default
    settings = [(f"all torch threads each (--torch-threads {all_threads}, before)", all_threads),
                ("shared (the default, --torch-threads 0)", 0), ("one thread each (--torch-threads 1)", 1)]
    load_before = os.getloadavg()[0]
    rows, alone = [], {}
    for count in args.counts:
        for name, threads in settings:
            print(f"{count} at once, {name} ...", flush=True)
            seconds = run_together(count, threads, args.iterations)
            alone.setdefault(threads, seconds)  # the first count (1) is the run alone
            sequential = count * alone[threads]
            rows.append(f"| {count} | {name} | {seconds:.1f} | {sequential:.1f} | {seconds / sequential:.2f} |")
    text = "\n".join([
        "# Trainings side by side: torch threads",
        "",
        f"Made by `python {shlex.join(['benchmarks/threads.py', *sys.argv[1:]])}` "
        f"on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch's default {all_threads} threads, 1-minute load "
        f"average {load_before:.2f} before and {os.getloadavg()[0]:.2f} after. Each run: `hybrid_sac.py "
        f"--num-iterations {args.iterations} --eval-episodes 2 --torch-threads T` (online SAC on Pendulum-v1).",
        "",
        "| runs at once | threads | wall time until all end, s | one after another (N x alone), s | ratio |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Ratio below 1: running them together is faster than one after another. With the shared default each "
        "run divides torch's threads by the number of trainings running on the machine (re-checked every "
        "--log-interval iterations), so a run alone keeps all of them.",
    ]) + "\n"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "threads.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
