"""Soft Actor-Critic trained online, hybrid (online + a fixed offline buffer) or purely offline.

    python hybrid_sac.py                                                # online SAC on Pendulum-v1
    python hybrid_sac.py --offline-buffer-dir data/pendulum_expert      # hybrid
    python hybrid_sac.py --offline-buffer-dir data/pendulum_expert --rl-train-after-update-steps 100000000  # offline

ALF's hybrid loop (README.md): every iteration the offline part (`train_step_offline`, `calc_loss_offline`) trains on
an offline batch; from iteration `rl_train_after_update_steps` on, the envs step once per iteration and every
`rl_train_every_update_steps`-th one the online part (`train_step`, `calc_loss`) trains on an online batch; one
optimizer step on the summed losses, then `after_update` moves the targets. A new algorithm: see README.md.
"""

import contextlib
import copy
import dataclasses
import fcntl
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

import buffer

SCRIPT = os.path.basename(__file__)
# Per-task settings (as CORL's per-task configs), the defaults where --env-id names the task (parse_args); other tasks
# take CleanRL's SAC. On Pendulum-v1 LayerNorm and alpha 0.2 learn steadier (benchmarks/README.md).
TASK_SETTINGS = {"Pendulum-v1": {"critic_layer_norm": True, "alpha": 0.2}}


@dataclasses.dataclass
class Args:
    exp_name: str = SCRIPT[: -len(".py")]
    """the name of this experiment (part of the run directory's name)"""
    seed: int = 1
    """seed of the experiment: the same seed gives the same run"""
    env_id: str = "Pendulum-v1"
    """the id of the gymnasium environment (continuous actions, Box observations)"""
    num_envs: int = 1
    """the number of parallel envs stepped once per iteration"""
    num_iterations: int = 20000
    """total training iterations (one update step, or `utd_ratio` of them, each)"""
    run_dir: str | None = None
    """where to write TensorBoard events, eval.jsonl, checkpoints and policy.pt (default runs/<run_name>)"""
    resume: str | None = None
    """a run directory to continue from its newest checkpoint, with its flags (those given now win)"""
    cuda: bool = True
    """train on the GPU when there is one (CleanRL's flag); without one the run is on the CPU and says so"""
    torch_threads: int | None = None
    """torch's CPU threads (None: the cores free to this run, counted again each second; Linux only)"""
    overwrite: bool = False
    """start anew in a --run-dir that holds an earlier run, deleting its files (default: refuse it)"""

    # hybrid and offline training (ALF's TrainerConfig names)
    offline_buffer_dir: list[str] | None = None
    """offline buffer files, or directories holding a ckpt-*-replay_buffer; none: plain online SAC"""
    rl_train_after_update_steps: int = 0
    """offline-only iterations before the envs step and the online part trains (above num_iterations: offline)"""
    rl_train_every_update_steps: int = 1
    """train the online part every this many iterations (the offline part trains at every one)"""
    normalize_observations: bool = False
    """standardize actor and critic inputs with the offline data's mean and std (the offline scripts' default)"""

    # SAC
    buffer_size: int = 1_000_000
    """the online replay buffer's capacity, in rows (all envs together)"""
    gamma: float = 0.99
    """the discount factor gamma"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """the batch size of each of the online and the offline batches"""
    learning_starts: int | None = None
    """online rows before the online part trains (random actions till then, no offline data); None: 5 episodes"""
    policy_lr: float = 3e-4
    """the learning rate of the actor"""
    q_lr: float = 1e-3
    """the learning rate of the critics and of the entropy coefficient"""
    hidden_dim: int = 256
    """width of the two hidden layers of the actor and of each critic"""
    num_critics: int = 2
    """the number of Q-networks in the ensemble (RLPD's num_qs)"""
    num_min_critics: int | None = None
    """the TD target's minimum is over this many critics drawn at random (RLPD's num_min_qs; None: all)"""
    critic_layer_norm: bool = False
    """LayerNorm after each hidden layer of the critics (RLPD, Ball et al. 2023; CleanRL's SAC has none)"""
    utd_ratio: int = 1
    """updates per iteration (update-to-data ratio; RLPD uses more than 1)"""
    compile: bool = False
    """torch.compile each part's forward pass and losses: faster after a minute of compiling; needs a C++ compiler"""
    alpha: float = 1.0
    """the entropy coefficient (its initial value when autotune is on, 1 as in CleanRL)"""
    autotune: bool = True
    """tune the entropy coefficient towards a target entropy of -action_dim"""

    # evaluation, logging, checkpoints
    eval_interval: int = 1000
    """evaluate every this many iterations (and at the end)"""
    eval_episodes: int = 10
    """deterministic episodes per evaluation, on a separate env"""
    checkpoint_interval: int = 5000
    """write a checkpoint every this many iterations (and at the end, and when stopped by Ctrl-C or SIGTERM)"""
    save_buffer: bool = True
    """write the replay buffer beside the newest checkpoint, as ALF does (for --resume, or as offline data)"""


def make_env(env_id):
    """A function making the env: actions rescaled to [-1, 1] (ALF's convention), episode returns in its infos."""
    def thunk():
        env = gym.make(env_id)
        if not isinstance(env.observation_space, gym.spaces.Box) or not isinstance(env.action_space, gym.spaces.Box):
            raise UsageError(f"--env-id {env_id}: needs continuous (Box) observations and actions, "
                             f"has {env.observation_space} and {env.action_space}")
        return gym.wrappers.RecordEpisodeStatistics(gym.wrappers.RescaleAction(env, np.float32(-1), np.float32(1)))
    return thunk


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
        log_std = -5.0 + 3.5 * (torch.tanh(self.fc_logstd(h)) + 1)  # tanh's [-1, 1] onto [-5, 2], as CleanRL's
        return self.fc_mean(h), log_std

    def sample(self, obs):
        """A reparameterized action and its log-probability."""
        mean, log_std = self(obs)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_log_prob(u, mean, log_std)

    def act(self, obs):
        """The deterministic action: the mean squashed."""
        return torch.tanh(self(obs)[0])


class DeterministicPolicy(nn.Module):
    """policy.pt: observations [B, obs_dim] -> actions [B, act_dim] (policy_distribution.pt: the Actor itself)."""

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
        """Q-values [num_critics, B]. detach=True: gradients reach the action, not the weights (actor loss)."""
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
    """Actor, critics, target critics, entropy coefficient; ALF's hooks for online and offline batches (README.md)."""

    algorithm = "SAC"  # saved in checkpoints: a run is resumed by the script that wrote it

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
            next_q = self.qf_target(batch.next_observation, next_action)
            if self.args.num_min_critics is not None:  # RLPD: the minimum over a random subset
                next_q = next_q[torch.randperm(len(next_q), device=next_q.device)[:self.args.num_min_critics]]
            next_q = next_q.min(0).values - alpha * next_log_prob
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
        """The offline part's forward pass. SAC trains on offline data as on its own (ALF's default)."""
        return self.train_step(batch)

    def calc_loss_offline(self, info: dict):
        return self.calc_loss(info)

    @torch.no_grad()
    def after_update(self, offline_trained: bool, online_trained: bool):
        """The target critics follow the critics, which SAC trains on both parts' batches."""
        for target, source in zip(self.qf_target.parameters(), self.qf.parameters()):
            target.lerp_(source, self.args.tau)


def evaluate(policy: Actor, env, episodes: int, seed: int):
    """Mean and std of the return of deterministic episodes in an env of make_env; the same seeds every time."""
    returns, device = [], policy.obs_mean.device
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        while "episode" not in info:  # RecordEpisodeStatistics adds it, with the return, when the episode ends
            with torch.no_grad():
                action = policy.act(torch.as_tensor(obs, dtype=torch.float32, device=device)[None])[0].cpu().numpy()
            obs, _, _, _, info = env.step(action)
        returns.append(float(info["episode"]["r"]))
    return float(np.mean(returns)), float(np.std(returns))


class UsageError(Exception):
    """A flag or a run directory that cannot be used; main() prints it as one line and exits 2."""


def check_args(args: Args):
    """The first flag that cannot work, as a UsageError."""
    counts = ("num_envs", "num_iterations", "batch_size", "rl_train_every_update_steps", "utd_ratio", "num_critics",
              "eval_interval", "checkpoint_interval", "hidden_dim", "eval_episodes", "torch_threads")
    checks = [(name, getattr(args, name) is None or getattr(args, name) >= 1, "must be at least 1") for name in counts]
    checks += [(name, getattr(args, name) > 0, "must be above 0") for name in ("alpha", "policy_lr", "q_lr")]  # nan too
    checks += [("gamma", 0 <= args.gamma <= 1, "must be between 0 and 1"),
               ("tau", 0 < args.tau <= 1, "must be above 0 and at most 1"),
               ("buffer_size", args.buffer_size >= 2 * args.num_envs, "must hold at least 2 rows per env"),
               ("num_min_critics", args.num_min_critics is None or 1 <= args.num_min_critics <= args.num_critics,
                f"must be between 1 and --num-critics {args.num_critics}"),
               ("offline_buffer_dir", args.offline_buffer_dir != [], "needs at least one path"),
               ("rl_train_after_update_steps", args.offline_buffer_dir or args.rl_train_after_update_steps
                < args.num_iterations, "at --num-iterations or above (pure offline) needs --offline-buffer-dir"),
               ("normalize_observations", args.offline_buffer_dir or not args.normalize_observations,
                "uses the offline data's statistics: needs --offline-buffer-dir (or --no-normalize-observations)")]
    for name, ok, requirement in checks:
        if not ok:
            raise UsageError(f"--{name.replace('_', '-')} {requirement} (got {getattr(args, name)})")


@contextlib.contextmanager
def claim_run_dir(args: Args):
    """The run directory, locked while this run lives; one holding another run's files needs --resume or --overwrite."""
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = Path(args.resume or args.run_dir or f"runs/{run_name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes or the process ends
        except BlockingIOError:
            raise UsageError(f"{run_dir}: another run is using this directory now") from None
        earlier = sorted(p for p in run_dir.iterdir() if p.name in ("eval.jsonl", "train", "policy.pt")
                         or p.name.startswith(("events.out.tfevents", "policy_distribution")))
        if earlier and not args.resume and not args.overwrite:
            raise UsageError(f"{run_dir}: holds an earlier run ({', '.join(p.name for p in earlier)}); "
                             f"--resume {run_dir} continues it, --overwrite deletes it")
        for path in [] if args.resume else earlier:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        yield run_dir


@contextlib.contextmanager
def stop_signals():
    """SIGINT (Ctrl-C) or SIGTERM is noted in the list yielded (the loop checkpoints and exits); a second stops now."""
    received = []

    def note(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
    previous = {signum: signal.signal(signum, note) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def choose_device(args: Args, offline) -> tuple:
    """The device and a note for the first line; the offline data moves to the GPU if it fits (CORL keeps it there)."""
    if not (args.cuda and torch.cuda.is_available()):
        return torch.device("cpu"), "device: cpu" + (" (no GPU found)" if args.cuda else "")
    if offline is not None and offline.nbytes() <= torch.cuda.mem_get_info()[0] // 2:
        offline.to(torch.device("cuda"))
    return torch.device("cuda"), "device: cuda" + ("" if offline is None else f" (offline data on {offline.device})")


def fit_threads(args: Args, last: tuple) -> tuple:
    """Without --torch-threads, set torch's threads each second to the cores this run used or left idle since `last`
    (what this returned before). Only a fixed --torch-threads is sure to give the same run whatever the load."""
    if args.torch_threads is not None or sys.platform != "linux" or (last and time.time() - last[0] < 1):
        return last
    cores = {f"cpu{i}" for i in os.sched_getaffinity(0)}
    with open("/proc/stat") as f:  # per core: user nice system idle iowait ..., in clock ticks
        idle = sum(int(w[4]) + int(w[5]) for w in map(str.split, f) if w[0] in cores) / os.sysconf("SC_CLK_TCK")
    now = (time.time(), idle + time.process_time())
    if last:
        torch.set_num_threads(max(1, min(len(cores), round((now[1] - last[1]) / (now[0] - last[0])))))
    return now


def make_update(agent: Agent, optimizer, compile: bool):
    """update(offline_batch, online_batch) -> logs: each part's forward pass and losses on its batch (None: that part
    does not train now), one optimizer step on their sum, then after_update. --compile compiles the parts' losses."""
    losses = {"_offline": lambda batch: agent.calc_loss_offline(agent.train_step_offline(batch)),
              "": lambda batch: agent.calc_loss(agent.train_step(batch))}
    if compile:
        losses = {suffix: torch.compile(loss) for suffix, loss in losses.items()}

    def update(offline_batch, online_batch):
        loss, logs = 0.0, {}
        for suffix, batch in (("_offline", offline_batch), ("", online_batch)):
            if batch is not None:
                part, part_logs = losses[suffix](batch)
                loss = loss + part
                logs.update({key + suffix: value for key, value in part_logs.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        agent.after_update(offline_batch is not None, online_batch is not None)
        return logs
    return update


def save_checkpoint(run_dir: Path, iteration: int, env_steps: int, agent: Agent, optimizer, rb, buffer_meta):
    """ckpt-<iteration> (what --resume restores), the replay buffer beside it, and the policy. Each file
    is written to a temporary name and renamed; the buffer before the checkpoint that refers to it."""
    ckpt_dir = run_dir / "train" / "algorithm"
    buffer_file = ckpt_dir / f"ckpt-{iteration}-replay_buffer"
    if agent.args.save_buffer and rb.pos > 0:
        rb.save(buffer_file, buffer_meta)
    # the loop draws its randomness from torch only (the envs are seeded at reset; a GPU's generator is not saved)
    state = {"script": SCRIPT, "algorithm": agent.algorithm, "agent": agent.state_dict(),
             "optimizer": optimizer.state_dict(), "iteration": iteration, "env_steps": env_steps,
             "replay_buffer_rows": rb.pos * rb.num_envs, "torch_rng": torch.get_rng_state(),
             "args": dataclasses.asdict(agent.args)}
    buffer.atomic_save(state, ckpt_dir / f"ckpt-{iteration}")
    for older in set(ckpt_dir.glob("ckpt-*-replay_buffer")) - {buffer_file} if buffer_file.exists() else ():
        older.unlink()
    actor = copy.deepcopy(agent.actor).cpu()  # a file that runs without a GPU
    for name, policy in (("policy.pt", DeterministicPolicy(actor)), ("policy_distribution.pt", actor)):
        program = torch.export.export(policy.eval(), (torch.zeros(2, actor.obs_mean.shape[0]),),
                                      dynamic_shapes=({0: torch.export.Dim("batch")},))
        buffer.atomic_save(program, run_dir / name, save=torch.export.save)


def load_checkpoint(run_dir: Path, agent: Agent, optimizer, rb):
    """Restore the newest ckpt-<iteration> and its replay buffer; (iteration, env_steps, the evaluations up to it)."""
    found = buffer.checkpoint_paths(run_dir)
    if not found:
        raise UsageError(f"{run_dir}: no checkpoint ckpt-<iteration> under train/algorithm/ to resume from")
    iteration = max(found)
    ckpt_file, ckpt = found[iteration], buffer.load_checkpoint(found[iteration])
    if not isinstance(ckpt, dict) or not {"args", "agent", "optimizer", "torch_rng", "env_steps"} <= ckpt.keys():
        raise UsageError(f"{ckpt_file}: not a checkpoint written by this script")
    if ckpt.get("script", SCRIPT) != SCRIPT:  # checkpoints of before 2026-12-07 do not say
        raise UsageError(f"{ckpt_file}: written by {ckpt['script']} ({ckpt['algorithm']}), not by {SCRIPT} "
                         f"({agent.algorithm}); continue it with: python {ckpt['script']} --resume {run_dir}")
    for name in ("env_id", "num_envs", "hidden_dim", "num_critics", "critic_layer_norm", "buffer_size",
                 "normalize_observations"):  # flags a resumed run cannot change
        if ckpt["args"].get(name) != getattr(agent.args, name):
            raise UsageError(f"{ckpt_file}: was written with --{name.replace('_', '-')} "
                             f"{ckpt['args'].get(name)}, this run has {getattr(agent.args, name)}")
    try:
        agent.load_state_dict(ckpt["agent"])
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError) as e:  # another script's networks, or an older version's
        raise UsageError(f"{ckpt_file}: does not fit this script's networks: {' '.join(str(e).split())}") from None
    torch.set_rng_state(ckpt["torch_rng"])
    buffer_file = ckpt_file.with_name(f"{ckpt_file.name}-replay_buffer")
    if buffer_file.exists():  # else (--no-save-buffer) the online part starts again from an empty buffer
        rb.load_state_dict(buffer.load_checkpoint(buffer_file), buffer_file)
        rb.end_episodes()  # the envs restart: no transition may join the old and the new episode
    online = (f"; replay buffer: {rb.pos * rb.num_envs:,} of its {ckpt.get('replay_buffer_rows', 0):,} rows; the envs "
              "start new episodes") if ckpt["env_steps"] else ""  # nothing to say of a pure offline run
    print(f"resumed from {ckpt_file} (iteration {iteration:,}, {ckpt['env_steps']:,} env steps{online})", flush=True)
    eval_log = run_dir / "eval.jsonl"
    evaluations = [json.loads(line) for line in eval_log.read_text().splitlines()] if eval_log.exists() else []
    return iteration, ckpt["env_steps"], [e for e in evaluations if e["iteration"] <= iteration]


def print_summary(run_dir: Path, iteration: int, env_steps: int, start_time: float, last_eval: dict):
    score, minutes = last_eval["normalized_score"], (time.time() - start_time) / 60
    print(f"done: {iteration:,} iterations, {env_steps:,} env steps in {minutes:.1f} min\nfinal evaluation: "
          f"return {last_eval['return_mean']:.1f} ± {last_eval['return_std']:.1f}, normalized score "
          f"{'none' if score is None else f'{score:.1f}'}\nfiles in {run_dir}: eval.jsonl, policy.pt, checkpoints "
          f"in train/algorithm/\nTensorBoard: tensorboard --logdir {run_dir}", flush=True)


def train(args: Args):
    check_args(args)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.torch_threads or 1)
    threads_since = fit_threads(args, ())

    try:
        envs = gym.vector.SyncVectorEnv([make_env(args.env_id) for _ in range(args.num_envs)])
        eval_env = make_env(args.env_id)()
    except gym.error.Error as e:  # not registered, or its dependencies are not installed
        raise UsageError(f"--env-id {args.env_id}: cannot make this env ({e})") from None
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    obs_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))
    # random actions first: 5 whole episodes (5,000 rows on MuJoCo, as CleanRL; 500 stalled some HalfCheetah seeds)
    learning_starts = (5 * (eval_env.spec.max_episode_steps or 1000) if args.learning_starts is None
                       else args.learning_starts)

    offline = None
    if args.offline_buffer_dir:
        offline = buffer.load_offline_buffer(args.offline_buffer_dir)
        offline.check_spaces(obs_space, act_space, args.env_id)
    reference_returns, reference_source = buffer.reference_returns(args.env_id, offline and offline.meta)
    device, device_note = choose_device(args, offline)
    agent = Agent(obs_dim, act_dim, args).to(device)
    if offline is not None and args.normalize_observations:
        stats = dict(zip(("obs_mean", "obs_std"), offline.observation_mean_std()))
        for net in (agent.actor, agent.qf, agent.qf_target):
            net.load_state_dict(stats, strict=False)  # sets these two buffers only
    # the actor at policy_lr; the rest the agent trains (critics, entropy coefficient, what a copy adds) at q_lr
    others = [p for name, p in agent.named_parameters() if not name.startswith(("actor.", "qf_target."))]
    optimizer = torch.optim.Adam([{"params": agent.actor.parameters(), "lr": args.policy_lr},
                                  {"params": others, "lr": args.q_lr}], fused=True)
    update = make_update(agent, optimizer, args.compile)
    rb = buffer.ReplayBuffer(args.num_envs, args.buffer_size // args.num_envs, obs_space, act_space, device)

    with claim_run_dir(args) as run_dir, stop_signals() as stop_requests, SummaryWriter(str(run_dir)) as writer:
        print(f"run directory: {run_dir}; {device_note}, torch threads: {args.torch_threads or 'the free cores'}; "
              f"online training from {learning_starts:,} rows; critic LayerNorm {args.critic_layer_norm}, alpha "
              f"{args.alpha}; normalized scores: {reference_source}", flush=True)
        start_iteration, env_steps, evaluations = (load_checkpoint(run_dir, agent, optimizer, rb) if args.resume
                                                   else (0, 0, []))
        buffer_meta = buffer.make_meta(args.env_id, obs_space, act_space, f"replay buffer of {run_dir}",
                                       reference_returns=reference_returns)
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" +
                        "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items()))
        obs, _ = envs.reset(seed=args.seed + start_iteration)
        reward = np.zeros(args.num_envs)
        terminated = truncated = np.zeros(args.num_envs, dtype=bool)
        logs, start_time, start_env_steps = {}, time.time(), env_steps  # logs: the newest losses
        for iteration in range(start_iteration, args.num_iterations):
            done = iteration + 1  # iterations done at the end of this one: the x-axis of every scalar
            threads_since = fit_threads(args, threads_since)
            # unroll: one step of every env, its rows into the online buffer
            online_phase = iteration >= args.rl_train_after_update_steps
            if online_phase:
                if offline is None and rb.size * args.num_envs < learning_starts:
                    action = torch.rand(args.num_envs, act_dim) * 2 - 1
                else:
                    with torch.no_grad():
                        action = agent.actor.sample(torch.as_tensor(obs, dtype=torch.float32, device=device))[0]
                action = action.cpu().numpy()
                rb.add(obs, action, reward, terminated, truncated)
                obs, reward, terminated, truncated, infos = envs.step(action)
                env_steps += args.num_envs
                for r in infos["episode"]["r"][infos["_episode"]] if "episode" in infos else ():
                    writer.add_scalar("charts/episodic_return", r, done)

            # train: the offline part every iteration, the online part every k-th once it has data
            rl_train = (online_phase and iteration % args.rl_train_every_update_steps == 0
                        and rb.size * args.num_envs >= learning_starts)
            if offline is not None or rl_train:
                for _ in range(args.utd_ratio):
                    logs.update(update(offline.sample(args.batch_size).to(device) if offline is not None else None,
                                       rb.sample(args.batch_size) if rl_train else None))

            if done % 100 == 0:  # as CleanRL
                for key, value in logs.items():
                    writer.add_scalar(f"losses/{key}", value.item(), done)
                writer.add_scalar("charts/SPS", (env_steps - start_env_steps) / (time.time() - start_time), done)
            if done % args.eval_interval == 0 or done == args.num_iterations:
                mean, std = evaluate(agent.actor, eval_env, args.eval_episodes, args.seed + 1_000_000)
                score = buffer.normalized_score(mean, {"reference_returns": reference_returns})
                for key, value in (("return_mean", mean), ("normalized_score", score)):
                    if value is not None:
                        writer.add_scalar(f"eval/{key}", value, done)
                evaluations.append({"iteration": done, "env_steps": env_steps, "return_mean": mean,
                                    "return_std": std, "normalized_score": score})
                buffer.atomic_save("".join(json.dumps(e) + "\n" for e in evaluations).encode(),
                                   run_dir / "eval.jsonl", save=lambda data, f: f.write(data))
                print(f"iteration {done:,}/{args.num_iterations:,}: return {mean:.1f} ± {std:.1f} "
                      f"({(done - start_iteration) / (time.time() - start_time):.0f} it/s)", flush=True)
            if done % args.checkpoint_interval == 0 or done == args.num_iterations or stop_requests:
                save_checkpoint(run_dir, done, env_steps, agent, optimizer, rb, buffer_meta)
            if stop_requests:
                print(f"stopped by {signal.Signals(stop_requests[0]).name} after iteration {done:,}, checkpoint "
                      f"written; to continue: python {SCRIPT} --resume {run_dir}", file=sys.stderr)
                sys.exit(128 + stop_requests[0])
        envs.close()
        if start_iteration >= args.num_iterations:
            print(f"{run_dir}: finished already at iteration {start_iteration:,} (more --num-iterations continue it)")
        if evaluations:
            print_summary(run_dir, max(start_iteration, args.num_iterations), env_steps, start_time, evaluations[-1])
    return agent, run_dir


def parse_args(argv=None) -> Args:
    """The command line; the defaults are the task's TASK_SETTINGS, under the stopped run's flags with --resume
    (flags given now win)."""
    args = tyro.cli(Args, args=argv)
    found = buffer.checkpoint_paths(Path(args.resume)) if args.resume else {}
    saved = buffer.load_checkpoint(found[max(found)]) if found else None
    saved = saved["args"] if isinstance(saved, dict) and isinstance(saved.get("args"), dict) else {}
    saved = {k: v for k, v in saved.items() if k in Args.__dataclass_fields__ and v is not None}  # None: the task's
    defaults = {**TASK_SETTINGS.get(saved.get("env_id", args.env_id), {}), **saved}
    return tyro.cli(Args, args=argv, default=Args(**defaults))


def main(argv=None):
    try:
        train(parse_args(argv))
    except (buffer.BufferError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # before the loop, or a second Ctrl-C while stopping
        print("error: interrupted before a checkpoint could be written; --resume continues from the newest "
              "complete one, if any", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
