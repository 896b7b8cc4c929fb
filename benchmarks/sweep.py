"""A sweep: one script over a flag's values, on tasks, datasets and seeds, through the benchmarks' runner (Ray).

    python benchmarks/sweep.py --script offline_cql.py --flag cql-alpha --values 0.2 1 10 \\
        --env-ids Hopper-v5 Walker2d-v5 --datasets medium medium-replay --iterations 20000 --seeds 1 2 3
    python benchmarks/sweep.py --script offline_bc.py --flag batch-size --values 64 256 \\
        --env-ids Pendulum-v1 --datasets expert mixed --iterations 5000 --address auto     # on a running cluster
    python benchmarks/sweep.py --script hybrid_sac.py --flag critic-layer-norm --values False \\
        --env-ids Walker2d-v5 --datasets none --iterations 100000 --seeds 1 2      # online SAC, no dataset

Every (task, dataset, value, seed) is a run of `python <script> --offline-buffer-dir <dataset> --env-id <task>
--<flag> <value> <extra flags>` in benchmarks/runs/sweep/<task>/<experiment>/seed<k>, skipped when finished and
recorded as learning.py's are. Datasets: Pendulum-v1's those of its suite (expert, medium, mixed, replay), a MuJoCo
task's those of benchmarks/mujoco_datasets.py; `none` runs without --offline-buffer-dir (hybrid_sac.py: online). A
boolean flag's values True and False become --<flag> and --no-<flag>. Writes <results-dir>/learning.md (default
benchmarks/results/sweep_<flag>/) with report.py: per task a table and a figure.
"""

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning  # noqa: E402
import suites  # noqa: E402
from suites import BENCH, Experiment, Group, Suite  # noqa: E402

import buffer  # noqa: E402  (learning put the repository on the path)


def flag_and_value(flag: str, value: str) -> tuple:
    """The command line's words for one value: a boolean's True and False are tyro's --flag and --no-flag."""
    return {"True": (f"--{flag}",), "False": (f"--no-{flag}",)}.get(value, (f"--{flag}", value))


def sweep(args) -> Suite:
    """A suite of one group per task: every dataset x value of the flag."""
    algorithm = Path(args.script).stem.replace("offline_", "").replace("hybrid_", "")
    groups = {}
    for env_id in args.env_ids:
        data = (suites.pendulum_datasets() if env_id == "Pendulum-v1" else
                suites.mujoco_datasets(env_id, args.datasets_dir))
        data["none"] = None
        groups[env_id] = Group(env_id, f"Normalized with {buffer.reference_returns(env_id, None)[1]}.", [
            Experiment(f"sweep/{env_id}", f"{algorithm}-{d + '-' if data[d] else ''}{args.flag}{value}", args.script,
                       ("--env-id", env_id, *flag_and_value(args.flag, value), *shlex.split(args.extra_flags)),
                       data[d], args.iterations, eval_every=args.eval_interval)
            for d in args.datasets for value in args.values])
    settings = (f"{args.iterations:,} iterations, evaluation every {args.eval_interval:,}, {suites.EVAL_EPISODES} "
                f"deterministic episodes; {args.threads} torch thread(s) per run")
    return Suite(f"Sweep of {args.script} --{args.flag} over {' '.join(args.values)}",
                 [f"Settings: {settings}. Seeds: {' '.join(map(str, args.seeds))}.\n",
                  suites.COUNTED_SEEDS.format(evaluation="the evaluation") + "\n"], groups, settings=settings)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", required=True, choices=["hybrid_sac.py", "offline_bc.py", "offline_cql.py"])
    parser.add_argument("--flag", required=True, help="the script's flag to sweep, without its dashes: cql-alpha")
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--env-ids", nargs="+", default=["Pendulum-v1"], metavar="TASK")
    parser.add_argument("--datasets", nargs="+", default=["medium"], metavar="KIND",
                        help="Pendulum-v1: expert, medium, mixed, replay; MuJoCo: medium, medium-replay, expert; "
                        "none: no offline data")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--eval-interval", type=int, default=suites.MUJOCO_EVAL_EVERY)
    parser.add_argument("--extra-flags", default="", help="more flags for every run, one string: "
                        "--extra-flags '--no-critic-layer-norm --alpha 1.0'")
    parser.add_argument("--results-dir", type=Path, help="default: benchmarks/results/sweep_<flag>")
    learning.add_run_flags(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--extra-flags" in argv[:-1]:  # argparse takes a value beginning with "-" for a flag; "=" keeps it a value
        i = argv.index("--extra-flags")
        argv[i:i + 2] = [f"--extra-flags={argv[i + 1]}"]
    args = parser.parse_args(argv)
    args.seeds = args.seeds or [1, 2, 3]
    if min(args.iterations, args.eval_interval, args.threads, args.jobs) <= 0:
        parser.error("--iterations, --eval-interval, --threads and --jobs must be positive")
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        suite = sweep(args)
    except KeyError as e:
        parser.error(f"--datasets: no dataset {e} for these tasks")
    learning.run_then_report(parser, args, suite, args.results_dir or BENCH / "results" / f"sweep_{args.flag}")


if __name__ == "__main__":
    main()
