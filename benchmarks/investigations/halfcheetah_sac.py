"""Why online SAC stalled near 1,600 on some HalfCheetah-v5 seeds (issue 38), and whether a default fixes it.

Online SAC runs of hybrid_sac.py that change one setting at a time against the defaults it had until
2026-12-07 (learning_starts 500, q_lr 1e-3, LayerNorm critics), each with every other flag at its default:

    python benchmarks/investigations/halfcheetah_sac.py --iterations 20000 --seeds 1 2 3 4   # the study
    python benchmarks/investigations/halfcheetah_sac.py --iterations 100000 --seeds 1 2 3 4 5 --settings starts5000

Runs go to benchmarks/runs/halfcheetah_sac/ (git-ignored; a finished run is skipped); each run's eval.jsonl is
copied to benchmarks/investigations/halfcheetah_sac/records/, and the table of every record there to
halfcheetah_sac.md beside this file. One torch thread per run, --jobs runs at once.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RECORDS = HERE / "halfcheetah_sac" / "records"
SETTINGS = {  # name: (flags, what it changes)
    "base": (["--learning-starts", "500", "--q-lr", "1e-3"], "the defaults before this study"),
    "starts5000": (["--learning-starts", "5000", "--q-lr", "1e-3"], "5,000 random steps first (CleanRL's)"),
    "qlr3e-4": (["--learning-starts", "500", "--q-lr", "3e-4"], "critic and entropy lr 3e-4 (Haarnoja et al.)"),
    "nolayernorm": (["--learning-starts", "500", "--q-lr", "1e-3", "--no-critic-layer-norm"],
                    "critics without LayerNorm (standard SAC)"),
}


# records/100000/starts5000/seed3.jsonl was made by hand from the 20,000-iteration run, continued:
RESUMED = (" The 100,000 row: the 20,000-iteration starts5000 run of seed 3 continued with `hybrid_sac.py --resume RUN "
           "--num-iterations 100000 --eval-interval 10000 --checkpoint-interval 20000` (its envs' episodes restarted "
           "at 20,000).")


def run(setting: str, seed: int, iterations: int) -> Path:
    """The run's eval.jsonl record, made unless a finished one exists."""
    record = RECORDS / str(iterations) / setting / f"seed{seed}.jsonl"
    if record.exists():
        return record
    run_dir = ROOT / "benchmarks" / "runs" / "halfcheetah_sac" / str(iterations) / setting / f"seed{seed}"
    command = [sys.executable, "hybrid_sac.py", "--env-id", "HalfCheetah-v5", "--seed", str(seed), "--num-iterations",
               str(iterations), "--eval-interval", str(iterations // 8), "--eval-episodes", "5", "--torch-threads",
               "1", "--checkpoint-interval", str(iterations // 4), *SETTINGS[setting][0], "--run-dir", str(run_dir)]
    command += ["--resume", str(run_dir)] if (run_dir / "train").exists() else ["--overwrite"]
    print(f"{setting} seed {seed}: {' '.join(command[1:])}", flush=True)
    start = time.time()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: {setting} seed {seed} failed: {result.stderr.strip().splitlines()[-1]}")
    record.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "eval.jsonl", record)
    print(f"{setting} seed {seed}: done in {time.time() - start:.0f} s", flush=True)
    return record


def table() -> str:
    lines = ["| iterations | setting | final return per seed | mean ± std | mean of all evaluations |",
             "| --- | --- | --- | --- | --- |"]
    for iterations_dir in sorted(RECORDS.iterdir(), key=lambda p: int(p.name)) if RECORDS.exists() else ():
        for setting in SETTINGS:
            files = sorted((iterations_dir / setting).glob("seed*.jsonl"), key=lambda p: int(p.stem[4:]))
            curves = [[json.loads(line)["return_mean"] for line in f.read_text().splitlines()] for f in files]
            if curves:
                finals = [c[-1] for c in curves]
                spread = f" ± {statistics.stdev(finals):,.0f}" if len(finals) > 1 else ""
                lines.append(f"| {int(iterations_dir.name):,} | {setting}: {SETTINGS[setting][1]} | "
                             + ", ".join(f"{f.stem}: {c[-1]:,.0f}" for f, c in zip(files, curves))
                             + f" | {statistics.mean(finals):,.0f}{spread} | "
                             f"{statistics.mean(statistics.mean(c) for c in curves):,.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    tasks = [(setting, seed) for seed in args.seeds for setting in args.settings]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda task: run(*task, args.iterations), tasks))
    text = (f"# Online SAC on HalfCheetah-v5: what makes seeds stall\n\nMade by "
            f"`python benchmarks/investigations/halfcheetah_sac.py` (all records under halfcheetah_sac/records/): "
            f"online SAC, 5 deterministic evaluation episodes every eighth of the run, 1 torch thread.{RESUMED}\n\n"
            f"{table()}\n")
    (HERE / "halfcheetah_sac.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
