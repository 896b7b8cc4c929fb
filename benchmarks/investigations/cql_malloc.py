"""What dropping offline_cql.py's malloc tuning cost (issue 39). Until 2026-12-07 offline_cql.py called glibc's
mallopt at import (M_MMAP_THRESHOLD 32 MB, M_TRIM_THRESHOLD 1 GB) so that the large temporaries of its update
are kept for reuse instead of being handed back to the system and faulted in again at every update. The script
no longer does; glibc reads the same settings from the environment, so a user can still ask for them:

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 python offline_cql.py ...

This measures the CPU time (user + system) of the same CQL training with and without them, alternating,
and writes benchmarks/investigations/cql_malloc.md.

    python benchmarks/investigations/cql_malloc.py [--iterations 2000] [--repeats 3]
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUNED = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def cpu_seconds(iterations: int, env: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen([sys.executable, "offline_cql.py", "--offline-buffer-dir", "data/pendulum_mixed",
                                    "--num-iterations", str(iterations), "--eval-episodes", "1", "--torch-threads",
                                    "1", "--run-dir", tmp + "/run"], cwd=ROOT, env={**os.environ, **env},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("error: the offline_cql.py run failed")
        return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = {"glibc's defaults (the script now)": [], "the old tuning, from the environment": []}
    for _ in range(args.repeats):
        for (name, runs), env in zip(times.items(), ({}, TUNED)):
            runs.append(cpu_seconds(args.iterations, env))
            print(f"{name}: {runs[-1]:.1f} CPU s", flush=True)
    base, tuned = (statistics.median(runs) for runs in times.values())
    text = "\n".join([
        "# offline_cql.py without its malloc tuning",
        "",
        f"Made by `python {shlex.join(['benchmarks/investigations/cql_malloc.py', *sys.argv[1:]])}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')}: offline_cql.py on data/pendulum_mixed, {args.iterations:,} iterations "
        f"at the default sizes, 1 torch thread, CPU seconds (user + system) of the whole run, {args.repeats} runs "
        "each, alternating.",
        "",
        "| malloc | CPU s, each run | median |",
        "| --- | --- | --- |",
        *[f"| {name} | {', '.join(f'{t:.1f}' for t in runs)} | {statistics.median(runs):.1f} |"
          for name, runs in times.items()],
        "",
        f"Dropping the tuning costs {100 * (base / tuned - 1):+.0f}% CPU time here. It was a process-wide setting "
        "made at import; whoever wants it sets `MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824` "
        "(glibc's environment names for the same two settings).",
    ]) + "\n"
    (Path(__file__).parent / "cql_malloc.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
