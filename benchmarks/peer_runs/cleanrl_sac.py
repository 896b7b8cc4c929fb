"""CleanRL's own sac_continuous_action.py (cleanrl 1.2.0 from PyPI, unchanged), run in .venv-cleanrl on a
Gymnasium task and evaluated like this project's scripts. Started by `benchmarks/peers.py cleanrl-sac`, which
checks the input and records the run; run by hand only for debugging:

    .venv-cleanrl/bin/python benchmarks/peer_runs/cleanrl_sac.py --env-id Hopper-v5 --seed 1 \
        --total-timesteps 100000 --eval-interval 5000 --out /tmp/cleanrl-hopper

What runs is CleanRL's file itself, as `python -m cleanrl.sac_continuous_action` would run it (runpy, with
its own argparse flags in sys.argv; its TensorBoard events go to OUT/runs/). Nothing of it is edited or
replaced. Two things are added around it, both outside its code:

1. The env. The file is written for gym 0.23.1 (reset() gives the observation, step() gives 4 values, the
   vector env a list of info dicts with "terminal_observation", SB3 1.2.0's buffer reads
   info["TimeLimit.truncated"]). gym 0.23.1's MuJoCo envs are -v2/-v3 on mujoco-py, which needs MuJoCo 2.1's
   binaries from outside PyPI, and gym 0.24+ (the first with -v4) changed the vector env's infos to a dict,
   which the file cannot read. So gym 0.23.1 stays, and its registry gets the task's id with an entry point
   that makes Gymnasium's env (the project's gymnasium and mujoco versions: -v5 exactly as our scripts see
   it, -v4 as Gymnasium 1.x keeps it) behind gym 0.23.1's API: done = terminated or truncated, and
   info["TimeLimit.truncated"] where the time limit alone ended the episode, as gym 0.23.1's TimeLimit
   wrapper says it (so SB3's buffer bootstraps there, as the file intends). The env's seed(seed), which the
   file calls, seeds the next reset, as it did in gym 0.23.1.

2. The evaluation. The file evaluates nothing. Every --eval-interval env steps (and at the end) this runner
   takes the file's own `actor` from the running module (runpy makes it sys.modules["__main__"]) and plays
   --eval-episodes deterministic episodes on a separate Gymnasium env with the actions the file's
   Actor.get_action returns as its deterministic action (tanh(mean), scaled to the action bounds), seeds
   seed + 1,000,000 + episode, as hybrid_sac.py's evaluate. The evaluation runs inside the training env's
   step (the N+1-th call, before that step: after N env steps and the updates that follow them, as our
   scripts evaluate after N iterations) under torch.no_grad() and torch.random.fork_rng(), so it draws
   nothing from the training's random streams: training is the same with or without it. The alternatives
   were worse: CleanRL 1.2.0's SAC has no --save-model flag to load from, and rewriting its loop with
   hooks would no longer be its code.

Each evaluation is one JSON line in OUT/eval.jsonl (rewritten whole, to a temporary name then renamed):
{"iteration", "env_steps", "return_mean", "return_std", "normalized_score"}; an iteration is one env step
and (past --learning-starts) one update, as in hybrid_sac.py. Normalized scores use D4RL's reference returns
(buffer.reference_returns, as hybrid_sac.py does without an offline buffer).
"""
import argparse
import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, required=True)
    parser.add_argument("--learning-starts", type=int, default=5000, help="CleanRL's default: 5,000")
    parser.add_argument("--eval-interval", type=int, default=5000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="eval.jsonl and CleanRL's runs/ go here")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more flags for CleanRL's script, as it spells them")
    return parser.parse_args(argv)


def old_gym_env(env_id: str, on_step):
    """Gymnasium's env_id behind gym 0.23.1's Env API; on_step() is called before every step."""
    import gym
    import gymnasium

    class GymnasiumEnv(gym.Env):
        def __init__(self):
            self.env = gymnasium.make(env_id)
            box = self.env.observation_space, self.env.action_space
            self.observation_space, self.action_space = (gym.spaces.Box(b.low, b.high, b.shape, b.dtype) for b in box)
            self.metadata = dict(self.env.metadata)
            self._seed = None

        def seed(self, seed=None):
            self._seed = seed  # gym 0.23.1's envs seeded their generator here; Gymnasium's seed at reset
            return [seed]

        def reset(self, *, seed=None, return_info=False, options=None):
            seed, self._seed = (self._seed if seed is None else seed), None
            obs, info = self.env.reset(seed=seed, options=options)
            return (obs, info) if return_info else obs

        def step(self, action):
            on_step()
            obs, reward, terminated, truncated, info = self.env.step(action)
            if truncated and not terminated:
                info["TimeLimit.truncated"] = True
            return obs, float(reward), bool(terminated or truncated), info

        def close(self):
            self.env.close()

    return GymnasiumEnv()


class Evaluator:
    """Counts the training env's steps; every eval_interval of them plays the running script's actor."""

    def __init__(self, args, reference_returns):
        import gymnasium

        self.args, self.reference_returns = args, reference_returns
        self.env = gymnasium.make(args.env_id)
        self.steps, self.evaluations = 0, []
        self.path = Path(args.out) / "eval.jsonl"

    def before_step(self):
        if self.steps and self.steps % self.args.eval_interval == 0:
            self.evaluate()
        self.steps += 1

    def finish(self, script: dict):
        if not self.evaluations or self.evaluations[-1]["env_steps"] != self.steps:
            self.evaluate(script)

    def evaluate(self, script=None):
        import buffer

        script = script or sys.modules["__main__"].__dict__  # the running CleanRL script's globals (runpy)
        actor, device = script["actor"], script["device"]
        returns = []
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for episode in range(self.args.eval_episodes):
                obs, _ = self.env.reset(seed=self.args.seed + 1_000_000 + episode)
                done, total = False, 0.0
                while not done:
                    _, _, mean = actor.get_action(torch.Tensor(obs[None]).to(device))  # its deterministic action
                    obs, reward, terminated, truncated, _ = self.env.step(mean[0].cpu().numpy())
                    total += float(reward)
                    done = terminated or truncated
                returns.append(total)
        mean, std = float(np.mean(returns)), float(np.std(returns))
        score = buffer.normalized_score(mean, {"reference_returns": self.reference_returns})
        self.evaluations.append({"iteration": self.steps, "env_steps": self.steps, "return_mean": mean,
                                 "return_std": std, "normalized_score": score})
        print(f"evaluation at {self.steps:,} env steps: return {mean:.1f} ± {std:.1f}, normalized "
              f"{'—' if score is None else f'{score:.1f}'}", flush=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in self.evaluations))
        os.replace(tmp, self.path)


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import buffer  # the project's reference returns and normalized score (imports numpy and torch only)
    import gym

    torch.set_num_threads(args.torch_threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)  # the script writes runs/<run_name>/ under the working directory
    evaluator = Evaluator(args, buffer.reference_returns(args.env_id, None)[0])
    gym.envs.registration.register(id=args.env_id, entry_point=lambda: old_gym_env(args.env_id, evaluator.before_step))
    sys.argv = ["sac_continuous_action.py", "--env-id", args.env_id, "--seed", str(args.seed),
                "--total-timesteps", str(args.total_timesteps), "--learning-starts", str(args.learning_starts),
                "--cuda", "False", *args.extra]
    print("running cleanrl.sac_continuous_action with", " ".join(sys.argv[1:]), flush=True)
    script = runpy.run_module("cleanrl.sac_continuous_action", run_name="__main__", alter_sys=True)
    # its loop has ended: the last evaluation, with the actor as the loop left it (run_module returns its globals)
    evaluator.finish(script)


if __name__ == "__main__":
    main()
