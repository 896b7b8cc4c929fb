"""A sweep: one script over a flag's values, on tasks, datasets and seeds, through the benchmarks' runner (Ray).

    python benchmarks/sweep.py --script offline_cql.py --flag cql-alpha --values 0.2 1 10 \\
        --env-ids Hopper-v5 Walker2d-v5 --datasets medium medium-replay --iterations 20000 --seeds 1 2 3
    python benchmarks/sweep.py --script offline_bc.py --flag batch-size --values 64 256 \\
        --env-ids Pendulum-v1 --datasets expert mixed --iterations 5000 --address auto     # on a running cluster

Every (task, dataset, value, seed) is a run of `python <script> --env-id <task> --offline-buffer-dir <dataset>
--<flag> <value> <extra flags>`; runs go to benchmarks/runs/sweep/<task>/<experiment>/seed<k>, finished ones are
skipped and each one's record is kept under the results directory's records/ as in learning.py. Datasets: Pendulum-v1's
those of learning.py (expert, medium, mixed, replay; medium and replay made when needed), a MuJoCo task's those of
benchmarks/mujoco_datasets.py. Writes <results-dir>/learning.md (default benchmarks/results/sweep_<flag>/): per task a
table (final return and normalized score, mean ± std over the finished seeds) and a figure, as mujoco_learning.py's.
"""

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning  # noqa: E402
import mujoco_learning  # noqa: E402
from learning import BENCH, Experiment, rel  # noqa: E402

import buffer  # noqa: E402  (learning put the repository on the path)


def task_datasets(env_id: str, datasets_dir: Path) -> dict:
    if env_id == "Pendulum-v1":
        return learning.make_datasets(lambda iterations: iterations, None)
    return mujoco_learning.datasets(env_id, datasets_dir)


def plan(args) -> dict:
    """{task: [Experiment]}: every dataset x value of the flag."""
    script_name = Path(args.script).stem.replace("offline_", "").replace("hybrid_", "")
    tasks = {}
    for env_id in args.env_ids:
        data = task_datasets(env_id, args.datasets_dir)
        tasks[env_id] = [Experiment(f"sweep/{env_id}", f"{script_name}-{d}-{args.flag}{value}", args.script,
                                    ("--env-id", env_id, f"--{args.flag}", value, *shlex.split(args.extra_flags)),
                                    data[d], args.iterations, eval_every=args.eval_interval)
                         for d in args.datasets for value in args.values]
    return tasks


def report(tasks: dict, args, results_dir: Path, command_line: str) -> str:
    parts = [f"# Sweep of {args.script} --{args.flag} over {' '.join(args.values)}\n\nMade by `{command_line}`\n",
             f"Settings: {args.iterations:,} iterations, evaluation every {args.eval_interval:,}, "
             f"{learning.EVAL_EPISODES} deterministic episodes; {args.threads} torch thread(s) per run; seeds "
             f"{' '.join(map(str, args.seeds))}. Final = the evaluation at the last iteration; ± is the standard "
             f"deviation over the counted seeds (ddof 0); a row counts the finished seeds and names the others.\n"]
    for env_id, experiments in tasks.items():
        refs, source = buffer.reference_returns(env_id, None)
        curves = {e.name: mujoco_learning.load_curves(e, args.seeds) for e in experiments}
        experiments = [e for e in experiments if curves[e.name]]
        if not experiments:
            continue
        rows = [mujoco_learning.summarize(e, curves[e.name], refs) for e in experiments]
        png = results_dir / f"learning_{env_id}.png"
        learning.plot(experiments, {e.name: mujoco_learning.counted(e, curves[e.name]) for e in experiments},
                      f"{env_id}, --{args.flag}", png, refs, target=None)
        commands = "\n".join(f"    python {shlex.join(e.command('K'))}" for e in experiments)
        parts.append(f"## {env_id}\n\nNormalized with {source}.\n\n{learning.markdown_table(rows)}\n\n"
                     f"{learning.older_code_note(experiments, args.seeds)}![{env_id}]({png.name})\n\n"
                     f"Commands, for seed K:\n\n{commands}\n")
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", required=True, choices=["hybrid_sac.py", "offline_bc.py", "offline_cql.py"])
    parser.add_argument("--flag", required=True, help="the script's flag to sweep, without its dashes: cql-alpha")
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--env-ids", nargs="+", default=["Pendulum-v1"], metavar="TASK")
    parser.add_argument("--datasets", nargs="+", default=["medium"], metavar="KIND",
                        help="Pendulum-v1: expert, medium, mixed, replay; MuJoCo: medium, medium-replay, expert")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--eval-interval", type=int, default=mujoco_learning.EVAL_EVERY)
    parser.add_argument("--extra-flags", default="", help="more flags for every run, one string")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--datasets-dir", type=Path, default=BENCH / "datasets")
    parser.add_argument("--results-dir", type=Path, help="default: benchmarks/results/sweep_<flag>")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--rerun-older-code", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="run nothing: write the tables from the records")
    learning.add_cluster_flags(parser)
    args = parser.parse_args()
    if min(args.iterations, args.eval_interval, args.threads, args.jobs) <= 0:
        parser.error("--iterations, --eval-interval, --threads and --jobs must be positive")
    try:
        tasks = plan(args)
    except KeyError as e:
        parser.error(f"--datasets: no dataset {e} for these tasks")
    missing = sorted({rel(e.dataset.path) for exps in tasks.values() for e in exps
                      if not e.dataset.make and not any(e.dataset.path.glob("**/ckpt-*-replay_buffer"))})
    if missing and not args.report_only:
        parser.exit(2, f"error: no dataset in {', '.join(missing)}: make it first with python "
                       f"benchmarks/mujoco_datasets.py\n")
    results_dir = args.results_dir or BENCH / "results" / f"sweep_{args.flag}"
    learning.run_then_report(parser, args, tasks, args.seeds, results_dir,
                             lambda command_line: report(tasks, args, results_dir, command_line))


if __name__ == "__main__":
    main()
