"""Learning results of a suite (benchmarks/suites.py): Pendulum-v1's, or a MuJoCo task's with the datasets of
benchmarks/mujoco_datasets.py; every experiment once per seed, then learning.md with a table and figure per group.

    python benchmarks/learning.py                                   # Pendulum-v1, full: 3 seeds, about 9 hours
    python benchmarks/learning.py --quick --jobs 2                  # 1 seed, short runs, two at a time: 20 minutes
    python benchmarks/learning.py --only offline --experiments bc- --seeds 1 2 3 4 5
    python benchmarks/learning.py --alf-buffer ../shared/alf_buffers/pendulum_replay_buffer_from_sac
    python benchmarks/learning.py --only rlpd --results-dir benchmarks/results/rlpd_pendulum   # about 1.5 hours
    python benchmarks/mujoco_datasets.py --env-id Hopper-v5         # a MuJoCo task's datasets first (hours)
    python benchmarks/learning.py --env-id Hopper-v5 --address auto # every group, 3 seeds, on a Ray cluster
    python benchmarks/learning.py --env-id Hopper-v5 --report-only  # the tables from the records, nothing run

(benchmarks/mujoco_learning.py is this command with --env-id Hopper-v5 by default.) Every run is a task of
benchmarks/runner.py (Ray: embedded here with --jobs CPUs, or the cluster at --address) in
benchmarks/runs/<group>/<experiment>/seed<k> (a MuJoCo task's under mujoco/<env-id>/). A finished run of the same
command and data is skipped, an unfinished one continues from its checkpoint, one made by an older version of its
script or buffer.py is kept and named under its table (unless --rerun-older-code); each finished run's evaluations,
timing and stamp are copied to <results-dir>/records/<group>/<experiment>/seed<k> (committed) and back where a
machine lacks the run (a run directory holding another command's or dataset's run is not read: its record is).
Pendulum's medium and replay datasets are made under benchmarks/datasets/ the same way. A MuJoCo suite has peer
rows too (cleanrl-sac, d3rlpy-...: the peers' own code through benchmarks/peers.py, in their venvs). SIGTERM stops
the command as Ctrl-C does: the running runs write their checkpoints, and the same command continues them.

Writes <results-dir>/learning.md (default benchmarks/results/, a MuJoCo task's results/mujoco_<env-id>/) and
learning_<group>.png with report.py, for what the invocation selects (--only, --experiments, --seeds).
"""

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402
import runner  # noqa: E402
import suites  # noqa: E402
from runner import RunFailed, rel  # noqa: E402
from suites import BENCH  # noqa: E402

sys.path.insert(0, str(runner.ROOT))
import buffer  # noqa: E402


def run_then_report(parser, args, suite: suites.Suite, results_dir: Path):
    """A benchmark's command: the records restored, the unfinished runs made (none with --report-only), each
    finished one recorded; then results_dir/learning.md and its figures. Bad input and a failed run: one line."""
    start = time.time()
    experiments = [e for group in suite.groups.values() for e in group.experiments]
    missing = sorted({rel(d.path) for d in (e.dataset for e in experiments) if d and not d.make
                      and not d.path.is_file() and not any(d.path.glob("**/ckpt-*-replay_buffer"))})
    if missing and not args.report_only:
        parser.exit(2, f"error: no dataset in {', '.join(missing)}: make it first with {suite.make_datasets}\n")
    print(f"{suite.settings}; {args.jobs} run(s) at a time; seeds {' '.join(map(str, args.seeds))}", flush=True)
    runner.sync_records(experiments, args.seeds, results_dir)
    try:
        with runner.sigterm_as_interrupt():  # SIGTERM as Ctrl-C: the running runs checkpoint, then exit 130
            if not args.report_only:
                runner.run_grid(experiments, args.seeds, args.jobs, args.threads, args.rerun_older_code, results_dir,
                                args.address)
    except RunFailed as e:
        parser.exit(2, f"error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted: the running runs wrote their checkpoints; the same command continues them\n")
    finally:
        runner.sync_records(experiments, args.seeds, results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    command_line = "python " + shlex.join([rel(Path(sys.argv[0])), *sys.argv[1:]])
    text = report.report(suite, args.seeds, results_dir, command_line)
    (results_dir / "learning.md").write_text(text)
    print("\n" + text)
    print(f"wrote {rel(results_dir / 'learning.md')} and its figures; {time.time() - start:.0f} s in all")


def add_run_flags(parser):
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 1 2 3 (Pendulum --quick: 1)")
    parser.add_argument("--address", metavar="auto|HOST:PORT",
                        help="join this running Ray cluster (default: Ray embedded on this machine, --jobs CPUs)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time without --address (default 1)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (default 1: the networks are small, and more threads than free "
                             "cores slow torch down many times)")
    parser.add_argument("--rerun-older-code", action="store_true",
                        help="make again the runs made by an older version of their script or buffer.py (default: "
                             "kept, finished or continued, and listed under their table)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write the tables from the evaluations so far (unfinished runs marked)")
    parser.add_argument("--datasets-dir", type=Path, default=BENCH / "datasets", help="a MuJoCo task's datasets")


def main(default_env_id="Pendulum-v1"):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default=default_env_id, help="Pendulum-v1, or a MuJoCo task with D4RL's scores")
    parser.add_argument("--quick", action="store_true", help="Pendulum-v1: short runs, 1 seed (about 35 minutes)")
    parser.add_argument("--alf-buffer", metavar="PATH", help="Pendulum-v1: also run hybrid SAC with this ALF buffer")
    parser.add_argument("--only", nargs="+", metavar="GROUP", help="run and report only these groups")
    parser.add_argument("--experiments", nargs="+", metavar="NAME",
                        help="only these experiments (the tables' names), or those whose names begin with these (bc-)")
    for kind, what in [("sac", "online and hybrid SAC"), ("rlpd", "RLPD-style hybrid SAC (15 times default hybrid "
                       "SAC's CPU per iteration)"), ("bc", "BC"), ("cql", "offline CQL, and offline-to-online CQL's "
                       "offline phase"), ("cql-long", "the cql_weight group's -long run (MuJoCo)")]:
        parser.add_argument(f"--{kind}-iterations", type=int, help=f"{what} (default: the suite's)")
    parser.add_argument("--results-dir", type=Path, help="default: benchmarks/results, results/mujoco_<env-id>")
    add_run_flags(parser)
    parser.add_argument("--iterations-scale", type=float, default=1.0, help=argparse.SUPPRESS)  # smoke tests
    args = parser.parse_args()
    budget = {kind: value for kind in ("sac", "rlpd", "bc", "cql", "cql_long")
              if (value := getattr(args, f"{kind}_iterations")) is not None}
    if min([args.iterations_scale, args.jobs, args.threads, *budget.values()]) <= 0:
        parser.error("--jobs, --threads and the iteration counts must be positive")
    refs, source = buffer.reference_returns(args.env_id, None)
    if args.env_id == "Pendulum-v1":
        if args.alf_buffer and not Path(args.alf_buffer).exists():
            parser.error(f"--alf-buffer {args.alf_buffer}: no such file or directory")
        mode = "quick" if args.quick else "full"
        args.seeds = args.seeds or list(suites.PENDULUM_MODES[mode]["seeds"])
        args.only = args.only or ["online", "hybrid", "offline", "offline_to_online", "rlpd"]
        suite = suites.pendulum(args, mode, {**suites.PENDULUM_MODES[mode], **budget}, refs)
    elif refs is None:
        parser.error(f"--env-id {args.env_id}: no D4RL reference returns known, so no normalized score "
                     f"(known: {', '.join(buffer.D4RL_REFERENCE_RETURNS)})")
    elif args.quick or args.alf_buffer:
        parser.error("--quick and --alf-buffer are Pendulum-v1's")
    else:
        args.seeds, args.only = args.seeds or [1, 2, 3], args.only or ["online_hybrid", "offline", "offline_to_online",
                                                                      "cql_weight"]
        suite = suites.mujoco(args, {**suites.MUJOCO_ITERATIONS, **budget}, refs, source)
    select(parser, suite, args.only, args.experiments)
    run_then_report(parser, args, suite, args.results_dir or BENCH / "results" / (
        "" if args.env_id == "Pendulum-v1" else f"mujoco_{args.env_id}"))


def select(parser, suite: suites.Suite, only: list, names: list):
    """Keep the groups of --only and, of them, the experiments --experiments names: a name that is an experiment's
    selects that one (`sac`, not `sac-expert`), any other the experiments whose names begin with it (`bc-`); a name
    or group that selects nothing is one error line."""
    if unknown := set(only) - set(suite.groups):
        parser.error(f"--only: no group {', '.join(sorted(unknown))} (choose from {', '.join(suite.groups)})")
    every = [e.name for group in suite.groups.values() for e in group.experiments]
    for name in names or ():
        if not any(n.startswith(name) for n in every):
            parser.error(f"--experiments: no experiment's name begins with {name}")
    def chosen(n: str) -> bool:
        return not names or any(n == name or (name not in every and n.startswith(name)) for name in names)
    for group_name, group in list(suite.groups.items()):
        group.experiments = [e for e in group.experiments if chosen(e.name)]
        if group_name not in only or not group.experiments:
            del suite.groups[group_name]
    if not suite.groups:
        parser.error("no experiment matches --only and --experiments")


if __name__ == "__main__":
    main()
