"""d3rlpy's own BC or CQL (d3rlpy 2.8.0 from PyPI) on one of this project's offline buffers, run in .venv-d3rlpy
and evaluated exactly as offline_bc.py and offline_cql.py evaluate. Started by `benchmarks/peers.py d3rlpy-bc`
or `d3rlpy-cql`, which checks the input and records the run; by hand only for debugging:

    .venv-d3rlpy/bin/python benchmarks/peer_runs/d3rlpy_offline.py --algo cql --data data/pendulum_mixed \
        --steps 10000 --eval-interval 1000 --out /tmp/d3rlpy-cql

The buffer's complete episodes become a d3rlpy MDPDataset (mdp_dataset: a truncated episode's last
observation ends it without a transition, as d3rlpy does with timeouts). d3rlpy trains with its own fitter, one
epoch of --eval-interval gradient steps per evaluation; each evaluation is offline_cql.evaluate itself on
offline_cql.make_env(the buffer's env id) (actions in [-1, 1], as the buffers store them): --eval-episodes
deterministic episodes (d3rlpy's predict, the policy's deterministic action), seeds seed + 1,000,000 + episode,
normalized with the buffer's reference returns (else D4RL's), as our scripts score. Writes OUT/eval.jsonl, one
line per evaluation: {"iteration" (gradient steps), "env_steps" (0: pure offline), "return_mean", "return_std",
"normalized_score"}. It replaces investigations/d3rlpy_cql.py (folded in on 2026-12-07; what that found is in
investigations/README.md): its defaults are --config shared, its --like-offline-cql is --config like-ours, its
--alpha-learning-rate 0 is --set alpha_learning_rate=0.0 (and so on for its other flags).

Configurations (--config):
  shared    d3rlpy's own defaults for everything but what the comparison holds equal: batch 256, two hidden
            layers of 256 in the actor (BC's policy) and in each critic, 2 critics (CQL). d3rlpy's defaults then
            differ from ours: BC is deterministic with a squared error at learning rate 1e-3 (ours: beta-NLL
            of a tanh-Gaussian at 3e-4); CQL's weight starts at 5 and is tuned by a Lagrange multiplier
            (alpha_threshold 10) where ours is fixed at 0.2, its backup uses the actor's action at s' without
            the entropy term (ours: SAC's), its learning rates are 1e-4 (actor, entropy) and 3e-4 (critics)
            where ours are 3e-4 and 1e-3, no LayerNorm in its critics (ours have it), and neither standardizes
            observations (ours do, with the buffer's mean and std).
  like-ours d3rlpy's algorithm set as close to our script's defaults as its options go: for CQL our learning
            rates, initial entropy coefficient, fixed CQL weight, SAC's backup, LayerNorm in the critics, 10
            sampled actions, observations standardized with the buffer's statistics; for BC a stochastic policy
            (d3rlpy's: a Gaussian's negative log-likelihood, without our beta weighting) at our learning rate,
            on standardized observations. What d3rlpy cannot set stays its own (e.g. how it samples CQL's actions).
--set KEY=VALUE overrides one field of d3rlpy's config (a JSON value), e.g. --set conservative_weight=10.
"""
import argparse
import json
import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402
import collect  # noqa: E402  (complete_episodes)
import offline_bc  # noqa: E402  (its defaults for --config like-ours)
import offline_cql  # noqa: E402  (its env, its evaluation, its defaults for --config like-ours)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", choices=("bc", "cql"), required=True)
    parser.add_argument("--data", required=True, help="an offline buffer file or directory")
    parser.add_argument("--env-id", required=True, help="the task to evaluate on (peers.py: the buffer's)")
    parser.add_argument("--steps", type=int, required=True, help="gradient steps")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--eval-interval", type=int, default=5000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--config", choices=("shared", "like-ours"), default="shared")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def mdp_dataset(offline: buffer.OfflineBuffer):
    """The complete episodes of the buffer's first file as a d3rlpy MDPDataset."""
    import d3rlpy

    f = offline.files[0]
    parts = {"observations": [], "actions": [], "rewards": [], "terminals": [], "timeouts": []}
    for rows in collect.complete_episodes(f)[0]:
        rows = torch.as_tensor(rows)
        n, terminated = len(rows), bool(f.rows.discount[rows[-1]] == 0)
        parts["observations"].append(f.rows.observation[rows].numpy())
        # row t holds the action taken at o_t; the reward for it is in row t + 1 (ALF's layout)
        parts["actions"].append(np.concatenate([f.rows.action[rows[:-1]].numpy(),
                                                np.zeros((1, f.rows.action.shape[-1]), np.float32)]))
        parts["rewards"].append(np.r_[f.rows.reward[rows[1:]].numpy(), 0.0].astype(np.float32)[:, None])
        parts["terminals"].append(np.r_[np.zeros(n - 1), float(terminated)])
        parts["timeouts"].append(np.r_[np.zeros(n - 1), float(not terminated)])
    return d3rlpy.dataset.MDPDataset(**{k: np.concatenate(v) for k, v in parts.items()})


def make_config(args, offline):
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory
    from d3rlpy.preprocessing import StandardObservationScaler

    def scaler():
        mean, std = offline.observation_mean_std()
        return StandardObservationScaler(mean=mean.numpy(), std=std.numpy())

    bc, cql = offline_bc.Args(), offline_cql.parse_args(["--env-id", args.env_id])  # cql: with the task's settings
    actor = VectorEncoderFactory([cql.hidden_dim] * 2)
    if args.algo == "bc":
        kwargs = dict(batch_size=bc.batch_size, encoder_factory=actor)
        if args.config == "like-ours":
            kwargs.update(policy_type="stochastic", learning_rate=bc.policy_lr, observation_scaler=scaler())
        config = d3rlpy.algos.BCConfig(**kwargs)
    else:
        kwargs = dict(batch_size=cql.batch_size, actor_encoder_factory=actor, n_critics=cql.num_critics,
                      critic_encoder_factory=VectorEncoderFactory([cql.hidden_dim] * 2))
        if args.config == "like-ours":
            kwargs.update(
                actor_learning_rate=cql.policy_lr, critic_learning_rate=cql.q_lr, temp_learning_rate=cql.q_lr,
                initial_temperature=cql.alpha, alpha_learning_rate=0.0,
                conservative_weight=cql.cql_alpha,
                soft_q_backup=True, n_action_samples=cql.cql_n_actions, gamma=cql.gamma, tau=cql.tau,
                critic_encoder_factory=VectorEncoderFactory([cql.hidden_dim] * 2, use_layer_norm=True),
                observation_scaler=scaler())
        config = d3rlpy.algos.CQLConfig(**kwargs)
    for item in args.set:
        key, _, value = item.partition("=")
        if not hasattr(config, key):
            raise SystemExit(f"error: --set {item}: {type(config).__name__} has no field {key!r}")
        setattr(config, key, json.loads(value))
    return config


def main(argv=None):
    args = parse_args(argv)
    import d3rlpy
    import structlog  # d3rlpy's logger, which prints every fit's settings and metrics to stdout

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    torch.set_num_threads(args.torch_threads)
    d3rlpy.seed(args.seed)  # python's, numpy's and torch's generators
    offline = buffer.load_offline_buffer(args.data)
    env_id = args.env_id
    refs, refs_source = buffer.reference_returns(env_id, offline.meta)
    dataset = mdp_dataset(offline)
    config = make_config(args, offline)
    print(f"d3rlpy {d3rlpy.__version__} {type(config).__name__} ({args.config}) on {env_id}, "
          f"{len(dataset.episodes):,} episodes; normalized scores: {refs_source}", flush=True)
    algo = config.create(device="cpu:0")
    env = offline_cql.make_env(env_id)()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluations = []
    # what offline_cql.evaluate calls: act (d3rlpy's deterministic action) and obs_mean (its device: the CPU)
    policy = SimpleNamespace(obs_mean=torch.zeros(0), act=lambda obs: torch.as_tensor(algo.predict(obs.numpy())))
    for epoch, _ in algo.fitter(dataset, n_steps=args.steps, n_steps_per_epoch=args.eval_interval,
                                show_progress=False, save_interval=10**9,
                                logger_adapter=d3rlpy.logging.NoopAdapterFactory()):
        mean, std = offline_cql.evaluate(policy, env, args.eval_episodes, args.seed + 1_000_000)
        score = buffer.normalized_score(mean, {"reference_returns": refs})
        evaluations.append({"iteration": epoch * args.eval_interval, "env_steps": 0, "return_mean": mean,
                            "return_std": std, "normalized_score": score})
        print(f"evaluation at {epoch * args.eval_interval:,} gradient steps: return {mean:.1f} ± {std:.1f}, "
              f"normalized {'—' if score is None else f'{score:.1f}'}", flush=True)
        tmp = out / "eval.jsonl.tmp"
        tmp.write_text("".join(json.dumps(e) + "\n" for e in evaluations))
        os.replace(tmp, out / "eval.jsonl")


if __name__ == "__main__":
    main()
