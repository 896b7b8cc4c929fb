"""Learning results on a MuJoCo task with the D4RL-style datasets of benchmarks/mujoco_datasets.py.

    python benchmarks/mujoco_datasets.py --env-id Hopper-v5          # first: the datasets (hours)
    python benchmarks/mujoco_learning.py --env-id Hopper-v5          # every group, 3 seeds: days on 2 cores
    python benchmarks/mujoco_learning.py --env-id Hopper-v5 --only online_hybrid --seeds 1 --sac-iterations 30000

Four groups of experiments (one script, its flags and one dataset each):

    online_hybrid      hybrid_sac.py online; hybrid with the medium-replay and with the expert dataset; an
                       RLPD-style hybrid run on medium-replay (learning.py's RLPD_FLAGS: --utd-ratio 4, 10
                       critics, the TD target's minimum over 2 drawn at random, --learning-starts 100)
    offline            offline_bc.py on expert and medium; offline_cql.py on medium and medium-replay
    offline_to_online  offline_cql.py on medium-replay for --cql-iterations, then online for as many more;
                       with our CQL weight and with CORL's (--cql-alpha 10, as in cql_weight)
    cql_weight         offline_cql.py on medium and medium-replay with CORL's regularizer weight (--cql-alpha 10)
                       instead of our default 0.2 (chosen on Pendulum), everything else as in offline; and
                       on medium-replay for --cql-long-iterations (the -long row: a larger budget)

Runs (Ray tasks of benchmarks/runner.py: embedded here, or on the cluster at --address) go to
benchmarks/runs/mujoco/<env-id>/<group>/<experiment>/seed<k> and are skipped when finished with
the same command and data (learning.py's machinery: made by older code, kept and listed; --rerun-older-code
makes them again), so running the command again resumes the set; each finished run's evaluations are kept
in the results directory's records/ (committed) and restored on a machine without them.
Writes benchmarks/results/mujoco_<env-id>/learning.md (or --results-dir): per group a table (final return and
D4RL-normalized score, mean ± std over seeds; for online_hybrid the first evaluated iteration at which the
return reaches the online run's final return, and the CPU seconds per 1,000 iterations), a figure of the
evaluation return against iterations (one env step per iteration in online and hybrid runs: the x axis is
also env steps; in offline runs, gradient steps), the commands, and the published points that the table
can be read against, with how their setting differs.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning  # noqa: E402  (running, skipping finished runs, curves, tables, figures)
from learning import BENCH, ROOT, Dataset, Experiment, mean_std, rel  # noqa: E402

sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402

CORL_CQL_ALPHA = 10.0  # CORL's cql.py default cql_alpha (the CQL paper's min_q_weight for MuJoCo: 5)
GROUPS = {
    "online_hybrid": "Online SAC against hybrid SAC (ALF's loop: every iteration one env step, one update on an "
                     "online batch and one on an offline batch) with two datasets, and RLPD-style hybrid SAC. "
                     "\"first ≥ online's final at\": the mean over the seeds that get there of the first evaluated "
                     "iteration whose return reaches the online run's final return (mean over its counted seeds), "
                     "and how many seeds do; \"mean of all evaluations\": the return averaged over every evaluation "
                     "of a run (the area under its curve per iteration), mean ± std over the seeds.",
    "offline": "Pure offline training, no env step: behavior cloning and CQL. Iterations are gradient steps.",
    "offline_to_online": "CQL pre-trained offline on medium-replay, then trained online with it as the offline "
                         "part (dotted line: online training starts); a row named -alpha"
                         f"{CORL_CQL_ALPHA:g} uses CORL's CQL weight, {CORL_CQL_ALPHA:g}, as in cql_weight.",
    "cql_weight": "Pure offline CQL as in offline, but with CORL's weight of the CQL regularizer, --cql-alpha "
                  f"{CORL_CQL_ALPHA:g}, in place of our default 0.2 (chosen on Pendulum, where 5 made CQL copy "
                  "the data): does the weight the published points use change our result? The row named -long "
                  "trains for --cql-long-iterations: does a larger budget close the rest of the gap?",
}
EVAL_EVERY = 5_000  # 10 Hopper episodes take seconds: every 250 iterations would double a run's time


def datasets(env_id: str, datasets_dir: Path) -> dict:
    return {kind: Dataset(kind, datasets_dir / env_id / kind) for kind in ("medium", "medium-replay", "expert")}


def plan(env_id: str, args) -> dict:
    """{group: [Experiment]} for env_id."""
    data, env = datasets(env_id, args.datasets_dir), ("--env-id", env_id)

    def experiment(group, name, script, flags, dataset, iterations, switch=None):
        return Experiment(f"mujoco/{env_id}/{group}", name, script, (*env, *flags), dataset and data[dataset],
                          iterations, switch=switch, eval_every=EVAL_EVERY)
    cql, corl_weight, corl = args.cql_iterations, ("--cql-alpha", f"{CORL_CQL_ALPHA:g}"), f"alpha{CORL_CQL_ALPHA:g}"
    return {
        "online_hybrid": [experiment("online_hybrid", "sac", "hybrid_sac.py", (), None, args.sac_iterations),
                          experiment("online_hybrid", "sac-medium-replay", "hybrid_sac.py", (), "medium-replay",
                                     args.sac_iterations),
                          experiment("online_hybrid", "sac-expert", "hybrid_sac.py", (), "expert", args.sac_iterations),
                          experiment("online_hybrid", "sac-medium-replay-rlpd", "hybrid_sac.py", learning.RLPD_FLAGS,
                                     "medium-replay", args.rlpd_iterations)],
        "offline": [experiment("offline", f"bc-{d}", "offline_bc.py", (), d, args.bc_iterations)
                    for d in ("expert", "medium")]
        + [experiment("offline", f"cql-{d}", "offline_cql.py", (), d, cql) for d in ("medium", "medium-replay")],
        "offline_to_online": [experiment("offline_to_online", f"cql-medium-replay{w}-then-online", "offline_cql.py",
                                         ("--rl-train-after-update-steps", str(cql), *flags), "medium-replay",
                                         2 * cql, switch=cql)
                              for w, flags in (("", ()), (f"-{corl}", corl_weight))],
        "cql_weight": [experiment("cql_weight", f"cql-{d}-{corl}", "offline_cql.py", corl_weight, d, cql)
                       for d in ("medium", "medium-replay")]
        + [experiment("cql_weight", f"cql-medium-replay-{corl}-long", "offline_cql.py", corl_weight, "medium-replay",
                      args.cql_long_iterations)],
    }


def load_curves(e: Experiment, seeds: list) -> dict:
    """learning.load_curves of the seeds that have evaluated at least once (a run may be unfinished)."""
    started = [seed for seed in seeds if learning.last_iteration(e.run_dir(seed)) > 0]
    return learning.load_curves(e, started)


def counted(e: Experiment, curves: dict) -> dict:
    """The seeds a row counts: the finished ones; where none is finished yet, every one at its last evaluation
    (a mean over runs stopped at different iterations would say nothing)."""
    finished = {seed: c for seed, c in curves.items() if int(c[0][-1]) == e.iterations}
    return finished or curves


def summarize(e: Experiment, all_curves: dict, refs: dict, online_final=None) -> dict:
    """A table row of the finished seeds, the unfinished ones named; of unfinished ones at their last evaluation
    where none is finished, and the iterations column says so."""
    curves = counted(e, all_curves)
    final = [ret[-1] for it, ret in curves.values()]
    reached = sorted({int(it[-1]) for it, ret in curves.values()})
    left_out = ", ".join(f"seed {seed} at {int(it[-1]):,}" for seed, (it, ret) in all_curves.items()
                         if seed not in curves)
    iterations = (f"{e.iterations:,}" if reached == [e.iterations] else
                  f"{', '.join(f'{i:,}' for i in reached)} of {e.iterations:,} (unfinished)") + \
        (f" (unfinished, not counted: {left_out})" if left_out else "")
    row = {"experiment": e.name, "dataset": e.dataset.name if e.dataset else "—",
           "iterations": iterations, "seeds": " ".join(map(str, curves)),
           "final return": mean_std(final),
           "final normalized score": mean_std([buffer.normalized_score(r, {"reference_returns": refs}) for r in final])}
    if online_final is not None:
        reached = [it[ret >= online_final][0] for it, ret in curves.values() if (ret >= online_final).any()]
        row["first ≥ online's final at"] = (f"{np.mean(reached):,.0f}" if reached else "never") + \
            f" ({len(reached)}/{len(curves)})"
        # every evaluation's return, averaged: the area under the curve per iteration, less noisy than one final
        # evaluation where SAC on Hopper falls back for stretches
        row["mean of all evaluations"] = mean_std([ret.mean() for it, ret in curves.values()])
    if e.switch is not None:
        row[f"return at {e.switch:,} (online starts)"] = mean_std(
            [ret[it == e.switch][0] for it, ret in curves.values() if (it == e.switch).any()])
        row["lowest return after"] = mean_std([ret[it > e.switch].min() for it, ret in curves.values()
                                               if (it > e.switch).any()])
    cpu = learning.cpu_seconds_per_1000(e, list(curves))
    row["CPU s / 1,000 iterations"] = "—" if cpu is None else f"{cpu:,.0f}"
    return row


def data_note(experiments: list, seeds: list) -> str:
    """Which dataset file each group's runs read (the SHA-256 in their stamps), and whether the file on disk now
    is that one: datasets made on another kind of CPU differ (mujoco_datasets.py), and records outlive them."""
    used = {}
    for e in experiments:
        for seed in seeds:
            stamp = e.run_dir(seed) / learning.STAMP_FILE
            if e.dataset and stamp.exists():
                used.setdefault(e.dataset, set()).add(json.loads(stamp.read_text())["data_sha256"])
    notes = []
    for dataset, hashes in sorted(used.items(), key=lambda item: item[0].name):
        files = sorted(dataset.path.glob("ckpt-*-replay_buffer"))
        now = learning.file_sha256(files[-1]) if files else None
        state = ("not on this machine, so not compared" if now is None else
                 "the file there now" if hashes == {now} else f"NOT the file there now (sha256 {now[:12]})")
        notes.append(f"{dataset.name}: sha256 {', '.join(sorted(h[:12] for h in hashes))}, {state}")
    return f"Data the runs read: {'; '.join(notes)}.\n\n" if notes else ""


def report(env_id: str, groups: dict, seeds: list, settings: str, results_dir: Path, command_line: str,
           references: dict) -> str:
    refs, source = buffer.reference_returns(env_id, None)
    parts = [f"# Learning results on {env_id}\n\nMade by `{command_line}`\n",
             f"Settings: {settings}. Seeds: {' '.join(map(str, seeds))}. Datasets: benchmarks/mujoco_datasets.py "
             f"(`python buffer.py info benchmarks/datasets/{env_id}/<kind>` says how each was made).\n",
             f"Final = the evaluation (10 deterministic episodes) at the last iteration. A row counts the finished "
             f"seeds and names the unfinished ones; where none is finished, it counts them at their last evaluation "
             f"and the iterations column says which; ± is the standard deviation over the counted seeds "
             f"(ddof 0). Normalized score = 100 (R - R_random) / (R_expert - R_random), {source}: "
             f"R_random = {refs['random']:,.2f}, R_expert = {refs['expert']:,.2f}, for every run.\n"]
    for group, experiments in groups.items():
        curves = {e.name: load_curves(e, seeds) for e in experiments}
        experiments = [e for e in experiments if curves[e.name]]  # not started yet: no row, no line
        if not experiments:
            continue
        counted_curves = {e.name: counted(e, curves[e.name]) for e in experiments}
        # online SAC's final return (mean over its counted seeds), the mark the other runs of its group are read against
        online_final = (float(np.mean([ret[-1] for it, ret in counted_curves["sac"].values()]))
                        if "sac" in counted_curves else None)
        rows = [summarize(e, curves[e.name], refs, online_final) for e in experiments]
        png = results_dir / f"learning_{group}.png"
        target = None if online_final is None else (online_final, f"online SAC's final return ({online_final:,.0f})")
        learning.plot(experiments, counted_curves, f"{env_id}, {group}", png, refs, target=target,
                      xlabel="iteration (online, hybrid: = env steps; offline: gradient steps)")
        commands = "\n".join(f"    python {shlex.join(e.command('K'))}" for e in experiments)
        parts.append(f"## {group}\n\n{GROUPS[group]}\n\n{learning.markdown_table(rows)}\n\n"
                     f"{learning.older_code_note(experiments, seeds)}{data_note(experiments, seeds)}"
                     f"![{group}]({png.name})\n\n"
                     f"Commands, for seed K:\n\n{commands}\n\n"
                     f"**Published points to read it against.** {references.get(group, 'none recorded yet.')}\n")
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="Hopper-v5")
    parser.add_argument("--only", nargs="+", choices=list(GROUPS), default=list(GROUPS))
    parser.add_argument("--experiments", nargs="+", metavar="NAME", help="only these experiments (the tables' names)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sac-iterations", type=int, default=100_000, help="online and hybrid SAC")
    parser.add_argument("--rlpd-iterations", type=int, default=10_000,
                        help="RLPD-style hybrid SAC (about 15 times default hybrid SAC's CPU per iteration: 10,000 "
                             "iterations take about an hour on one core; its question is the first env steps)")
    parser.add_argument("--bc-iterations", type=int, default=100_000)
    parser.add_argument("--cql-iterations", type=int, default=20_000,
                        help="offline CQL, and the offline phase of offline-to-online CQL")
    parser.add_argument("--cql-long-iterations", type=int, default=60_000,
                        help="the cql_weight group's -long run (3 times --cql-iterations: 110 minutes on one core "
                             "beside another run on Hopper; CORL's budget is 1M)")
    parser.add_argument("--datasets-dir", type=Path, default=BENCH / "datasets")
    parser.add_argument("--results-dir", type=Path, help="default: benchmarks/results/mujoco_<env-id>")
    learning.add_cluster_flags(parser)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--rerun-older-code", action="store_true",
                        help="make again the runs made by an older version of their script or buffer.py")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write the tables from the evaluations made so far (unfinished runs marked)")
    args = parser.parse_args()
    if min(args.jobs, args.threads, args.sac_iterations, args.rlpd_iterations, args.bc_iterations,
           args.cql_iterations, args.cql_long_iterations) <= 0:
        parser.error("--jobs, --threads and the iteration counts must be positive")
    if buffer.reference_returns(args.env_id, None)[0] is None:
        parser.error(f"--env-id {args.env_id}: no D4RL reference returns known, so no normalized score "
                     f"(known: {', '.join(buffer.D4RL_REFERENCE_RETURNS)})")
    everything = plan(args.env_id, args)
    unknown = set(args.experiments or ()) - {e.name for exps in everything.values() for e in exps}
    if unknown:
        parser.error(f"--experiments: no experiment named {', '.join(sorted(unknown))}")
    groups = {g: [e for e in exps if not args.experiments or e.name in args.experiments]
              for g, exps in everything.items() if g in args.only}
    groups = {g: exps for g, exps in groups.items() if exps}
    if not groups:
        parser.error("no experiment matches --only and --experiments")
    missing = sorted({rel(e.dataset.path) for exps in groups.values() for e in exps
                      if e.dataset and not any(e.dataset.path.glob("ckpt-*-replay_buffer"))})
    if missing and not args.report_only:
        parser.exit(2, f"error: no dataset in {', '.join(missing)}: make it first with python "
                       f"benchmarks/mujoco_datasets.py --env-id {args.env_id} (or choose --only/--experiments)\n")
    settings = (f"online and hybrid SAC {args.sac_iterations:,} iterations, RLPD-style {args.rlpd_iterations:,}, "
                f"BC {args.bc_iterations:,}, CQL {args.cql_iterations:,} (-long: {args.cql_long_iterations:,}; "
                f"offline-to-online: {2 * args.cql_iterations:,}, online from {args.cql_iterations:,}); "
                f"evaluation every {EVAL_EVERY:,} iterations; {args.threads} torch thread(s) per run")
    print(f"{settings}; seeds {' '.join(map(str, args.seeds))}", flush=True)
    results_dir = args.results_dir or BENCH / "results" / f"mujoco_{args.env_id}"
    learning.run_then_report(parser, args, groups, args.seeds, results_dir, lambda command_line: report(
        args.env_id, groups, args.seeds, settings, results_dir, command_line,
        PUBLISHED.get(args.env_id.split("-v")[0], {})))


# The published points each group's table is read against, with their sources and how they differ. Every
# dataset here is made by mujoco_datasets.py, not D4RL's: same kinds and sizes, other policies (ours are
# weaker where SAC trained for fewer steps), other env version (v5; D4RL is v2 or v0).
_OURS = ("Our datasets are made here (benchmarks/mujoco_datasets.py), not D4RL's: v5 envs, our own SAC policies "
         "(their returns: `buffer.py info`), so only the order of magnitude of the normalized scores compares.")
_CORL = ("CORL (corl-team/CORL README, D4RL -v2, 1M gradient steps, 4 seeds, normalized score of the last "
         "evaluation, mean ± std over seeds)")
_D3RLPY = "d3rlpy (takuseno/d3rlpy-benchmarks d4rl_table.csv, D4RL -v0, 500k gradient steps, 10 seeds, final)"
_CQL_SETTINGS = ("Besides the steps, our CQL's defaults differ from CORL's cql.py (its TrainConfig): CQL weight "
                 "0.2 (CORL 10, d3rlpy's D4RL script 5; the cql_weight group tries 10), critic learning rate 1e-3 "
                 "(CORL 3e-4), actor 3e-4 (3e-5), critics of 2 hidden layers with LayerNorm (CORL 3, no LayerNorm).")
_RLPD = ("RLPD (Ball et al. 2023, ikostrikov/rlpd): 10 LayerNorm critics, minimum over 2, utd 20, half of every "
         "batch offline, 250k env steps on D4RL -v2 data; its locomotion numbers were not found in any "
         "source we could read, so none is quoted. Our RLPD-style run uses utd 4 (CPU time).")


def _cleanrl_sac(env_v2: str, final_return: str) -> str:
    return (f"CleanRL's sac_continuous_action.py on {env_v2} (docs.cleanrl.dev, rl-algorithms/sac): {final_return}, "
            "the training episodic return after 1M env steps, 3 seeds (learning starts at 5,000 steps, no LayerNorm, "
            "actor updated twice every second step); ours are deterministic evaluation returns on the v5 env after "
            "--sac-iterations env steps.")


PUBLISHED = {
    "Hopper": {
        "online_hybrid": _cleanrl_sac("Hopper-v2", "2,310.46 ± 342.82"),
        "offline": f"{_CORL}: BC hopper-medium 53.51 ± 1.76; CQL hopper-medium 59.08 ± 3.77, hopper-medium-replay "
                   f"95.11 ± 5.27 (hopper-expert: no published CORL score). {_D3RLPY}: CQL hopper-medium 50.1 ± "
                   f"19.9, hopper-medium-replay 31.1 ± 3.4. Ours train far fewer steps (--cql-iterations). "
                   f"{_CQL_SETTINGS} {_OURS}",
    },
    "HalfCheetah": {
        "online_hybrid": _cleanrl_sac("HalfCheetah-v2", "9,634.89 ± 1,423.73"),
        "offline": f"{_CORL}: BC halfcheetah-medium 42.40 ± 0.19; CQL halfcheetah-medium 47.04 ± 0.22, "
                   f"halfcheetah-medium-replay 45.04 ± 0.27 (halfcheetah-expert: none published). {_D3RLPY}: CQL "
                   f"halfcheetah-medium 41.7 ± 0.2, halfcheetah-medium-replay 43.6 ± 3.0. {_CQL_SETTINGS} {_OURS}",
    },
    "Walker2d": {
        "online_hybrid": _cleanrl_sac("Walker2d-v2", "3,591.45 ± 911.33"),
        "offline": f"{_CORL}: BC walker2d-medium 63.23 ± 16.24; CQL walker2d-medium 80.75 ± 3.28, "
                   f"walker2d-medium-replay 73.09 ± 13.22. {_CQL_SETTINGS} {_OURS}",
    },
}
# on every env, hybrid SAC is also read against RLPD's setting, CQL with CORL's weight against the same CQL points,
# and offline-to-online against none
for _family in PUBLISHED.values():
    _family["online_hybrid"] += " " + _RLPD
    _family["cql_weight"] = _family["offline"]
    _family["offline_to_online"] = ("None: CORL's offline-to-online tables (CQL, Cal-QL) cover AntMaze and Adroit "
                                    f"only. {_OURS}")

if __name__ == "__main__":
    main()
