"""D4RL-style datasets for a MuJoCo task, made here with this project's own scripts (no dataset can be
downloaded on these machines; Minari's are the published ones, `collect.py --source minari`).

    python benchmarks/mujoco_datasets.py --env-id HalfCheetah-v5     # every kind: many hours on 2 cores
    python benchmarks/mujoco_datasets.py --env-id Hopper-v5 --kinds random medium medium-replay
    python buffer.py info benchmarks/datasets/HalfCheetah-v5/medium  # what one holds

The kinds, made as D4RL made them (Fu et al. 2020, "D4RL: Datasets for Deep Data-Driven RL"):

    random         --rows rows of uniform random actions
    medium         --rows rows of a SAC policy stopped when its evaluation return first reaches a third of
                   the expert's (D4RL's reference, or --medium-return), its actions sampled from the
                   policy's distribution (collect.py --policy .../policy_distribution.pt), not its mean
    medium-replay  that SAC run's own replay buffer when it stopped: every step it took until then
                   (ALF's --save-buffer flow)
    expert         --rows rows of the same SAC run trained on until its evaluation return first reaches two
                   thirds of the expert's (--expert-return; D4RL's expert trained to the end, ours stops there
                   for the CPU time), actions sampled; the policy of the run's best evaluation after the medium
                   one is kept (SAC on Hopper falls back for stretches), so a lower --expert-return given later
                   can take an earlier policy
    medium-expert  not a file: give the medium and expert directories together,
                   `--offline-buffer-dir benchmarks/datasets/<env>/medium benchmarks/datasets/<env>/expert`

Everything goes under benchmarks/datasets/<env-id>/ (git-ignored): one directory per kind holding a
ckpt-<rows>-replay_buffer whose meta says how it was made, and sac/, the SAC run (hybrid_sac.py, online),
trained in chunks of --chunk-iterations with --resume between them. A kind already made is skipped and an
interrupted SAC run continues, so running the command again finishes the job.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402  (the reference returns)

KINDS = ["random", "medium", "medium-replay", "expert"]


def run(*command):
    print("+ python " + shlex.join(map(str, command)), flush=True)
    if subprocess.run([sys.executable, *map(str, command)], cwd=ROOT).returncode != 0:
        raise SystemExit(f"error: this step failed: python {shlex.join(map(str, command))}")


def last_evaluation(run_dir: Path):
    lines = (run_dir / "eval.jsonl").read_text().splitlines() if (run_dir / "eval.jsonl").is_file() else []
    return json.loads(lines[-1]) if lines else None


def keep_policy(run_dir: Path, policy_dir: Path):
    """Copy the run's policy and its evaluations, so that policy_dir's last evaluation is the policy's."""
    policy_dir.mkdir(parents=True, exist_ok=True)
    for name in ("policy.pt", "policy_distribution.pt", "eval.jsonl"):
        shutil.copy(run_dir / name, policy_dir / name)


def train_until(run_dir: Path, args, iterations: int, stop_at_return: float = float("inf"),
                best_dir: Path | None = None, best_after: int = 0) -> dict:
    """Train the SAC run in chunks (a checkpoint and an evaluation at the end of each) until it has done
    `iterations` iterations or its evaluation return reaches stop_at_return; its last evaluation. With
    best_dir, the policy of the best evaluation after iteration best_after is kept there, and the run stops
    when that one reaches stop_at_return; returns it (None if there is none)."""
    while True:
        last = last_evaluation(run_dir)
        best = last_evaluation(best_dir) if best_dir else None
        if best_dir and last and last["iteration"] > best_after and (
                best is None or last["return_mean"] > best["return_mean"]):
            keep_policy(run_dir, best_dir)
            best = last
        reached = best if best_dir else last
        if last is not None and (last["iteration"] >= iterations
                                 or (reached is not None and reached["return_mean"] >= stop_at_return)):
            return reached
        done = last["iteration"] if last else 0
        target = min(iterations, done + args.chunk_iterations)
        # a checkpoint without an evaluation yet: stopped (Ctrl-C) within its first chunk, continued too; no
        # checkpoint: started anew over what a run killed before its first one left
        has_checkpoint = any((run_dir / "train" / "algorithm").glob("ckpt-*"))
        resume = ["--resume", run_dir] if has_checkpoint else ["--overwrite"]
        # the defaults when the datasets of 2026-12-05/06 were made (sha256: benchmarks/README.md): learning from 500
        # rows on, critics with LayerNorm, alpha from 0.2
        run("hybrid_sac.py", "--env-id", args.env_id, "--seed", args.seed, "--num-iterations", target,
            "--eval-interval", args.chunk_iterations, "--checkpoint-interval", args.chunk_iterations,
            "--learning-starts", 500, "--critic-layer-norm", "--alpha", 0.2, "--run-dir", run_dir, *resume,
            *shlex.split(args.sac_flags))


def collect(args, kind: str, out_dir: Path, *source):
    run("collect.py", "--env-id", args.env_id, *source, "--num-steps", args.rows, "--num-envs", args.num_envs,
        "--seed", args.seed, "--reference-episodes", args.reference_episodes,
        "--output", out_dir / kind / f"ckpt-{args.rows}-replay_buffer")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="HalfCheetah-v5")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=KINDS)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of random, medium and expert (D4RL: 1M)")
    parser.add_argument("--expert-iterations", type=int, default=1_000_000,
                        help="the SAC run's most iterations (it stops at the expert return)")
    parser.add_argument("--chunk-iterations", type=int, default=10_000, help="evaluate and checkpoint this often")
    parser.add_argument("--medium-return", type=float, help="default: a third of D4RL's expert reference return")
    parser.add_argument("--expert-return", type=float, help="default: two thirds of D4RL's expert reference return")
    parser.add_argument("--sac-flags", default="", help="more flags for hybrid_sac.py, e.g. '--hidden-dim 64'")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-envs", type=int, default=10, help="collect.py's envs stepped together")
    parser.add_argument("--reference-episodes", type=int, default=10, help="collect.py's, where D4RL's are unknown")
    parser.add_argument("--datasets-dir", type=Path, default=ROOT / "benchmarks" / "datasets")
    args = parser.parse_args()
    out_dir, sac_dir = args.datasets_dir / args.env_id, args.datasets_dir / args.env_id / "sac"
    medium_policy, expert_policy = out_dir / "medium-policy", out_dir / "expert-policy"
    medium_return, expert_return = args.medium_return, args.expert_return
    if medium_return is None or expert_return is None:
        refs, reason = buffer.reference_returns(args.env_id, None)
        if refs is None:
            raise SystemExit(f"error: --medium-return and --expert-return are needed: {reason}")
        medium_return = refs["expert"] / 3 if medium_return is None else medium_return
        expert_return = refs["expert"] * 2 / 3 if expert_return is None else expert_return
    if expert_return <= medium_return:
        raise SystemExit(f"error: --expert-return {expert_return:g} must be above the medium return {medium_return:g}")

    def made(kind):
        return (out_dir / kind).is_dir() and any((out_dir / kind).glob("ckpt-*-replay_buffer"))

    if "random" in args.kinds and not made("random"):
        collect(args, "random", out_dir, "--source", "random")
    if {"medium", "medium-replay", "expert"} & set(args.kinds) and not (medium_policy / "policy.pt").exists():
        reached = train_until(sac_dir, args, args.expert_iterations, stop_at_return=medium_return)
        if reached["return_mean"] < medium_return:  # else medium and expert would be one policy
            raise SystemExit(f"error: the SAC run in {sac_dir} reached iteration {reached['iteration']:,} "
                             f"(--expert-iterations) without an evaluation return of {medium_return:.1f} (the "
                             f"medium return): give more --expert-iterations, or a lower --medium-return")
        keep_policy(sac_dir, medium_policy)  # and the replay buffer that made it, before the run trains on
        replay = buffer.find_buffer_file(sac_dir)
        (out_dir / "medium-replay").mkdir(exist_ok=True)
        shutil.copy(replay, out_dir / "medium-replay" / replay.name)
        print(f"medium: iteration {reached['iteration']:,}, evaluation return {reached['return_mean']:.1f} "
              f"(target {medium_return:.1f})", flush=True)
    if "medium" in args.kinds and not made("medium"):
        collect(args, "medium", out_dir, "--source", "policy", "--policy", medium_policy / "policy_distribution.pt")
    if "expert" in args.kinds and not made("expert"):
        medium = last_evaluation(medium_policy)
        best = train_until(sac_dir, args, args.expert_iterations, stop_at_return=expert_return,
                           best_dir=expert_policy, best_after=medium["iteration"])
        if best is None or best["return_mean"] < expert_return:
            found = f"at iteration {best['iteration']:,} is {best['return_mean']:.1f}" if best else "does not exist"
            raise SystemExit(f"error: the SAC run's best evaluation after the medium policy's {found}, below the "
                             f"expert return {expert_return:.1f} (the medium policy, iteration "
                             f"{medium['iteration']:,}: {medium['return_mean']:.1f}); give more --expert-iterations, "
                             f"or a lower --expert-return")
        print(f"expert: iteration {best['iteration']:,}, evaluation return {best['return_mean']:.1f} (target "
              f"{expert_return:.1f})", flush=True)
        collect(args, "expert", out_dir, "--source", "policy", "--policy", expert_policy / "policy_distribution.pt")
    for kind in args.kinds:
        print(f"\n{kind}:", flush=True)
        buffer.main(["info", str(out_dir / kind)])


if __name__ == "__main__":
    main()
