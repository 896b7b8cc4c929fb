"""A suite's learning.md: per group a table (final return and normalized score, mean ± std over the finished seeds,
and what the group is read against), a figure of the evaluation return against iterations, the commands, and the
published points; from the runs' eval.jsonl, timing and stamps under benchmarks/runs, or from their records where a
run directory holds another run (runner.report_dir)."""

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from runner import ROOT, STAMP_FILE, TIMING_FILE, code_sha256, file_sha256, last_iteration, report_dir
from suites import Experiment, Group, Suite

sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402  (normalized_score, reference_returns)


def run_dirs(e: Experiment, seed) -> Optional[Path]:
    """Where the helpers below read run (e, seed) unless told otherwise: its run directory."""
    return e.run_dir(seed)


def load_curves(e: Experiment, seeds: list, where=run_dirs) -> dict:
    """{seed: (iterations [N], return_mean [N])} of the seeds that have evaluated, up to the final iteration.
    where(e, seed): the directory that holds the run (None: none)."""
    curves = {}
    for seed in (seed for seed in seeds if where(e, seed) and last_iteration(where(e, seed)) > 0):
        records = [json.loads(line) for line in (where(e, seed) / "eval.jsonl").read_text().splitlines()]
        records = [r for r in records if r["iteration"] <= e.iterations]
        curves[seed] = (np.array([r["iteration"] for r in records]), np.array([r["return_mean"] for r in records]))
    return curves


def counted(e: Experiment, curves: dict) -> dict:
    """The seeds a row counts: the finished ones; where none is finished yet, every one at its last evaluation
    (a mean over runs stopped at different iterations would say nothing)."""
    return {seed: c for seed, c in curves.items() if int(c[0][-1]) == e.iterations} or curves


def mean_std(values, digits=1) -> str:
    if len(values) == 0:
        return "—"
    return f"{np.mean(values):,.{digits}f} ± {np.std(values):,.{digits}f}"


def cpu_seconds_per_1000(e: Experiment, seeds: list, where=run_dirs) -> Optional[float]:
    """Mean over seeds of a run's CPU seconds per 1,000 iterations (None if a run has no timing or was resumed)."""
    paths = [where(e, seed) and where(e, seed) / TIMING_FILE for seed in seeds]
    if not all(path and path.exists() and not json.loads(path.read_text()).get("resumed") for path in paths):
        return None
    return float(np.mean([json.loads(path.read_text())["cpu_seconds"] for path in paths])) * 1000 / e.iterations


def summarize(e: Experiment, all_curves: dict, refs: dict, suite: Suite, group: Group, target,
              where=run_dirs) -> dict:
    """A table row of the seeds counted(), the others named. target: (return, column) or None."""
    curves = counted(e, all_curves)
    final = [ret[-1] for it, ret in curves.values()]
    reached = sorted({int(it[-1]) for it, ret in curves.values()})
    left_out = ", ".join(f"seed {seed} at {int(it[-1]):,}" for seed, (it, ret) in all_curves.items()
                         if seed not in curves)
    iterations = (f"{e.iterations:,}" if reached == [e.iterations] else
                  f"{', '.join(f'{i:,}' for i in reached)} of {e.iterations:,} (unfinished)") + \
        (f" (unfinished, not counted: {left_out})" if left_out else "")
    row = {"experiment": e.name, "dataset": e.dataset.name if e.dataset else "—",
           "iterations": iterations, "seeds": " ".join(map(str, curves))}
    finals = [("final return", mean_std(final)), ("final normalized score", mean_std(
        [buffer.normalized_score(r, {"reference_returns": refs}) for r in final]))]
    row.update(finals[::-1] if suite.solved_return is not None else finals)  # Pendulum's tables: the score first
    if target is not None:  # the mean over seeds of the first evaluated iteration at target, how many got there
        reached = [it[ret >= target[0]][0] for it, ret in curves.values() if (ret >= target[0]).any()]
        row[target[1]] = (f"{np.mean(reached):,.0f}" if reached else "never") + f" ({len(reached)}/{len(curves)})"
        if suite.solved_return is None:
            # every evaluation's return, averaged: the area under the curve per iteration, less noisy than one
            # final evaluation where SAC on Hopper falls back for stretches
            row["mean of all evaluations"] = mean_std([ret.mean() for it, ret in curves.values()])
    if e.switch is not None:
        row[f"return at {e.switch:,} (online starts)"] = mean_std(
            [ret[it == e.switch][0] for it, ret in curves.values() if (it == e.switch).any()])
        row["lowest return after"] = mean_std([ret[it > e.switch].min() for it, ret in curves.values()
                                               if (it > e.switch).any()])
    if group.per_seed:
        solved = suite.solved_return
        row[f"first ≥ {solved:.0f} per seed"] = ", ".join(
            f"{it[ret >= solved][0]:,}" if (ret >= solved).any() else "never" for it, ret in curves.values())
        # does it stay there? the lowest evaluation after the first one at -200 or above
        row["lowest return after, per seed"] = ", ".join(
            f"{ret[np.argmax(ret >= solved):].min():,.0f}" if (ret >= solved).any() else "—"
            for it, ret in curves.values())
    if suite.solved_return is None or group.cpu_ratio_to:
        cpu = cpu_seconds_per_1000(e, list(curves), where)
        row["CPU s / 1,000 iterations"] = "—" if cpu is None else f"{cpu:,.0f}"
    return row


def table(header: list, rows: list) -> str:
    """A markdown table: rows are lists of cells (speed.py's tables too)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def older_code_note(experiments: list, seeds: list, where=run_dirs) -> str:
    """A line naming the runs of these experiments made by older code (kept), or "" if none."""
    older = [f"{e.name} seed {seed}" for e in experiments for seed in seeds
             if where(e, seed) and made_by_older_code(where(e, seed))]
    return (f"Made, in whole or in part, by an older version of the script or buffer.py (kept; --rerun-older-code "
            f"makes them again): {', '.join(older)}.\n\n" if older else "")


def made_by_older_code(run_dir: Path) -> bool:
    """Whether the run was made, in whole or in part, by other code than the script and buffer.py now."""
    stamp_path = run_dir / STAMP_FILE
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else None
    return stamp is not None and stamp.get("code_sha256") != code_sha256(stamp["command"])


def data_note(experiments: list, seeds: list, where=run_dirs) -> str:
    """Which dataset file each group's runs read (the SHA-256 in their stamps), and whether the file on disk now
    is that one: datasets made on another kind of CPU differ (mujoco_datasets.py), and records outlive them. Where
    a dataset's runs read more than one file, it says which runs read which."""
    used = {}  # dataset -> {hash: {experiment name: [seeds]}}
    for e in experiments:
        for seed in seeds:
            stamp = where(e, seed) and where(e, seed) / STAMP_FILE
            if e.dataset and stamp and stamp.exists():
                digest = json.loads(stamp.read_text())["data_sha256"]
                used.setdefault(e.dataset, {}).setdefault(digest, {}).setdefault(e.name, []).append(seed)
    notes = []
    for dataset, hashes in sorted(used.items(), key=lambda item: item[0].name):
        files = sorted(dataset.path.glob("ckpt-*-replay_buffer"))
        now = file_sha256(files[-1]) if files else None
        state = ("not on this machine, so not compared" if now is None else
                 "the file there now" if set(hashes) == {now} else f"NOT the file there now (sha256 {now[:12]})")

        def runs_of(digest):  # which runs read this file (seeds named where an experiment's runs read several)
            return ", ".join(name + (" seed " + " ".join(map(str, seed_list)) if any(
                name in other for h, other in hashes.items() if h != digest) else "")
                for name, seed_list in hashes[digest].items())
        files_read = ", ".join(h[:12] + (f" ({runs_of(h)})" if len(hashes) > 1 else "") for h in sorted(hashes))
        notes.append(f"{dataset.name}: sha256 {files_read}, {state}")
    return f"Data the runs read: {'; '.join(notes)}.\n\n" if notes else ""


def plot(experiments: list, curves: dict, title: str, path: Path, refs: dict, target=None, xlabel="iteration"):
    """Evaluation return against iterations per experiment (mean over seeds, min-max band), with the normalized score
    (refs: the reference returns) on the right-hand axis; target: a dashed horizontal line (value, label), or None."""
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


def report(suite: Suite, seeds: list, results_dir: Path, command_line: str) -> str:
    """learning.md's text; draws its figures into results_dir. Groups whose runs have not evaluated are left out."""
    parts = [f"# {suite.title}\n\nMade by `{command_line}`\n", *suite.header]
    dirs = {(e.name, e.question, seed): report_dir(e, seed, results_dir)
            for group in suite.groups.values() for e in group.experiments for seed in seeds}

    def where(e, seed):  # a run directory that holds another run than e's is not read: its record is
        return dirs[(e.name, e.question, seed)]
    for name, group in suite.groups.items():
        refs = buffer.reference_returns(group.env_id, None)[0]
        curves = {e.name: load_curves(e, seeds, where) for e in group.experiments}
        experiments = [e for e in group.experiments if curves[e.name]]
        if not experiments:
            continue
        counted_curves = {e.name: counted(e, curves[e.name]) for e in experiments}
        if suite.solved_return is not None:
            solved = suite.solved_return
            target, line = (solved, f"first return ≥ {solved:.0f} at"), (solved, f"return {solved:.0f}")
        elif "sac" in counted_curves:  # online SAC's final return (mean over its counted seeds)
            online = float(np.mean([ret[-1] for it, ret in counted_curves["sac"].values()]))
            target, line = (online, "first ≥ online's final at"), (online, f"online SAC's final return ({online:,.0f})")
        else:
            target = line = None
        rows = [summarize(e, curves[e.name], refs, suite, group, target, where) for e in experiments]
        if group.cpu_ratio_to:  # each row's CPU time over the reference's (the rlpd group's: default hybrid SAC's)
            cpu = {e.name: cpu_seconds_per_1000(e, seeds, where) for e in experiments}
            by = cpu.get(group.cpu_ratio_to)
            for row, value in zip(rows, cpu.values()):
                row[f"× {group.cpu_ratio_to}"] = "—" if value is None or not by else f"{value / by:.1f}"
        png = results_dir / f"learning_{name}.png"
        plot(experiments, counted_curves, ", ".join(dict.fromkeys([group.env_id, name])), png, refs, target=line,
             xlabel="iteration" if suite.solved_return is not None else
             "iteration (online, hybrid: = env steps; offline: gradient steps)")
        commands = "\n".join(f"    python {shlex.join(e.command('K'))}" for e in experiments)
        published = "" if group.published is None else f"\n**Published points to read it against.** {group.published}\n"
        columns = list(dict.fromkeys(key for row in rows for key in row))
        markdown = table(columns, [[row.get(c, "") for c in columns] for row in rows])
        # the peers' rows are named for the peer (cleanrl-sac, d3rlpy-...); what they are, where the table has one
        peers = f" {group.peer_text}" if group.peer_text and any(e.peer for e in experiments) else ""
        parts.append(f"## {name}\n\n{group.text}{peers}\n\n{markdown}\n\n{older_code_note(experiments, seeds, where)}"
                     f"{data_note(experiments, seeds, where) if suite.solved_return is None else ''}"
                     f"![{name}]({png.name})\n\n"
                     f"Commands, for seed K:\n\n{commands}\n{published}")
    return "\n".join(parts)
