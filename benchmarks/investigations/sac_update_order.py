"""Why does CleanRL's own SAC learn faster than ours on Hopper-v5 (issue 38)? Its settings, one at a time, in ours.

hybrid_sac.py follows ALF: each update sums the critics', the actor's and the entropy coefficient's losses, all
computed before the step, and takes one optimizer step. CleanRL's sac_continuous_action.py steps the critics
first; every second step it then updates the actor twice on the same batch, against the critics just stepped,
each actor step followed by one of the entropy coefficient. Its critics have no LayerNorm and its entropy
coefficient starts at 1.0 (ours: LayerNorm, 0.2). This script runs online SAC of hybrid_sac.py with CleanRL's
update order patched in (`make_update` replaced, nothing else), with and without those two flags:

    python benchmarks/investigations/sac_update_order.py --settings cleanrl --seeds 1 2 --jobs 2
    python benchmarks/investigations/sac_update_order.py --table-only

The runs without the patch are made by the grid (`mujoco_learning.py`: sac, cleanrl-sac) and by sweep.py
(`--flag critic-layer-norm --values False`; `--flag alpha --values 1.0 --extra-flags --no-critic-layer-norm`);
the table reads their records too. Runs go to benchmarks/runs/sac_update_order/ (git-ignored, a finished one is
skipped), their eval.jsonl to sac_update_order/records/ beside this file, the table to sac_update_order.md.
100,000 iterations, 10 deterministic episodes every 5,000, as the grid's; one torch thread per run.
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
RECORDS = HERE / "sac_update_order" / "records"
RESULTS = ROOT / "benchmarks" / "results"
ENV_ID, ITERATIONS, EVAL_EVERY = "Hopper-v5", 100_000, 5_000
CLEANRL_FLAGS = ["--no-critic-layer-norm", "--alpha", "1.0"]
SETTINGS = {  # name: (the actor trains this many times every this many updates; flags; what it is)
    "cleanrl": (2, CLEANRL_FLAGS, "CleanRL's update order, 2 actor updates every 2nd step, its flags"),
    "cleanrl-order-every-step": (1, CLEANRL_FLAGS, "critics first, then actor and entropy, every step; its flags"),
    "order-only": (2, [], "CleanRL's update order and actor schedule; our flags (LayerNorm, alpha 0.2)"),
}
REFERENCES = {  # rows made elsewhere: name -> (records folder with seed<k>/eval.jsonl, what it is)
    "ours": (RESULTS / f"mujoco_{ENV_ID}/records/online_hybrid/sac", "hybrid_sac.py, its defaults"),
    "ours-no-layernorm": (RESULTS / f"sweep_critic-layer-norm/records/{ENV_ID}/sac-critic-layer-normFalse",
                          "--no-critic-layer-norm"),
    "ours-no-layernorm-alpha1": (RESULTS / f"sweep_alpha/records/{ENV_ID}/sac-alpha1.0",
                                 "--no-critic-layer-norm --alpha 1.0 (CleanRL's flags, our summed update)"),
    "cleanrl-sac": (RESULTS / f"mujoco_{ENV_ID}/records/online_hybrid/cleanrl-sac", "CleanRL 1.2.0's own script"),
}


def cleanrl_update(actor_every: int):
    """A replacement for hybrid_sac.make_update with CleanRL's order (online batches only): the critics step; every
    actor_every-th update the actor then steps actor_every times against them, each step followed by one of the
    entropy coefficient; then the targets move."""
    import torch
    import torch.nn.functional as F

    def make_update(agent, optimizer, compile):
        steps = [0]

        def step(loss):  # Adam skips the parameters this loss gives no gradient (their grad stays None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def update(offline_batch, batch):
            assert offline_batch is None, "online SAC only"
            args, qf = agent.args, agent.qf
            with torch.no_grad():
                next_action, next_log_prob = agent.actor.sample(batch.next_observation)
                next_q = agent.qf_target(batch.next_observation, next_action).min(0).values
                target = batch.reward + args.gamma * batch.discount * (next_q - agent.log_alpha.exp() * next_log_prob)
            q = qf(batch.observation, batch.action)
            step(F.mse_loss(q, target.expand_as(q), reduction="none").mean(1).sum())
            steps[0] += 1
            if steps[0] % actor_every == 0:
                for _ in range(actor_every):
                    action, log_prob = agent.actor.sample(batch.observation)
                    q_pi = qf(batch.observation, action, detach=True).min(0).values
                    step((agent.log_alpha.exp().detach() * log_prob - q_pi).mean())
                    with torch.no_grad():
                        log_prob = agent.actor.sample(batch.observation)[1]
                    step(-(agent.log_alpha.exp() * (log_prob + agent.target_entropy)).mean())
            agent.after_update(False, True)
            return {}
        return update
    return make_update


def patched_main(actor_every: int, argv: list):
    """hybrid_sac.main(argv) with make_update replaced by CleanRL's order."""
    sys.path.insert(0, str(ROOT))
    import hybrid_sac

    hybrid_sac.make_update = cleanrl_update(actor_every)
    hybrid_sac.main(argv)


def run(setting: str, seed: int) -> Path:
    """The run's eval.jsonl record, made unless a finished one exists."""
    record = RECORDS / setting / f"seed{seed}.jsonl"
    if record.exists():
        return record
    run_dir = ROOT / "benchmarks" / "runs" / "sac_update_order" / setting / f"seed{seed}"
    actor_every, flags, _ = SETTINGS[setting]
    argv = ["--env-id", ENV_ID, "--seed", str(seed), "--num-iterations", str(ITERATIONS), "--eval-interval",
            str(EVAL_EVERY), "--torch-threads", "1", *flags, "--run-dir", str(run_dir)]
    argv += ["--resume", str(run_dir)] if (run_dir / "train").exists() else ["--overwrite"]
    command = [sys.executable, __file__, "--child", str(actor_every), "--", *argv]
    print(f"{setting} seed {seed}: {' '.join(command[1:])}", flush=True)
    start = time.time()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: {setting} seed {seed} failed: {result.stderr.strip().splitlines()[-1]}")
    record.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "eval.jsonl", record)
    print(f"{setting} seed {seed}: done in {time.time() - start:.0f} s", flush=True)
    return record


def curves(folder: Path) -> dict:
    """{seed: returns} of the finished runs in a records folder (seed<k>.jsonl or seed<k>/eval.jsonl)."""
    found = {}
    for path in sorted(folder.glob("seed*")) if folder.exists() else ():
        f = path / "eval.jsonl" if path.is_dir() else path
        rows = [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []
        if rows and rows[-1]["iteration"] == ITERATIONS:
            found[int(path.name[4:].split(".")[0])] = [row["return_mean"] for row in rows]
    return found


def table() -> str:
    lines = ["| setting | what it is | final return per seed | mean final | mean of all evaluations per seed | mean |",
             "| --- | --- | --- | --- | --- | --- |"]
    rows = [(name, folder, text) for name, (folder, text) in REFERENCES.items()]
    rows += [(name, RECORDS / name, text) for name, (_, _, text) in SETTINGS.items()]
    for name, folder, text in rows:
        found = curves(folder)
        if found:
            finals = {seed: c[-1] for seed, c in found.items()}
            means = {seed: statistics.mean(c) for seed, c in found.items()}
            lines.append(f"| {name} | {text} | " + ", ".join(f"{s}: {v:,.0f}" for s, v in finals.items())
                         + f" | {statistics.mean(finals.values()):,.0f} | "
                         + ", ".join(f"{s}: {v:,.0f}" for s, v in means.items())
                         + f" | {statistics.mean(means.values()):,.0f} |")
    return "\n".join(lines)


def main():
    if sys.argv[1:2] == ["--child"]:
        return patched_main(int(sys.argv[2]), sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["cleanrl"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table from the records")
    args = parser.parse_args()
    if not args.table_only:
        tasks = [(setting, seed) for seed in args.seeds for setting in args.settings]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda task: run(*task), tasks))
    text = (f"# Online SAC on {ENV_ID}: CleanRL's settings in ours, one at a time\n\nMade by "
            f"`python benchmarks/investigations/sac_update_order.py` ({ITERATIONS:,} iterations, 10 deterministic "
            f"episodes every {EVAL_EVERY:,}, 1 torch thread; the seeds each row has).\n\n{table()}\n")
    (HERE / "sac_update_order.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
