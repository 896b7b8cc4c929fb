"""Behavior cloning as the offline part, Soft Actor-Critic as the online part.

    python offline_bc.py --offline-buffer-dir data/pendulum_expert      # pure offline BC
    python offline_bc.py --offline-buffer-dir data/pendulum_expert \\
        --rl-train-after-update-steps 5000                      # then SAC with a BC loss on the data

A copy of hybrid_sac.py that differs only where behavior cloning does: `train_step_offline` and
`calc_loss_offline` fit the policy to the buffer's actions, no critic is trained in pure offline
mode, and pure offline is the default (as in ALF's BC example).

The loop follows ALF's hybrid training (see README.md): every iteration the offline part
(`train_step_offline` / `calc_loss_offline`) trains on an offline batch, and from iteration
`rl_train_after_update_steps` on, the envs take one step per iteration and every
`rl_train_every_update_steps`-th iteration the online part (`train_step` / `calc_loss`) trains
on an online batch; both losses are summed into one optimizer step. To make a new offline
algorithm, copy this file and change `train_step_offline` and `calc_loss_offline`.
"""

import copy
import dataclasses
import json
import math
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import buffer


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run directory's name)"""
    seed: int = 1
    """seed of the experiment: the same seed gives the same run"""
    env_id: str = "Pendulum-v1"
    """the id of the gymnasium environment (continuous actions, Box observations)"""
    num_envs: int = 1
    """the number of parallel envs stepped once per iteration"""
    num_iterations: int = 20000
    """total training iterations (one update step, or `utd_ratio` of them, each)"""
    run_dir: Optional[str] = None
    """where to write TensorBoard events, eval.jsonl, checkpoints and policy.pt (default runs/<run_name>)"""
    resume: Optional[str] = None
    """a run directory to continue from its newest checkpoint (pass the same flags as the stopped run)"""

    # hybrid and offline training (ALF's TrainerConfig names)
    offline_buffer_dir: Optional[List[str]] = None
    """offline buffer files, or directories holding a ckpt-*-replay_buffer; none: plain online SAC"""
    offline_buffer_length: Optional[int] = None
    """keep at most this many rows (the oldest) of each env of each offline buffer file"""
    rl_train_after_update_steps: int = 1_000_000_000
    """iterations of offline-only training before the envs step and the online part trains;
    above num_iterations (the default): pure offline training"""
    rl_train_every_update_steps: int = 1
    """train the online part every this many iterations (the offline part trains at every one)"""
    normalize_observations: bool = True
    """standardize the observations of actor and critics with the offline data's mean and std
    (Pendulum's angular velocity spans [-8, 8], the rest [-1, 1]); on the expert buffer BC's return
    then first reaches -200 at about iteration 1,250 instead of 4,000 (see the benchmarks)"""

    # behavior cloning
    bc_loss: Literal["nll", "mse"] = "nll"
    """nll: negative log-likelihood of the buffer's actions under the policy (ALF's BC);
    mse: squared error of the deterministic action"""
    bc_action_eps: float = 1e-3
    """buffer actions are clipped to [-1 + eps, 1 - eps] for nll: tanh never reaches +-1 exactly"""
    bc_nll_beta: float = 0.5
    """beta-NLL (Seitzer et al. 2022): each sample's NLL is weighted by std^(2 beta), held constant;
    0 is plain NLL (ALF's). Plain NLL lets the policy widen its std where the expert's actions
    saturate at +-1 instead of moving its mean there; on Pendulum it then never learns the swing-up"""

    # SAC (the online part)
    buffer_size: int = 1_000_000
    """the online replay buffer's capacity, in rows (all envs together)"""
    gamma: float = 0.99
    """the discount factor gamma"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """the batch size of each of the online and the offline batches"""
    learning_starts: int = 500
    """the online part trains once the online buffer holds this many rows; before that, without an
    offline buffer, the envs are stepped with uniform random actions (CleanRL: 5e3; with the critics'
    LayerNorm, 500 reaches -200 on Pendulum sooner without becoming unstable)"""
    policy_lr: float = 3e-4
    """the learning rate of the actor"""
    q_lr: float = 1e-3
    """the learning rate of the critics and of the entropy coefficient"""
    hidden_dim: int = 256
    """width of the two hidden layers of the actor and of each critic"""
    num_critics: int = 2
    """the number of Q-networks in the ensemble; targets take the minimum over them"""
    critic_layer_norm: bool = True
    """LayerNorm after each hidden layer of the critics (RLPD, Ball et al. 2023); on Pendulum it keeps
    online and hybrid SAC from falling apart after they first succeed"""
    utd_ratio: int = 1
    """updates per iteration (update-to-data ratio; RLPD uses more than 1)"""
    compile: bool = False
    """torch.compile each part's forward pass and losses (train_step + calc_loss, and the offline pair):
    faster SAC updates after a minute or so of compiling (BC's update gains nothing: it is small);
    needs a C++ compiler"""
    alpha: float = 0.2
    """the entropy coefficient (its initial value when autotune is on)"""
    autotune: bool = True
    """tune the entropy coefficient towards a target entropy of -action_dim"""

    # evaluation, logging, checkpoints
    eval_interval: int = 1000
    """evaluate every this many iterations (and at the end)"""
    eval_episodes: int = 10
    """deterministic episodes per evaluation, on a separate env"""
    log_interval: int = 100
    """write losses to TensorBoard every this many iterations"""
    checkpoint_interval: int = 10000
    """write a checkpoint every this many iterations (and at the end)"""
    save_buffer: bool = False
    """with every checkpoint, write the online replay buffer as ckpt-<iteration>-replay_buffer (ALF's
    ReplayBuffer enable_checkpoint), so this run's directory can be another run's --offline-buffer-dir"""


def make_env(env_id):
    # ALF's convention: actions in [-1, 1]; the buffers store them that way.
    return lambda: gym.wrappers.RescaleAction(gym.make(env_id), np.float32(-1), np.float32(1))


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def squashed_log_prob(u, mean, log_std):
    """Log-density of the action tanh(u), where u is drawn from N(mean, exp(log_std))."""
    normal = -0.5 * ((u - mean) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), stable where tanh saturates
    return (normal - 2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy with actions in [-1, 1]."""

    def __init__(self, obs_dim, act_dim, hidden_dim):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden_dim), nn.ReLU(),
                                   nn.Linear(hidden_dim, hidden_dim), nn.ReLU())
        self.fc_mean = nn.Linear(hidden_dim, act_dim)
        self.fc_logstd = nn.Linear(hidden_dim, act_dim)
        # set from the offline data when normalize_observations; saved with the weights and in policy.pt
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))

    def forward(self, obs):
        h = self.trunk((obs - self.obs_mean) / self.obs_std)
        log_std = torch.tanh(self.fc_logstd(h))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)
        return self.fc_mean(h), log_std

    def sample(self, obs):
        """A reparameterized action and its log-probability."""
        mean, log_std = self(obs)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_log_prob(u, mean, log_std)

    def log_prob(self, obs, action, eps):
        """Log-probability of given actions in [-1, 1] (|action| clipped to 1 - eps), and log std."""
        mean, log_std = self(obs)
        return squashed_log_prob(torch.atanh(action.clamp(-1 + eps, 1 - eps)), mean, log_std), log_std

    def act(self, obs):
        """The deterministic action: the mean squashed."""
        return torch.tanh(self(obs)[0])


class DeterministicPolicy(nn.Module):
    """What policy.pt holds: observation [B, obs_dim] -> action [B, act_dim] in [-1, 1]."""

    def __init__(self, actor):
        super().__init__()
        self.actor = actor

    def forward(self, obs):
        return self.actor.act(obs)


class Critics(nn.Module):
    """An ensemble of Q-networks evaluated together: each layer is one batched matmul over all."""

    def __init__(self, obs_dim, act_dim, hidden_dim, num_critics, layer_norm):
        super().__init__()
        sizes = [obs_dim + act_dim, hidden_dim, hidden_dim, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialization, per member
            self.weights.append(nn.Parameter(torch.empty(num_critics, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_critics, 1, fan_out).uniform_(-bound, bound)))
        self.layer_norm = layer_norm
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))

    def forward(self, obs, action, detach=False):
        """Q-values [num_critics, B]. detach=True: gradients reach the action, not the weights
        (for the actor loss)."""
        x = torch.cat([(obs - self.obs_mean) / self.obs_std, action], -1).expand(len(self.weights[0]), -1, -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if detach:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                if self.layer_norm:
                    x = F.layer_norm(x, x.shape[-1:])
                x = F.relu(x)
        return x.squeeze(-1)


class Agent(nn.Module):
    """The actor, the critics, their targets and the entropy coefficient, with ALF's four hooks:
    train_step / calc_loss for online batches, train_step_offline / calc_loss_offline for offline ones."""

    def __init__(self, obs_dim, act_dim, args: Args):
        super().__init__()
        self.args = args
        self.actor = Actor(obs_dim, act_dim, args.hidden_dim)
        self.qf = Critics(obs_dim, act_dim, args.hidden_dim, args.num_critics, args.critic_layer_norm)
        self.qf_target = copy.deepcopy(self.qf).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(args.alpha)), requires_grad=args.autotune)
        self.target_entropy = -float(act_dim)

    def train_step(self, batch: buffer.Batch) -> dict:
        """SAC's forward pass on a batch: everything calc_loss needs."""
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(batch.next_observation)
            next_q = self.qf_target(batch.next_observation, next_action).min(0).values - alpha * next_log_prob
            td_target = batch.reward + self.args.gamma * batch.discount * next_q
        action, log_prob = self.actor.sample(batch.observation)
        return {"q": self.qf(batch.observation, batch.action), "td_target": td_target,
                "log_prob": log_prob, "q_pi": self.qf(batch.observation, action, detach=True)}

    def calc_loss(self, info: dict):
        """Critic, actor and entropy-coefficient losses, summed; and the terms, for logging."""
        qf_loss = F.mse_loss(info["q"], info["td_target"].expand_as(info["q"]), reduction="none").mean(1).sum()
        alpha = self.log_alpha.exp()
        actor_loss = (alpha.detach() * info["log_prob"] - info["q_pi"].min(0).values).mean()
        alpha_loss = -(alpha * (info["log_prob"].detach() + self.target_entropy)).mean()
        logs = {"qf_loss": qf_loss.detach(), "actor_loss": actor_loss.detach(), "alpha_loss": alpha_loss.detach(),
                "qf_values": info["q"].detach().mean(), "alpha": alpha.detach()}
        return qf_loss + actor_loss + alpha_loss, logs

    def train_step_offline(self, batch: buffer.Batch) -> dict:
        """Behavior cloning's forward pass: how the policy rates the buffer's actions. No critic."""
        if self.args.bc_loss == "mse":
            return {"action_error": self.actor.act(batch.observation) - batch.action}
        log_prob, log_std = self.actor.log_prob(batch.observation, batch.action, self.args.bc_action_eps)
        return {"log_prob": log_prob, "log_std": log_std}

    def calc_loss_offline(self, info: dict):
        if self.args.bc_loss == "mse":
            bc_loss = info["action_error"].pow(2).sum(-1).mean()
        else:
            weight = (2 * self.args.bc_nll_beta * info["log_std"].detach()).exp().mean(-1)
            bc_loss = -(weight * info["log_prob"]).mean()
        return bc_loss, {"bc_loss": bc_loss.detach()}

    @torch.no_grad()
    def soft_update(self):
        for target, source in zip(self.qf_target.parameters(), self.qf.parameters()):
            target.lerp_(source, self.args.tau)


def evaluate(policy: Actor, env, episodes: int, seed: int):
    """Mean and std of the return of deterministic episodes; the same seeds at every evaluation."""
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = policy.act(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


def checkpoint_paths(run_dir: Path):
    """{iteration: path} of the ckpt-<iteration> files under <run_dir>/train/algorithm/."""
    found = {}
    for path in (run_dir / "train" / "algorithm").glob("ckpt-*"):
        match = re.fullmatch(r"ckpt-(\d+)", path.name)
        if match:
            found[int(match.group(1))] = path
    return found


class UsageError(Exception):
    """A flag or a run directory that cannot be used; main() prints it as one line and exits 2."""


def check_args(args: Args):
    problems = [f"--{name.replace('_', '-')} must be at least {low} (got {getattr(args, name)})"
                for name, low in [("num_envs", 1), ("num_iterations", 1), ("batch_size", 1),
                                  ("rl_train_every_update_steps", 1), ("utd_ratio", 1), ("num_critics", 1),
                                  ("eval_interval", 1), ("log_interval", 1), ("checkpoint_interval", 1),
                                  ("hidden_dim", 1), ("eval_episodes", 1)]
                if getattr(args, name) < low]
    # "not x > 0" also catches nan
    problems += [f"--{name.replace('_', '-')} must be above 0 (got {getattr(args, name)})"
                 for name in ["alpha", "policy_lr", "q_lr"] if not getattr(args, name) > 0]
    if not 0 <= args.gamma <= 1:
        problems.append(f"--gamma must be between 0 and 1 (got {args.gamma})")
    if not 0 < args.tau <= 1:
        problems.append(f"--tau must be above 0 and at most 1 (got {args.tau})")
    if not 0 < args.bc_action_eps < 1:
        problems.append(f"--bc-action-eps must be between 0 and 1 (got {args.bc_action_eps})")
    if args.buffer_size < 2 * args.num_envs:
        problems.append(f"--buffer-size must hold at least 2 rows per env (got {args.buffer_size})")
    if args.offline_buffer_dir is not None and not args.offline_buffer_dir:
        problems.append("--offline-buffer-dir needs at least one path")
    if args.offline_buffer_dir is None and args.rl_train_after_update_steps >= args.num_iterations:
        problems.append("pure offline training (--rl-train-after-update-steps >= --num-iterations) "
                        "needs --offline-buffer-dir")
    if args.offline_buffer_dir is None and args.normalize_observations:
        problems.append("--normalize-observations uses the offline data's statistics: needs --offline-buffer-dir "
                        "(or --no-normalize-observations)")
    if problems:
        raise UsageError(problems[0])


def train(args: Args):
    check_args(args)
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = Path(args.resume or args.run_dir or f"runs/{run_name}")
    ckpt_dir = run_dir / "train" / "algorithm"
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    try:
        envs = gym.vector.SyncVectorEnv([make_env(args.env_id) for _ in range(args.num_envs)])
        eval_env = make_env(args.env_id)()
    except gym.error.Error as e:  # not registered, or its dependencies are not installed
        raise UsageError(f"--env-id {args.env_id}: cannot make this env ({e})") from None
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Box):
        raise UsageError(f"{args.env_id}: needs Box observation and action spaces, "
                                 f"has {obs_space} and {act_space}")
    obs_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))

    offline = None
    if args.offline_buffer_dir:
        offline = buffer.load_offline_buffer(args.offline_buffer_dir, args.offline_buffer_length)
        offline.check_spaces(obs_space, act_space)
    agent = Agent(obs_dim, act_dim, args)
    if offline is not None and args.normalize_observations:
        obs_mean, obs_std = offline.observation_mean_std()
        for net in (agent.actor, agent.qf, agent.qf_target):
            net.obs_mean.copy_(obs_mean)
            net.obs_std.copy_(obs_std)
    optimizer = torch.optim.Adam([
        {"params": agent.actor.parameters(), "lr": args.policy_lr},
        {"params": list(agent.qf.parameters()) + [agent.log_alpha], "lr": args.q_lr}], fused=True)
    # each part's forward pass and losses, as the loop calls them (the Adam step is fused already)
    def online_loss(batch):
        return agent.calc_loss(agent.train_step(batch))

    def offline_loss(batch):
        return agent.calc_loss_offline(agent.train_step_offline(batch))

    if args.compile:
        online_loss, offline_loss = torch.compile(online_loss), torch.compile(offline_loss)
    rb = buffer.ReplayBuffer(args.num_envs, args.buffer_size // args.num_envs, obs_space, act_space)
    meta = offline.meta if offline is not None else None

    start_iteration, env_steps = 0, 0
    if args.resume:
        found = checkpoint_paths(run_dir)
        if not found:
            raise UsageError(f"{run_dir}: no checkpoint ckpt-<iteration> under train/algorithm/ to resume from")
        start_iteration = max(found)
        ckpt_file = found[start_iteration]
        ckpt = buffer.load_checkpoint(ckpt_file)
        if not isinstance(ckpt, dict) or not {"args", "agent", "optimizer", "torch_rng", "env_steps"} <= ckpt.keys():
            raise UsageError(f"{ckpt_file}: not a checkpoint written by this script")
        saved = ckpt["args"]
        for name in ("env_id", "num_envs", "hidden_dim", "num_critics", "critic_layer_norm", "buffer_size",
                     "normalize_observations"):
            if saved.get(name) != getattr(args, name):
                raise UsageError(f"{ckpt_file}: was written with --{name.replace('_', '-')} "
                                 f"{saved.get(name)}, this run has {getattr(args, name)}")
        try:
            agent.load_state_dict(ckpt["agent"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError) as e:  # another script's networks, or an older version's
            raise UsageError(f"{ckpt_file}: does not fit this script's networks: {' '.join(str(e).split())}") from None
        torch.set_rng_state(ckpt["torch_rng"])
        env_steps = ckpt["env_steps"]
        buffer_file = ckpt_dir / f"ckpt-{start_iteration}-replay_buffer"
        if buffer_file.exists():
            rb.load_state_dict(buffer.load_checkpoint(buffer_file), buffer_file)
            rb.end_episodes()  # the envs restart below: no transition may join the old and new episode
        eval_log = run_dir / "eval.jsonl"
        if eval_log.exists():  # evaluations after the checkpoint are done again
            kept = [line for line in eval_log.read_text().splitlines()
                    if json.loads(line)["iteration"] <= start_iteration]
            eval_log.write_text("".join(line + "\n" for line in kept))

    def save_checkpoint(iteration):
        state = {"agent": agent.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration,
                 "env_steps": env_steps, "torch_rng": torch.get_rng_state(), "args": dataclasses.asdict(args)}
        buffer.atomic_save(state, ckpt_dir / f"ckpt-{iteration}")
        if args.save_buffer:
            rb.save(ckpt_dir / f"ckpt-{iteration}-replay_buffer",
                    buffer.make_meta(args.env_id, obs_space, act_space, f"replay buffer of {run_dir}",
                                     reference_returns=(meta or {}).get("reference_returns")))
        policy = torch.export.export(DeterministicPolicy(copy.deepcopy(agent.actor)).eval(),
                                     (torch.zeros(2, obs_dim),), dynamic_shapes=({0: torch.export.Dim("batch")},))
        buffer.atomic_save(policy, run_dir / "policy.pt", save=torch.export.save)

    writer = SummaryWriter(str(run_dir))
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" +
                    "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items()))
    obs, _ = envs.reset(seed=args.seed + start_iteration)
    reward = np.zeros(args.num_envs)
    terminated = truncated = np.zeros(args.num_envs, dtype=bool)
    status, logs = {}, {}  # the progress bar's SPS and last eval return
    start_time = time.time()
    progress = tqdm(range(start_iteration, args.num_iterations), initial=start_iteration,
                    total=args.num_iterations, mininterval=2)
    for iteration in progress:
        # unroll: one step of every env, its rows into the online buffer
        online_phase = iteration >= args.rl_train_after_update_steps
        if online_phase:
            if offline is None and rb.size * args.num_envs < args.learning_starts:
                action = torch.rand(args.num_envs, act_dim) * 2 - 1
            else:
                with torch.no_grad():
                    action = agent.actor.sample(torch.as_tensor(obs, dtype=torch.float32))[0]
            action = action.numpy()
            rb.add(obs, action, reward, terminated, truncated)
            obs, reward, terminated, truncated, infos = envs.step(action)
            env_steps += args.num_envs
            if "episode" in infos:
                for r in infos["episode"]["r"][infos["_episode"]]:
                    writer.add_scalar("charts/episodic_return", r, env_steps)

        # train: the offline part every iteration, the online part every k-th once it has data
        rl_train = (online_phase and iteration % args.rl_train_every_update_steps == 0
                    and rb.size * args.num_envs >= args.learning_starts)
        if offline is not None or rl_train:
            for _ in range(args.utd_ratio):
                loss = 0.0
                if offline is not None:
                    loss_offline, logs_offline = offline_loss(offline.sample(args.batch_size))
                    loss = loss + loss_offline
                    logs.update({f"{k}_offline": v for k, v in logs_offline.items()})
                if rl_train:
                    loss_online, logs_online = online_loss(rb.sample(args.batch_size))
                    loss = loss + loss_online
                    logs.update(logs_online)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if rl_train:
                    agent.soft_update()  # only the online part trains a critic

        done = iteration + 1
        if done % args.log_interval == 0 and logs:
            for key, value in logs.items():
                writer.add_scalar(f"losses/{key}", value.item(), done)
            sps = (done - start_iteration) / (time.time() - start_time)
            writer.add_scalar("charts/SPS", sps, done)
            status["SPS"] = f"{sps:.0f}"
            progress.set_postfix(status, refresh=False)
        if done % args.eval_interval == 0 or done == args.num_iterations:
            mean, std = evaluate(agent.actor, eval_env, args.eval_episodes, args.seed + 1_000_000)
            score = buffer.normalized_score(mean, meta)
            writer.add_scalar("eval/return_mean", mean, done)
            if score is not None:
                writer.add_scalar("eval/normalized_score", score, done)
            with open(run_dir / "eval.jsonl", "a") as f:
                f.write(json.dumps({"iteration": done, "env_steps": env_steps, "return_mean": mean,
                                    "return_std": std, "normalized_score": score}) + "\n")
            status["eval"] = f"{mean:.1f}"
            progress.set_postfix(status, refresh=False)
        if done % args.checkpoint_interval == 0 or done == args.num_iterations:
            save_checkpoint(done)

    envs.close()
    writer.close()
    return agent, run_dir


def main(argv=None):
    args = tyro.cli(Args, args=argv)
    try:
        train(args)
    except (buffer.BufferError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
