"""d3rlpy's CQL on one of this project's offline buffers, evaluated like offline_cql.py: tells whether a
result of offline_cql.py belongs to our implementation or to CQL on that data.

Needs d3rlpy (not in requirements.txt; see benchmarks/README.md for its own venv):

    .venv-d3rlpy/bin/python benchmarks/investigations/d3rlpy_cql.py --data data/pendulum_expert --steps 10000 --seed 1

Prints one line per evaluation (iteration, mean return, normalized score) and writes them as JSON
lines to --out when given. The buffer's complete episodes become a d3rlpy MDPDataset (a truncated
episode's last observation ends it without a transition, as d3rlpy does with timeouts). Evaluation:
deterministic episodes of Pendulum-v1 (actions in [-1, 1]) with offline_cql.py's seeds (seed + 1,000,000
and on), normalized with the buffer's reference returns.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402
import collect  # noqa: E402  (complete_episodes)
import offline_cql  # noqa: E402  (its evaluation, and its defaults for --like-offline-cql)


def mdp_dataset(offline: buffer.OfflineBuffer):
    """The complete episodes of the buffer's first file as a d3rlpy MDPDataset."""
    import d3rlpy

    f = offline.files[0]
    episodes, _ = collect.complete_episodes(f)
    parts = {"observations": [], "actions": [], "rewards": [], "terminals": [], "timeouts": []}
    for rows in episodes:
        rows = torch.as_tensor(rows)
        n = len(rows)
        terminated = bool(f.rows.discount[rows[-1]] == 0)
        parts["observations"].append(f.rows.observation[rows].numpy())
        # row t holds the action taken at o_t; the reward for it is in row t + 1 (ALF's layout)
        parts["actions"].append(np.concatenate([f.rows.action[rows[:-1]].numpy(),
                                                np.zeros((1, f.rows.action.shape[-1]), np.float32)]))
        parts["rewards"].append(np.r_[f.rows.reward[rows[1:]].numpy(), 0.0].astype(np.float32)[:, None])
        parts["terminals"].append(np.r_[np.zeros(n - 1), float(terminated)])
        parts["timeouts"].append(np.r_[np.zeros(n - 1), float(not terminated)])
    return d3rlpy.dataset.MDPDataset(**{k: np.concatenate(v) for k, v in parts.items()})


class D3rlpyPolicy:
    """A d3rlpy algorithm behind the interface offline_cql.evaluate calls: act(observations) -> actions, and
    obs_mean, whose device evaluate reads (the CPU; without it evaluate has failed since --cuda came)."""

    obs_mean = torch.zeros(0)

    def __init__(self, algo):
        self.algo = algo

    def act(self, observations: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.algo.predict(observations.numpy()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="an offline buffer file or directory")
    parser.add_argument("--steps", type=int, default=10_000, help="gradient steps")
    parser.add_argument("--eval-interval", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--conservative-weight", type=float, default=5.0, help="d3rlpy's default: 5.0")
    parser.add_argument("--alpha-threshold", type=float, default=10.0, help="d3rlpy's default: 10.0")
    parser.add_argument("--alpha-learning-rate", type=float, default=1e-4,
                        help="d3rlpy's default 1e-4 tunes the weight by a Lagrange multiplier; 0 keeps it fixed")
    parser.add_argument("--soft-q-backup", action="store_true",
                        help="SAC's backup (a sampled next action and its entropy term); d3rlpy's default is "
                             "the policy's mean action at s' and no entropy term")
    parser.add_argument("--like-offline-cql", action="store_true",
                        help="configure d3rlpy's CQL as offline_cql.py's defaults are (learning rates, initial "
                             "entropy coefficient, CQL weight fixed, SAC's backup, LayerNorm in the critics, "
                             "observations standardized with the buffer's statistics); the flags above are "
                             "then ignored")
    parser.add_argument("--out", help="write the evaluations here as JSON lines")
    args = parser.parse_args()

    import d3rlpy
    import structlog  # d3rlpy's logger, which prints every fit's settings and metrics to stdout

    from d3rlpy.models.encoders import VectorEncoderFactory
    from d3rlpy.preprocessing import StandardObservationScaler

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    d3rlpy.seed(args.seed)  # python's, numpy's and torch's generators
    offline = buffer.load_offline_buffer(args.data)
    dataset = mdp_dataset(offline)
    if args.like_offline_cql:
        ours = offline_cql.Args()
        obs_mean, obs_std = offline.observation_mean_std()
        config = d3rlpy.algos.CQLConfig(
            actor_learning_rate=ours.policy_lr, critic_learning_rate=ours.q_lr, temp_learning_rate=ours.q_lr,
            initial_temperature=ours.alpha, conservative_weight=ours.cql_alpha, alpha_learning_rate=0.0,
            soft_q_backup=True, n_action_samples=ours.cql_n_actions, batch_size=ours.batch_size,
            gamma=ours.gamma, tau=ours.tau, n_critics=ours.num_critics,
            actor_encoder_factory=VectorEncoderFactory([ours.hidden_dim] * 2),
            critic_encoder_factory=VectorEncoderFactory([ours.hidden_dim] * 2, use_layer_norm=True),
            observation_scaler=StandardObservationScaler(mean=obs_mean.numpy(), std=obs_std.numpy()))
    else:
        config = d3rlpy.algos.CQLConfig(
            conservative_weight=args.conservative_weight, alpha_threshold=args.alpha_threshold,
            alpha_learning_rate=args.alpha_learning_rate, soft_q_backup=args.soft_q_backup)
    algo = config.create(device="cpu:0")
    env = offline_cql.make_env("Pendulum-v1")()
    lines = []
    # one epoch per evaluation
    for epoch, _ in algo.fitter(dataset, n_steps=args.steps, n_steps_per_epoch=args.eval_interval,
                                show_progress=False, save_interval=10**9,
                                logger_adapter=d3rlpy.logging.NoopAdapterFactory()):
        return_mean, _ = offline_cql.evaluate(D3rlpyPolicy(algo), env, args.eval_episodes, args.seed + 1_000_000)
        line = {"iteration": epoch * args.eval_interval, "return_mean": return_mean,
                "normalized_score": buffer.normalized_score(return_mean, offline.meta)}
        print(json.dumps(line), flush=True)
        lines.append(line)
        if args.out:
            Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in lines))


if __name__ == "__main__":
    main()
