"""Torch threads: how long a short training takes with the scripts' default (no --torch-threads: the cores free
to the run, counted each second), with --torch-threads 1 and with one thread per core, in three situations:
alone on an idle machine, beside one unrelated busy process (a pure Python loop), and two of our trainings at once.

    python benchmarks/investigations/threads.py                   # about 20 minutes on 2 idle cores
    python benchmarks/investigations/threads.py --iterations 400  # shorter

Each case starts its trainings at the same moment and waits for all of them: its time is the wall time until
the last one ends. Two trainings, both updating from the first iteration: hybrid SAC (hybrid_sac.py) and CQL
(offline_cql.py, whose sampled actions make the largest matrices of the three scripts) on the bundled mixed
buffer. Writes benchmarks/results/threads.md (or --results-dir).
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAININGS = {"hybrid SAC, data/pendulum_mixed (the README's main job)": ["hybrid_sac.py", "--offline-buffer-dir",
                                                                         "data/pendulum_mixed"],
             "CQL, data/pendulum_mixed": ["offline_cql.py", "--offline-buffer-dir", "data/pendulum_mixed"]}
BUSY_LOOP = "while True: pass"


def run_together(command: list, count: int, threads, iterations: int) -> float:
    """Seconds until `count` copies of the training, started together, have all ended."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        flags = ["--num-iterations", str(iterations), "--eval-episodes", "2"]
        flags += [] if threads is None else ["--torch-threads", str(threads)]
        runs = [subprocess.Popen([sys.executable, *command, *flags, "--seed", str(i + 1), "--run-dir",
                                  str(Path(tmp) / str(i))], cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True) for i in range(count)]
        for run in runs:
            _, err = run.communicate()
            if run.returncode != 0:
                raise SystemExit(f"error: {command[0]} failed: {err.strip().splitlines()[-1]}")
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    cores = os.cpu_count()
    load_before = os.getloadavg()[0]
    settings = [None, 1, cores]  # None: the default
    rows, ratios, slower = [], [], []  # default / best; the slowest fixed count / best
    for name, command in TRAININGS.items():
        for situation, count, busy in [("alone", 1, False), ("beside one busy process", 1, True),
                                       ("two of ours at once", 2, False)]:
            seconds = {}
            for threads in settings:
                print(f"{name}, {situation}, --torch-threads {threads or 'unset'} ...", flush=True)
                other = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
                try:
                    seconds[threads] = run_together(command, count, threads, args.iterations)
                finally:
                    if other:
                        other.kill()
                        other.wait()
            ratios.append(seconds[None] / min(seconds.values()))
            slower.append(max(seconds[1], seconds[cores]) / min(seconds.values()))
            rows.append(f"| {name} | {situation} | " + " | ".join(f"{seconds[t]:.1f}" for t in settings)
                        + f" | {ratios[-1]:.2f} |")
    text = "\n".join([
        "# Torch threads: the default (the free cores) beside fixed counts",
        "",
        f"Made by `python {shlex.join(['benchmarks/investigations/threads.py', *sys.argv[1:]])}` "
        f"on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{cores} CPUs, 1-minute load average {load_before:.2f} before. Each training: {args.iterations:,} "
        f"iterations, 2 evaluation episodes at the end; the time until every training of the case has ended.",
        "",
        f"| training | situation | wall s, default | wall s, --torch-threads 1 | wall s, --torch-threads {cores} | "
        "default / best |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Largest default / best ratio: {max(ratios):.2f}; the worse fixed count is up to {max(slower):.2f} times "
        "slower than the best. A second thread pays only where a training is alone on the machine; beside other "
        "work, more threads than free cores wait on each other. The default starts at one thread and counts the "
        "free cores each second. Times include about 3 s of start-up.",
    ]) + "\n"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "threads.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
