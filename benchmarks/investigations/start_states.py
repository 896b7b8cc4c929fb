"""How does a run's deterministic policy do from start states its evaluations never saw, checkpoint by checkpoint?

    python benchmarks/investigations/start_states.py RUN_DIR [ITERATION ...] [--episodes 10] [--seed 12345]

Every evaluation of a run resets its env with the same seeds (the run's seed + 1,000,000), so its curve follows one
set of start states. This loads the run's checkpoints (`train/algorithm/ckpt-<iteration>`; default: the newest),
runs the actor's deterministic action from `--episodes` other start states (env seeds --seed, --seed + 1, ...) and
prints each episode's return: a policy that walks from some states and falls from others shows as two clusters.
Written for hybrid_sac.py's Walker2d-v5 runs (benchmarks/README.md); any run of the three scripts works.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402
import hybrid_sac  # noqa: E402  (the three scripts share the Actor's layout)


def returns_from(run_dir: Path, iteration: int, episodes: int, seed: int) -> list:
    checkpoint = buffer.load_checkpoint(buffer.checkpoint_paths(run_dir)[iteration])
    saved = checkpoint["args"]
    env = hybrid_sac.make_env(saved["env_id"])()  # actions in [-1, 1], as the run's
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
    actor = hybrid_sac.Actor(obs_dim, act_dim, saved["hidden_dim"])
    actor.load_state_dict({k[len("actor."):]: v for k, v in checkpoint["agent"].items() if k.startswith("actor.")})
    # the run's own evaluate, one episode at a time, so that each episode's return is seen
    return [hybrid_sac.evaluate(actor, env, 1, seed + episode)[0] for episode in range(episodes)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("iterations", type=int, nargs="*", help="checkpoints to run (default: the newest)")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=12345, help="the first env seed (the run's own: seed + 1e6)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    found = buffer.checkpoint_paths(args.run_dir)
    missing = sorted(set(args.iterations) - set(found))
    if not found or missing:
        print(f"error: {args.run_dir}: " + (f"no checkpoint at iteration {missing[0]} (there are: {sorted(found)})"
                                           if found else "no checkpoint under train/algorithm/"), file=sys.stderr)
        sys.exit(2)
    for iteration in args.iterations or [max(found)]:
        returns = returns_from(args.run_dir, iteration, args.episodes, args.seed)
        print(f"iteration {iteration:,}: mean {np.mean(returns):.1f}; returns "
              + ", ".join(f"{r:.0f}" for r in returns), flush=True)


if __name__ == "__main__":
    main()
