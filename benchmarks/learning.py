"""Learning results on Pendulum-v1: online, hybrid, offline and offline-to-online training, over seeds.

    python benchmarks/learning.py                                   # full: 3 seeds, about 9 hours on 2 cores
    python benchmarks/learning.py --quick                           # 1 seed, short runs, about 35 minutes
    python benchmarks/learning.py --quick --jobs 2                  # two runs at a time: about 20 minutes
    python benchmarks/learning.py --address auto                    # on the Ray cluster this machine is in
    python benchmarks/learning.py --only offline --seeds 1 2 3 4 5
    python benchmarks/learning.py --alf-buffer ../shared/alf_buffers/pendulum_replay_buffer_from_sac
    python benchmarks/learning.py --only rlpd --results-dir benchmarks/results/rlpd_pendulum   # about 1.5 hours

Five questions, each a group of experiments (one script, its flags and one dataset):

    online             hybrid_sac.py without offline data
    hybrid             hybrid_sac.py --offline-buffer-dir X: the shipped expert and mixed buffers (and --alf-buffer,
                       also with --utd-ratio 2)
    offline            offline_bc.py and offline_cql.py (pure offline) on expert, medium, mixed and replay data
    offline_to_online  offline_cql.py on mixed data, online training from half the iterations on
    rlpd               RLPD-style hybrid SAC on the expert buffer (--utd-ratio 4, 10 critics, minimum over 2,
                       --learning-starts 100) against online and default hybrid SAC, all evaluated every 100
                       iterations (the other groups: 250), with the CPU time per 1,000 iterations

Every experiment runs once per seed, as a task of benchmarks/runner.py (Ray: embedded here with --jobs CPUs, or
the cluster at --address), in benchmarks/runs/<question>/<experiment>/seed<k>.
A run whose recorded command matches and whose eval.jsonl reaches the final iteration is skipped, and an
unfinished one continues from its newest checkpoint (--resume), so a rerun resumes where an interrupted one
stopped (a run of another command or dataset, or one without a checkpoint, is deleted and started again; one
made by an older version of its script or buffer.py is kept and listed under its table, unless
--rerun-older-code). Each finished run's evaluations, timing and stamp are copied to <results-dir>/records
(committed; benchmarks/runs is not) and back where a machine lacks the run. The medium dataset (collect.py)
and the replay dataset (the replay buffer of a 3,000-iteration SAC run) are made under benchmarks/datasets/
the same way, when an experiment needs them.

Writes to benchmarks/results/ (or --results-dir): learning.md, a table per question (final normalized score
and return, mean and std over seeds, and the iteration at which the evaluation return first reaches -200;
for rlpd also per seed with the lowest return after it, and the CPU time per 1,000 iterations),
and learning_<question>.png, the evaluation return against iterations (mean over seeds, min-max band).
Normalized scores are computed here from each evaluation's return_mean, with the reference returns of
data/pendulum_expert for every run (the replay dataset and the online runs have none of their own).
The table and figures cover what this invocation selects (--only, --experiments, --seeds): a narrower
invocation into the same --results-dir replaces them with its own.
"""

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent  # the repository: the scripts run from here
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402  (the project's normalized_score)

sys.path.insert(0, str(ROOT / "benchmarks"))
import runner  # noqa: E402
from runner import STAMP_FILE, TIMING_FILE, RunFailed, code_sha256, file_sha256, rel  # noqa: E402, F401

BENCH = ROOT / "benchmarks"
RUNS, DATASETS = BENCH / "runs", BENCH / "datasets"
EXPERT_BUFFER = ROOT / "data" / "pendulum_expert" / "ckpt-10000-replay_buffer"
SOLVED_RETURN = -200.0
EVAL_INTERVAL, EVAL_EPISODES = 250, 10
RLPD_EVAL_INTERVAL = 100  # the rlpd group's: its question is "within 1,000 iterations", 250 is too coarse
# RLPD (Ball et al. 2023): several updates per env step, an ensemble of 10 LayerNorm critics (LayerNorm is
# hybrid_sac.py's default) whose TD target takes the minimum over 2 drawn at random; the online part trains
# from 100 online rows on (the offline part from iteration 0)
RLPD_FLAGS = ("--utd-ratio", "4", "--num-critics", "10", "--num-min-critics", "2", "--learning-starts", "100")
QUESTIONS = {
    "online": "Online SAC, no offline data.",
    "hybrid": "Hybrid SAC: every iteration one update on an offline batch plus an online batch (ALF's loop); "
              "sac-alf-utd2 makes two such updates per iteration (--utd-ratio 2).",
    "offline": "Pure offline training, no env step: behavior cloning and CQL on four datasets.",
    "offline_to_online": "CQL pre-trained offline on the mixed data for half the iterations, then online "
                         "(the CQL loss on offline batches continues). Does the score collapse when online "
                         "training starts (dotted line)?",
    "rlpd": "Does an RLPD-style configuration of hybrid SAC on the expert buffer (" + " ".join(RLPD_FLAGS)
            + ") reach a return of -200 within 1,000 iterations? Against online SAC and default hybrid SAC "
            "(sac-expert), all evaluated every 100 iterations. \"CPU s / 1,000 iterations\": the training "
            "process's user + system CPU time (1 torch thread, evaluations and start-up included) per 1,000 "
            "iterations, mean over seeds; \"× sac-expert\": that over sac-expert's.",
}


@dataclass(frozen=True)
class Mode:
    name: str
    seeds: tuple
    sac_iterations: int  # online and hybrid SAC
    bc_iterations: int
    cql_iterations: int  # pure offline CQL; offline-to-online runs twice as long, online from this iteration on
    cql_flags: tuple
    rlpd_iterations: int = 2_000
    rlpd_reference_iterations: int = 5_000  # online and default hybrid SAC in the rlpd group

    def describe(self, scale: float, questions=()) -> str:
        text = (f"{self.name} mode: online and hybrid SAC {self.sac_iterations:,} iterations, "
                f"BC {self.bc_iterations:,}, "
                f"CQL {self.cql_iterations:,}{' with ' + ' '.join(self.cql_flags) if self.cql_flags else ''}, "
                f"offline-to-online CQL {2 * self.cql_iterations:,} (online from {self.cql_iterations:,}); "
                f"evaluation every {EVAL_INTERVAL} iterations, {EVAL_EPISODES} deterministic episodes")
        if "rlpd" in questions:
            text += (f"; rlpd: RLPD-style hybrid SAC {self.rlpd_iterations:,} iterations, online and default "
                     f"hybrid SAC {self.rlpd_reference_iterations:,}, evaluation every {RLPD_EVAL_INTERVAL}")
        if scale != 1:
            text += f". ITERATIONS SCALED BY {scale} (a smoke test, not a result)"
        return text


MODES = {"full": Mode("full", (1, 2, 3), 10_000, 20_000, 10_000, ()),
         "quick": Mode("quick", (1,), 5_000, 5_000, 3_000, ("--cql-n-actions", "4"))}


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path  # what --offline-buffer-dir gets
    make: Optional[list] = None  # the command that writes it (None: shipped with the repository)
    made_file: Optional[Path] = None  # exists once `make` has finished


@dataclass(frozen=True)
class Experiment:
    question: str
    name: str
    script: str
    flags: tuple
    dataset: Optional[Dataset]
    iterations: int
    switch: Optional[int] = None  # the iteration at which online training starts, when not at 0 or never
    eval_every: int = EVAL_INTERVAL

    def run_dir(self, seed: int) -> Path:
        return RUNS / self.question / self.name / f"seed{seed}"

    def finished(self, seed: int) -> bool:
        return last_iteration(self.run_dir(seed)) >= self.iterations

    def eval_interval(self) -> int:
        """eval_every (250 unless rlpd), or less in scaled smoke tests; always a divisor of the switch, so that
        it is evaluated."""
        base = self.switch or self.iterations
        interval = min(self.eval_every, max(1, base // 4))
        while base % interval:
            interval -= 1
        return interval

    def command(self, seed) -> list:
        data = ["--offline-buffer-dir", rel(self.dataset.path)] if self.dataset else []
        return [self.script, *data, *self.flags, "--num-iterations", str(self.iterations),
                "--eval-interval", str(self.eval_interval()), "--eval-episodes", str(EVAL_EPISODES),
                "--seed", str(seed), "--run-dir", rel(self.run_dir(seed))]


def make_datasets(scale_iterations, alf_buffer: Optional[str]) -> dict:
    medium_file = DATASETS / "pendulum_medium" / "ckpt-10000-replay_buffer"
    replay_run, replay_iterations = DATASETS / "pendulum_replay_run", scale_iterations(3000)
    datasets = [
        Dataset("expert", ROOT / "data" / "pendulum_expert"),
        Dataset("medium", medium_file.parent, made_file=medium_file, make=[
            "collect.py", "--env-id", "Pendulum-v1", "--source", "scripted", "--action-noise", "0.5",
            "--num-steps", "10000", "--seed", "3", "--output", rel(medium_file)]),
        Dataset("mixed", ROOT / "data" / "pendulum_mixed"),
        Dataset("replay", replay_run,
                made_file=replay_run / "train" / "algorithm" / f"ckpt-{replay_iterations}-replay_buffer",
                make=["hybrid_sac.py", "--num-iterations", str(replay_iterations), "--save-buffer",
                      "--checkpoint-interval", str(replay_iterations), "--seed", "7", "--run-dir", rel(replay_run)]),
    ]
    if alf_buffer:
        datasets.append(Dataset("alf", Path(os.path.abspath(alf_buffer))))
    return {d.name: d for d in datasets}


def plan(mode: Mode, scale: float, alf_buffer: Optional[str]) -> dict:
    """{question: [Experiment]}."""
    def scaled(iterations):
        return max(4, int(round(iterations * scale)))

    data = make_datasets(scaled, alf_buffer)
    hybrid_data = ["expert", "mixed"] + (["alf"] if alf_buffer else [])
    offline_algorithms = [("bc", "offline_bc.py", (), mode.bc_iterations),
                          ("cql", "offline_cql.py", mode.cql_flags, mode.cql_iterations)]
    o2o_iterations = scaled(2 * mode.cql_iterations)
    return {
        "online": [Experiment("online", "sac", "hybrid_sac.py", (), None, scaled(mode.sac_iterations))],
        "hybrid": [Experiment("hybrid", f"sac-{d}", "hybrid_sac.py", (), data[d], scaled(mode.sac_iterations))
                   for d in hybrid_data]
        # RLPD's update-to-data ratio: with ALF's 600-row file, two updates per env step
        + ([Experiment("hybrid", "sac-alf-utd2", "hybrid_sac.py", ("--utd-ratio", "2"), data["alf"],
                       scaled(mode.sac_iterations))] if alf_buffer else []),
        "offline": [Experiment("offline", f"{algo}-{d}", script, flags, data[d], scaled(iterations))
                    for algo, script, flags, iterations in offline_algorithms
                    for d in ["expert", "medium", "mixed", "replay"]],
        "offline_to_online": [Experiment(
            "offline_to_online", "cql-mixed-then-online", "offline_cql.py",
            (*mode.cql_flags, "--rl-train-after-update-steps", str(o2o_iterations // 2)),
            data["mixed"], o2o_iterations, switch=o2o_iterations // 2)],
        "rlpd": [Experiment("rlpd", name, "hybrid_sac.py", flags, dataset, scaled(iterations),
                            eval_every=RLPD_EVAL_INTERVAL)
                 for name, flags, dataset, iterations in [
                     ("sac", (), None, mode.rlpd_reference_iterations),
                     ("sac-expert", (), data["expert"], mode.rlpd_reference_iterations),
                     ("sac-expert-rlpd", RLPD_FLAGS, data["expert"], mode.rlpd_iterations)]],
    }


# ---------------------------------------------------------------------------------------------
# Running (each run a task of benchmarks/runner.py, on Ray)


def last_iteration(run_dir: Path) -> int:
    path = run_dir / "eval.jsonl"
    if not path.exists():
        return 0
    lines = path.read_text().splitlines()
    try:
        return json.loads(lines[-1])["iteration"] if lines else 0
    except (json.JSONDecodeError, KeyError):  # cut off mid-line: unfinished
        return 0


def made_by_older_code(out_dir: Path) -> bool:
    """Whether the run in out_dir was made, in whole or in part, by other code than the script and buffer.py now."""
    stamp_path = out_dir / STAMP_FILE
    if not stamp_path.exists():
        return False
    stamp = json.loads(stamp_path.read_text())
    return stamp.get("code_sha256") != code_sha256(stamp["command"])


def older_code_note(experiments: list, seeds: list) -> str:
    """A line naming the runs of these experiments made by older code (kept), or "" if none."""
    older = [f"{e.name} seed {seed}" for e in experiments for seed in seeds if made_by_older_code(e.run_dir(seed))]
    return (f"Made, in whole or in part, by an older version of the script or buffer.py (kept; --rerun-older-code "
            f"makes them again): {', '.join(older)}.\n\n" if older else "")


def to_run(command: list, out_dir: Path, finished: bool, label: str, rerun_older_code: bool,
           outputs=("eval.jsonl",)) -> Optional[runner.Run]:
    """The task that makes out_dir, or None where out_dir holds a finished run of this command and data already.
    A run made by older code (an edit of the script or of buffer.py since) is kept, or continued from its checkpoint
    with the code of now, and reports list it; with rerun_older_code it is made again."""
    run = runner.Run.of(label, command, out_dir, outputs)
    same, older = runner.compare_stamps(out_dir, run.stamp, rerun_older_code)
    if same and finished:
        print(f"{label}: done already{' (by older code: kept)' if older else ''}, skipped", flush=True)
        return None
    return run


# A finished run's small files, copied beside its report: benchmarks/results is committed, benchmarks/runs is not,
# and a new machine starts without benchmarks/runs (its reports and the skipping of finished runs would too).
RECORD_FILES = ("eval.jsonl", TIMING_FILE, STAMP_FILE)


def record_dir(results_dir: Path, e: Experiment, seed: int) -> Path:
    return results_dir / "records" / e.question.split("/")[-1] / e.name / f"seed{seed}"


def sync_records(questions: dict, seeds: list, results_dir: Path):
    """Copy each finished run's RECORD_FILES to its record_dir, and a record back where its run directory is
    missing (a new machine): reports, and the skipping of finished runs, then go on as before. A restored
    run has no checkpoint: where its command or data differs now, it is made again from the start."""
    for e in (e for exps in questions.values() for e in exps):
        for seed in seeds:
            run, record = e.run_dir(seed), record_dir(results_dir, e, seed)
            if e.finished(seed):
                source, target = run, record
            elif not run.exists() and (record / "eval.jsonl").exists():
                source, target = record, run
                print(f"{e.name} seed {seed}: restored from {rel(record)} (evaluations only)", flush=True)
            else:
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name in RECORD_FILES:
                if (source / name).exists():
                    runner.write_atomically(target / name, (source / name).read_bytes())


def run_all(questions: dict, seeds: list, jobs: int, threads: int, rerun_older_code: bool = False,
            results_dir: Optional[Path] = None, address: Optional[str] = None):
    """Make the datasets the experiments need, then every (experiment, seed) run not finished yet, on Ray (embedded
    with `jobs` CPUs, or the cluster at address), each one's record copied to results_dir as soon as it finishes."""
    datasets = {e.dataset.name: e.dataset for exps in questions.values() for e in exps
                if e.dataset is not None and e.dataset.make}
    experiments = {e.run_dir(seed): (e, seed) for exps in questions.values() for e in exps for seed in seeds}

    def record(run):
        if results_dir is not None:
            e, seed = experiments[run.run_dir]
            sync_records({e.question: [e]}, [seed], results_dir)

    def unfinished_runs():  # their stamps hash the datasets: only once those are made
        runs = [to_run(e.command(seed), e.run_dir(seed), e.finished(seed),
                       f"[{i}/{len(experiments)}] {e.question}/{e.name} seed {seed}", rerun_older_code)
                for i, (e, seed) in enumerate(experiments.values(), 1)]
        return [run for run in runs if run]
    made = [to_run(d.make, d.path, d.made_file.exists(), f"dataset {d.name}", rerun_older_code,
                   outputs=[str(d.made_file.relative_to(d.path))]) for d in datasets.values()]
    made = [run for run in made if run]
    runs = [] if made else unfinished_runs()
    if not made and not runs:  # all done: no cluster to start or join
        return
    with runner.ray_cluster(address, jobs) as ray:
        runner.run_all(ray, made, threads, rerun_older_code)
        runner.run_all(ray, runs or unfinished_runs(), threads, rerun_older_code, on_finished=record)


# ---------------------------------------------------------------------------------------------
# Results


def load_curves(e: Experiment, seeds: list) -> dict:
    """{seed: (iterations [N], return_mean [N])}, evaluations up to the experiment's final iteration."""
    curves = {}
    for seed in seeds:
        records = [json.loads(line) for line in (e.run_dir(seed) / "eval.jsonl").read_text().splitlines()]
        records = [r for r in records if r["iteration"] <= e.iterations]
        curves[seed] = (np.array([r["iteration"] for r in records]), np.array([r["return_mean"] for r in records]))
    return curves


def mean_std(values, digits=1) -> str:
    if len(values) == 0:
        return "—"
    return f"{np.mean(values):,.{digits}f} ± {np.std(values):,.{digits}f}"


def first_reach(curves: dict) -> str:
    """Mean over seeds of the first evaluated iteration with return >= -200, and how many seeds got there."""
    reached = [it[ret >= SOLVED_RETURN][0] for it, ret in curves.values() if (ret >= SOLVED_RETURN).any()]
    where = f"{np.mean(reached):,.0f}" if reached else "never"
    return f"{where} ({len(reached)}/{len(curves)})"


def cpu_seconds_per_1000(e: Experiment, seeds: list) -> Optional[float]:
    """Mean over seeds of a run's CPU seconds per 1,000 iterations (None if a run has no timing)."""
    paths = [e.run_dir(seed) / TIMING_FILE for seed in seeds]
    if not all(path.exists() and not json.loads(path.read_text()).get("resumed") for path in paths):
        return None
    return float(np.mean([json.loads(path.read_text())["cpu_seconds"] for path in paths])) * 1000 / e.iterations


def summarize(e: Experiment, curves: dict, refs: dict) -> dict:
    final = [ret[it == e.iterations][0] for it, ret in curves.values()]
    row = {"experiment": e.name, "dataset": e.dataset.name if e.dataset else "—",
           "iterations": f"{e.iterations:,}", "seeds": " ".join(map(str, curves)),
           "final normalized score": mean_std([buffer.normalized_score(r, {"reference_returns": refs}) for r in final]),
           "final return": mean_std(final), f"first return ≥ {SOLVED_RETURN:.0f} at": first_reach(curves)}
    if e.switch is not None:
        at_switch = [ret[it == e.switch][0] for it, ret in curves.values() if (it == e.switch).any()]
        after = [ret[it > e.switch].min() for it, ret in curves.values() if (it > e.switch).any()]
        row[f"return at {e.switch:,} (online starts)"] = mean_std(at_switch)
        row["lowest return after"] = mean_std(after)
    if e.question == "rlpd":
        row["first ≥ -200 per seed"] = ", ".join(
            f"{it[ret >= SOLVED_RETURN][0]:,}" if (ret >= SOLVED_RETURN).any() else "never"
            for it, ret in curves.values())
        # does it stay there? the lowest evaluation after the first one at -200 or above
        row["lowest return after, per seed"] = ", ".join(
            f"{ret[np.argmax(ret >= SOLVED_RETURN):].min():,.0f}" if (ret >= SOLVED_RETURN).any() else "—"
            for it, ret in curves.values())
    return row


def add_cpu_columns(experiments: list, rows: list, seeds: list):
    """The rlpd table's CPU seconds per 1,000 iterations, and their ratio to sac-expert's (default hybrid)."""
    cpu = {e.name: cpu_seconds_per_1000(e, seeds) for e in experiments}
    for row in rows:
        value, reference = cpu[row["experiment"]], cpu.get("sac-expert")
        row["CPU s / 1,000 iterations"] = "—" if value is None else f"{value:,.0f}"
        row["× sac-expert"] = "—" if value is None or not reference else f"{value / reference:.1f}"


def markdown_table(rows: list) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def plot(experiments: list, curves: dict, title: str, path: Path, refs: dict,
         target=(SOLVED_RETURN, "return -200"), xlabel="iteration"):
    """Evaluation return against iterations per experiment (mean over seeds, min-max band), with the normalized
    score (refs: the reference returns) on the right-hand axis; target: a dashed horizontal line (value, label),
    or None."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for e in experiments:
        runs = curves[e.name].values()
        common = sorted(set.intersection(*(set(it.tolist()) for it, _ in runs)))
        returns = np.array([[ret[it == i][0] for i in common] for it, ret in runs])
        line, = ax.plot(common, returns.mean(0), label=f"{e.name} (n={len(returns)})")
        ax.fill_between(common, returns.min(0), returns.max(0), color=line.get_color(), alpha=0.2, linewidth=0)
        if e.switch is not None:
            ax.axvline(e.switch, color=line.get_color(), linestyle=":", linewidth=1)
    if target is not None:
        ax.axhline(target[0], color="gray", linestyle="--", linewidth=1, label=target[1])
    ax.set(xlabel=xlabel, ylabel="evaluation return (mean over seeds, band min-max)", title=title)
    span = refs["expert"] - refs["random"]  # the score is linear in the return: a second scale, not a second curve
    ax.secondary_yaxis("right", functions=(lambda r: buffer.normalized_score(r, {"reference_returns": refs}),
                                           lambda score: refs["random"] + score * span / 100)
                       ).set_ylabel("normalized score (0 random, 100 expert)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(questions: dict, seeds: list, mode_text: str, results_dir: Path, command_line: str) -> str:
    refs = torch.load(EXPERT_BUFFER, weights_only=True)["meta"]["reference_returns"]
    parts = [f"# Learning results on Pendulum-v1\n\nMade by `{command_line}`\n",
             f"Settings: {mode_text}. Seeds: {' '.join(map(str, seeds))}.\n",
             f"Final = the evaluation at the last iteration; ± is the standard deviation over seeds (numpy's, "
             f"ddof 0). Normalized score = 100 (R - R_random) / (R_expert - R_random) with R_random = "
             f"{refs['random']:.1f} and R_expert = {refs['expert']:.1f}, the reference returns of "
             f"{rel(EXPERT_BUFFER)}, "
             f"for every run. \"first return ≥ {SOLVED_RETURN:.0f} at\": the mean over the seeds that get there "
             f"of the first evaluated iteration where the mean evaluation return is at least {SOLVED_RETURN:.0f}, "
             f"and how many seeds do.\n"]
    for question, experiments in questions.items():
        curves = {e.name: load_curves(e, seeds) for e in experiments}
        png = results_dir / f"learning_{question}.png"
        plot(experiments, curves, f"Pendulum-v1, {question}", png, refs)
        commands = "\n".join(f"    python {shlex.join(e.command('K'))}" for e in experiments)
        rows = [summarize(e, curves[e.name], refs) for e in experiments]
        if question == "rlpd":
            add_cpu_columns(experiments, rows, seeds)
        parts.append(f"## {question}\n\n{QUESTIONS[question]}\n\n"
                     f"{markdown_table(rows)}\n\n{older_code_note(experiments, seeds)}"
                     f"![{question}]({png.name})\n\nCommands, for seed K:\n\n{commands}\n")
    return "\n".join(parts)


def run_then_report(parser, args, questions: dict, seeds: list, results_dir: Path, make_report):
    """A benchmark's command: the records restored, the unfinished runs made (none with --report-only), each
    finished one recorded; then results_dir/learning.md, make_report(the command line) (it draws the figures)."""
    start = time.time()
    sync_records(questions, seeds, results_dir)
    try:
        if not getattr(args, "report_only", False):
            run_all(questions, seeds, args.jobs, args.threads, args.rerun_older_code, results_dir, args.address)
    except RunFailed as e:
        parser.exit(2, f"error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted: the running runs wrote their checkpoints; the same command continues them\n")
    finally:
        sync_records(questions, seeds, results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    text = make_report("python " + shlex.join([rel(Path(sys.argv[0])), *sys.argv[1:]]))
    (results_dir / "learning.md").write_text(text)
    print("\n" + text)
    print(f"wrote {rel(results_dir / 'learning.md')} and its figures; {time.time() - start:.0f} s in all")


def add_cluster_flags(parser):
    parser.add_argument("--address", metavar="auto|HOST:PORT",
                        help="join this running Ray cluster (default: Ray embedded on this machine, --jobs CPUs)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time without --address (default 1)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="short runs, 1 seed unless --seeds (about 35 minutes on 2 cores; CQL is most of it)")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 1 2 3 (full), 1 (--quick)")
    parser.add_argument("--only", nargs="+", choices=list(QUESTIONS), default=list(QUESTIONS),
                        help="run and report only these questions")
    parser.add_argument("--experiments", nargs="+", metavar="NAME",
                        help="run and report only the experiments whose names start with these (e.g. bc- sac-alf)")
    parser.add_argument("--alf-buffer", metavar="PATH", help="also run hybrid SAC with this ALF buffer file")
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results")
    add_cluster_flags(parser)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (OMP_NUM_THREADS; default 1: the networks are small, and "
                             "more threads than free cores slow torch down many times)")
    parser.add_argument("--rerun-older-code", action="store_true",
                        help="make again the runs made by an older version of their script or buffer.py (default: "
                             "kept, finished or continued, and listed under their table)")
    parser.add_argument("--iterations-scale", type=float, default=1.0, help=argparse.SUPPRESS)  # smoke tests
    args = parser.parse_args()
    if args.alf_buffer and not Path(args.alf_buffer).exists():
        parser.error(f"--alf-buffer {args.alf_buffer}: no such file or directory")
    if min(args.iterations_scale, args.jobs, args.threads) <= 0:
        parser.error("--iterations-scale, --jobs and --threads must be positive")

    mode = MODES["quick" if args.quick else "full"]
    seeds = args.seeds or list(mode.seeds)
    questions = {q: [e for e in exps if not args.experiments or e.name.startswith(tuple(args.experiments))]
                 for q, exps in plan(mode, args.iterations_scale, args.alf_buffer).items() if q in args.only}
    questions = {q: exps for q, exps in questions.items() if exps}
    if not questions:
        parser.error(f"--experiments {' '.join(args.experiments)}: no experiment of --only {' '.join(args.only)} "
                     "has such a name")
    # --jobs changes only the wall time (a run is deterministic at a given thread count), and reused runs
    # may have been made with another: it is printed, not written to learning.md
    mode_text = f"{mode.describe(args.iterations_scale, list(questions))}; {args.threads} torch thread(s) per run"
    print(f"{mode_text}, {args.jobs} run(s) at a time; seeds {' '.join(map(str, seeds))}", flush=True)

    run_then_report(parser, args, questions, seeds, args.results_dir,
                    partial(report, questions, seeds, mode_text, args.results_dir))


if __name__ == "__main__":
    main()
