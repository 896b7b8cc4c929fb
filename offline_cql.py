"""Conservative Q-learning (CQL(H), Kumar et al. 2020) as the offline part, SAC as the online part.

    python offline_cql.py --offline-buffer-dir data/pendulum_expert     # pure offline CQL
    python offline_cql.py --offline-buffer-dir data/pendulum_expert \\
        --rl-train-after-update-steps 10000                     # offline-to-online fine-tuning

A copy of hybrid_sac.py that differs only where CQL does: `train_step_offline` also evaluates the
critics on sampled actions, and `calc_loss_offline` adds the CQL regularizer, which pushes Q down on
those actions and up on the buffer's, to SAC's losses. Pure offline is the default.

The loop follows ALF's hybrid training (see README.md): every iteration the offline part
(`train_step_offline` / `calc_loss_offline`) trains on an offline batch, and from iteration
`rl_train_after_update_steps` on, the envs take one step per iteration and every
`rl_train_every_update_steps`-th iteration the online part (`train_step` / `calc_loss`) trains
on an online batch; both losses are summed into one optimizer step. To make a new offline
algorithm, copy this file and change `train_step_offline` and `calc_loss_offline`.
"""

import contextlib
import copy
import ctypes
import dataclasses
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils._pytree import tree_leaves, tree_map
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import buffer

# The critics' temporaries on the sampled actions are large ([critics, 3 * n * batch, hidden]: 16 MB at
# the defaults). glibc's malloc hands such blocks back to the system when freed, so every update faults
# them in again; keeping freed blocks for reuse makes the CQL update about 20% faster (same results).
if sys.platform == "linux":
    with contextlib.suppress(OSError):  # not glibc
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MB come from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GB of freed heap


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
    """a run directory to continue from its newest checkpoint, with the flags it was started with
    (flags given now override them, e.g. a larger --num-iterations)"""
    cuda: bool = True
    """train on the GPU when there is one (CleanRL's flag); without one the run is on the CPU and says so"""
    torch_threads: int = 0
    """torch's CPU threads; 0: the cores shared evenly among the trainings of this machine running now
    (all of them when alone; several runs that each use every core slow each other down tens of times)"""

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
    """standardize the observations of actor and critics with the offline data's mean and std, as
    CORL's CQL does (Pendulum's angular velocity spans [-8, 8], the rest [-1, 1]); see the benchmarks
    for what it changes"""

    # conservative Q-learning (defaults: the CQL paper's and CORL's, except cql_alpha)
    cql_alpha: float = 0.2
    """weight of the CQL regularizer. The CQL paper's min_q_weight for MuJoCo is 5.0 (CORL: 10.0), but
    on Pendulum, where one step's action moves Q little, 5.0 makes the policy copy the data's
    action density: on the mixed buffer it scored 36, as BC does (observations not standardized), where
    0.2 scores 95 (3 seeds, quick benchmark); on the expert buffer neither learns (see the benchmarks)"""
    cql_n_actions: int = 10
    """actions sampled per state from each proposal: uniform, the policy at s, the policy at s'"""
    cql_temperature: float = 1.0
    """temperature of the logsumexp over sampled actions"""
    cql_target_action_gap: float = -1.0
    """when positive, cql_alpha is scaled by a Lagrange multiplier tuned so that the gap
    logsumexp Q(s, a') - Q(s, a_data) stays at this value (CQL-Lagrange); off by default"""

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
    """the number of Q-networks in the ensemble (RLPD's num_qs)"""
    num_min_critics: Optional[int] = None
    """the TD target takes the minimum over this many critics drawn at random at every update (RLPD's
    num_min_qs; None: over all of them)"""
    critic_layer_norm: bool = True
    """LayerNorm after each hidden layer of the critics (RLPD, Ball et al. 2023); on Pendulum it keeps
    online and hybrid SAC from falling apart after they first succeed"""
    utd_ratio: int = 1
    """updates per iteration (update-to-data ratio; RLPD uses more than 1)"""
    compile: bool = False
    """torch.compile each part's forward pass and losses (train_step + calc_loss, and the offline pair):
    faster updates after a minute or so of compiling, worth it for long runs; needs a C++ compiler"""
    cudagraphs: bool = False
    """capture each update (forward, backward, Adam step, soft update) in a CUDA graph once and replay it
    (as LeanRL and d3rlpy do), with --compile or without; needs a GPU; not with --num-min-critics"""
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
    checkpoint_interval: int = 5000
    """write a checkpoint every this many iterations (and at the end, and when stopped by Ctrl-C or SIGTERM)"""
    save_buffer: bool = True
    """with every checkpoint, write the online replay buffer as ckpt-<iteration>-replay_buffer (ALF's
    ReplayBuffer enable_checkpoint): --resume restores it, and this run's directory can be another run's
    --offline-buffer-dir. Without it a resumed run starts with an empty replay buffer"""
    keep_all_buffers: bool = False
    """keep every checkpoint's replay buffer file (default: only the newest, so the disk does not fill)"""


def make_env(env_id):
    """A function making the env with its actions rescaled to [-1, 1] (ALF's convention; the buffers
    store them that way)."""
    def thunk():
        env = gym.make(env_id)
        if not isinstance(env.observation_space, gym.spaces.Box) or not isinstance(env.action_space, gym.spaces.Box):
            raise UsageError(f"--env-id {env_id}: needs continuous (Box) observations and actions, "
                             f"has {env.observation_space} and {env.action_space}")
        return gym.wrappers.RescaleAction(env, np.float32(-1), np.float32(1))
    return thunk


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

    def sample(self, obs, n=1):
        """A reparameterized action and its log-probability; n of them per observation (rows i*n to i*n+n-1
        are observation i's), the network evaluated once per observation."""
        mean, log_std = self(obs)
        if n > 1:
            mean, log_std = mean.repeat_interleave(n, 0), log_std.repeat_interleave(n, 0)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_log_prob(u, mean, log_std)

    def act(self, obs):
        """The deterministic action: the mean squashed."""
        return torch.tanh(self(obs)[0])


class ExportedPolicy(nn.Module):
    """What policy.pt holds: observation [B, obs_dim] -> the deterministic action [B, act_dim] in [-1, 1];
    with distribution=True, what policy_distribution.pt holds: observation -> (mean, log_std) of the
    Gaussian whose samples, squashed by tanh, are the policy's actions (collect.py samples them, as
    D4RL's datasets were made)."""

    def __init__(self, actor, distribution=False):
        super().__init__()
        self.actor, self.distribution = actor, distribution

    def forward(self, obs):
        return self.actor(obs) if self.distribution else self.actor.act(obs)


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
        self.log_cql_multiplier = nn.Parameter(torch.zeros(()), requires_grad=args.cql_target_action_gap > 0)

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
        """SAC's forward pass, plus the critics on n sampled actions per state from three proposals
        (uniform, the policy at s, the policy at s'), all in one batched pass."""
        info = self.train_step(batch)
        n, (batch_size, act_dim) = self.args.cql_n_actions, batch.action.shape
        obs = batch.observation.repeat_interleave(n, 0)
        with torch.no_grad():
            uniform = torch.rand(batch_size * n, act_dim, device=batch.action.device) * 2 - 1
            policy_action, policy_log_prob = self.actor.sample(batch.observation, n)
            next_action, next_log_prob = self.actor.sample(batch.next_observation, n)
            uniform_log_prob = torch.full_like(policy_log_prob, -act_dim * math.log(2))
            # importance weights: subtract each proposal's log-density
            log_density = torch.stack([uniform_log_prob, policy_log_prob, next_log_prob]).view(3, batch_size, n)
        q = self.qf(obs.repeat(3, 1), torch.cat([uniform, policy_action, next_action]))
        q = q.view(-1, 3, batch_size, n) - log_density  # [critics, proposal, B, n]
        info["q_sampled"] = q.permute(0, 2, 1, 3).reshape(q.shape[0], batch_size, 3 * n)
        return info

    def calc_loss_offline(self, info: dict):
        """SAC's losses plus alpha * (T logsumexp(Q(s, a') / T) - Q(s, a_data)) for every critic."""
        loss, logs = self.calc_loss(info)
        temperature = self.args.cql_temperature
        pushed_down = temperature * torch.logsumexp(info["q_sampled"] / temperature, dim=-1)
        gap = (pushed_down - info["q"]).mean(1)  # [critics]
        if self.args.cql_target_action_gap > 0:
            multiplier = self.log_cql_multiplier.exp().clamp(max=1e6)
            excess = gap - self.args.cql_target_action_gap
            cql_loss = (multiplier.detach() * self.args.cql_alpha * excess).sum()
            # the multiplier rises while the gap exceeds its target and falls below it
            multiplier_loss = -(multiplier * self.args.cql_alpha * excess.detach()).sum()
        else:
            multiplier = self.log_cql_multiplier.detach().exp()
            cql_loss = self.args.cql_alpha * gap.sum()
            multiplier_loss = 0.0
        logs.update(cql_loss=cql_loss.detach(), cql_gap=gap.mean().detach(), cql_multiplier=multiplier.detach())
        return loss + cql_loss + multiplier_loss, logs

    @torch.no_grad()
    def soft_update(self):
        for target, source in zip(self.qf_target.parameters(), self.qf.parameters()):
            target.lerp_(source, self.args.tau)


def evaluate(policy: Actor, env, episodes: int, seed: int):
    """Mean and std of the return of deterministic episodes; the same seeds at every evaluation."""
    returns, device = [], policy.obs_mean.device
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = policy.act(torch.as_tensor(obs, dtype=torch.float32, device=device)[None])[0].cpu().numpy()
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


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run, which first wrote a checkpoint of the iteration it reached."""

    def __init__(self, signum, iteration, run_dir):
        super().__init__(signum, iteration, run_dir)
        self.signum, self.iteration, self.run_dir = signum, iteration, run_dir


def check_args(args: Args):
    problems = [f"--{name.replace('_', '-')} must be at least {low} (got {getattr(args, name)})"
                for name, low in [("num_envs", 1), ("num_iterations", 1), ("batch_size", 1),
                                  ("rl_train_every_update_steps", 1), ("utd_ratio", 1), ("num_critics", 1),
                                  ("eval_interval", 1), ("log_interval", 1), ("checkpoint_interval", 1),
                                  ("hidden_dim", 1), ("eval_episodes", 1), ("torch_threads", 0),
                                  ("cql_n_actions", 1)]
                if getattr(args, name) < low]
    # "not x > 0" also catches nan
    problems += [f"--{name.replace('_', '-')} must be above 0 (got {getattr(args, name)})"
                 for name in ["alpha", "policy_lr", "q_lr", "cql_temperature"] if not getattr(args, name) > 0]
    if not args.cql_alpha >= 0:
        problems.append(f"--cql-alpha must be at least 0 (got {args.cql_alpha})")
    if not 0 <= args.gamma <= 1:
        problems.append(f"--gamma must be between 0 and 1 (got {args.gamma})")
    if not 0 < args.tau <= 1:
        problems.append(f"--tau must be above 0 and at most 1 (got {args.tau})")
    if args.num_min_critics is not None and not 1 <= args.num_min_critics <= args.num_critics:
        problems.append(f"--num-min-critics must be between 1 and --num-critics {args.num_critics} "
                        f"(got {args.num_min_critics})")
    if args.cudagraphs and args.num_min_critics is not None:  # torch.randperm cannot be captured
        problems.append("--cudagraphs cannot capture --num-min-critics (its random subset); drop one of them")
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


# Trainings on one machine share its cores: each marks itself with a file named by its pid in here.
RUNNING_DIR = Path(tempfile.gettempdir()) / f"hybrid-offline-rl-running-{os.getuid()}"
DEFAULT_TORCH_THREADS = torch.get_num_threads()  # torch's choice: the cores, or OMP_NUM_THREADS


@contextlib.contextmanager
def training_process():
    """While training, this process is marked as a running training (see shared_torch_threads), and
    SIGINT (Ctrl-C) and SIGTERM only append to the list yielded, which the loop reads after every
    iteration to checkpoint and stop cleanly. A second signal stops at once."""
    stop_requests = []

    def request_stop(signum, frame):
        if stop_requests:
            raise KeyboardInterrupt
        stop_requests.append(signum)

    RUNNING_DIR.mkdir(exist_ok=True)
    marker = RUNNING_DIR / str(os.getpid())
    marker.touch()
    in_main_thread = threading.current_thread() is threading.main_thread()  # where handlers can be set
    previous = {signum: signal.signal(signum, request_stop)
                for signum in ([signal.SIGINT, signal.SIGTERM] if in_main_thread else [])}
    try:
        yield stop_requests
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        marker.unlink(missing_ok=True)


def shared_torch_threads(args: Args) -> int:
    """--torch-threads, or torch's default divided by the number of trainings running now: runs side
    by side that each use every core spin against each other and become tens of times slower."""
    if args.torch_threads:
        return args.torch_threads
    running = 0
    for marker in RUNNING_DIR.glob("*"):
        try:
            os.kill(int(marker.name), 0)  # signal 0 only asks whether the process exists
            running += 1
        except ProcessLookupError:  # killed before it could remove its marker
            marker.unlink(missing_ok=True)
        except (ValueError, PermissionError):
            pass
    return max(1, DEFAULT_TORCH_THREADS // max(running, 1))


def choose_device(args: Args, offline) -> tuple:
    """The device, and a note on it for the first line. On a GPU the offline data is copied there when
    it takes at most half the free memory (CORL keeps it there); else batches are copied from the host."""
    if not (args.cuda and torch.cuda.is_available()):
        if args.cudagraphs:
            raise UsageError("--cudagraphs needs a GPU, and this run is on the CPU ("
                             + ("no GPU found" if args.cuda else "--no-cuda") + "); leave --cudagraphs out")
        return torch.device("cpu"), "device: cpu" + (" (no GPU found)" if args.cuda else "")
    device = torch.device("cuda")
    if offline is None:
        return device, "device: cuda"
    if offline.nbytes() <= torch.cuda.mem_get_info(device)[0] // 2:
        offline.to(device)
        return device, "device: cuda (offline data on the GPU)"
    return device, "device: cuda (offline data in host memory)"


def make_update(agent: Agent, optimizer, online_loss, offline_loss, cudagraphs: bool):
    """update(offline_batch, online_batch) -> logs: one optimizer step on the sum of the parts' losses (a
    batch None: that part does not train now). With cudagraphs each combination of parts is captured in a
    CUDA graph at its first call and replayed from then on, the batches copied into the graph's inputs."""
    def step(offline_batch, online_batch):
        loss, logs = 0.0, {}
        if offline_batch is not None:
            loss_offline, logs_offline = offline_loss(offline_batch)
            loss = loss + loss_offline
            logs.update({f"{k}_offline": v for k, v in logs_offline.items()})
        if online_batch is not None:
            loss_online, logs_online = online_loss(online_batch)
            loss = loss + loss_online
            logs.update(logs_online)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        agent.soft_update()  # here every update trains a critic, offline or online
        return logs

    graphs = {}  # (offline part?, online part?) -> (graph, its input batches, its output logs)

    def replay(*batches):
        key = tuple(batch is not None for batch in batches)
        if key not in graphs:
            graphs[key] = capture(step, agent, optimizer, batches)
        graph, inputs, logs = graphs[key]
        for static, batch in zip(inputs, batches):
            for to, source in zip(tree_leaves(static), tree_leaves(batch)):
                to.copy_(source)
        graph.replay()
        return logs
    return replay if cudagraphs else step


def capture(step, agent: Agent, optimizer, batches):
    """step(*batches) captured in a CUDA graph, as torch's documentation does it: warm-up calls on a side
    stream, then the capture. The warm-up's updates are undone in place (graphs captured before hold these
    tensors' addresses), so that no step is taken twice; Adam's state made by it is zeroed, as Adam makes it."""
    def live_tensors():
        return (list(agent.state_dict(keep_vars=True).values())
                + [t for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t)])
    inputs = [None if batch is None else tree_map(torch.clone, batch) for batch in batches]
    before = {id(t): t.detach().clone() for t in live_tensors()}
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step(*inputs)
    torch.cuda.current_stream().wait_stream(stream)
    with torch.no_grad():
        for t in live_tensors():
            if id(t) in before:
                t.copy_(before[id(t)])
            else:  # Adam's state, made by the warm-up: zeros, as Adam starts it
                t.zero_()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        logs = step(*inputs)
    return graph, inputs, logs


def save_checkpoint(run_dir: Path, iteration: int, env_steps: int, agent: Agent, optimizer, rb, buffer_meta):
    """ckpt-<iteration> (what --resume restores), the replay buffer beside it, and the policy. Each file
    is written to a temporary name and renamed; the buffer before the checkpoint that refers to it."""
    args = agent.args
    ckpt_dir = run_dir / "train" / "algorithm"
    buffer_file = ckpt_dir / f"ckpt-{iteration}-replay_buffer"
    if args.save_buffer and rb.pos > 0:
        rb.save(buffer_file, buffer_meta)
    # the loop draws its randomness from torch only (the envs are seeded when they reset)
    state = {"agent": agent.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration,
             "env_steps": env_steps, "replay_buffer_rows": rb.pos * rb.num_envs, "torch_rng": torch.get_rng_state(),
             "args": dataclasses.asdict(args)}
    if rb.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(rb.device)
    buffer.atomic_save(state, ckpt_dir / f"ckpt-{iteration}")
    if not args.keep_all_buffers and buffer_file.exists():
        for older in ckpt_dir.glob("ckpt-*-replay_buffer"):
            if older != buffer_file:
                older.unlink()
    actor = copy.deepcopy(agent.actor).cpu()  # a file that runs without a GPU
    example = (torch.zeros(2, actor.obs_mean.shape[0]),)
    for name, distribution in (("policy.pt", False), ("policy_distribution.pt", True)):
        program = torch.export.export(ExportedPolicy(actor, distribution).eval(), example,
                                      dynamic_shapes=({0: torch.export.Dim("batch")},))
        buffer.atomic_save(program, run_dir / name, save=torch.export.save)


def load_checkpoint(run_dir: Path, agent: Agent, optimizer, rb):
    """Restore the newest ckpt-<iteration> and its replay buffer; return (iteration, env_steps). Says
    once what a resumed run cannot restore."""
    args = agent.args
    found = checkpoint_paths(run_dir)
    if not found:
        raise UsageError(f"{run_dir}: no checkpoint ckpt-<iteration> under train/algorithm/ to resume from")
    iteration = max(found)
    ckpt_file = found[iteration]
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
    if "cuda_rng" in ckpt and rb.device.type == "cuda":  # a GPU run resumed on the CPU does without it
        torch.cuda.set_rng_state(ckpt["cuda_rng"], rb.device)
    for stale in run_dir.rglob("*.tmp"):  # left by a run killed while writing
        stale.unlink()
    eval_log = run_dir / "eval.jsonl"
    if eval_log.exists():  # evaluations after the checkpoint are done again
        kept = [line for line in eval_log.read_text().splitlines() if json.loads(line)["iteration"] <= iteration]
        buffer.atomic_save("".join(line + "\n" for line in kept).encode(), eval_log, save=lambda data, f: f.write(data))

    rows = ckpt.get("replay_buffer_rows", 0)
    buffer_file = run_dir / "train" / "algorithm" / f"ckpt-{iteration}-replay_buffer"
    lost = []
    if buffer_file.exists():
        rb.load_state_dict(buffer.load_checkpoint(buffer_file), buffer_file)
        rb.end_episodes()  # the envs restart: no transition may join the old and the new episode
    elif rows:
        lost.append(f"its replay buffer ({rows:,} rows; {buffer_file.name} is missing, e.g. --no-save-buffer): "
                    f"the online part starts again from an empty buffer")
    if ckpt["env_steps"]:
        lost.append("the envs' episodes in progress: they start anew")
    print(f"resumed from {ckpt_file} (iteration {iteration:,}, {ckpt['env_steps']:,} env steps, "
          f"{rb.pos * rb.num_envs:,} replay-buffer rows)" + "".join(f"; not restored: {x}" for x in lost), flush=True)
    return iteration, ckpt["env_steps"]


def print_summary(run_dir: Path, iteration: int, env_steps: int, seconds: float, last_eval: dict):
    score = last_eval["normalized_score"]
    files = [p for p in ("eval.jsonl", "policy.pt", f"train/algorithm/ckpt-{iteration}",
                         f"train/algorithm/ckpt-{iteration}-replay_buffer") if (run_dir / p).exists()]
    print(f"done: {iteration:,} iterations, {env_steps:,} env steps in {seconds / 60:.1f} min\nfinal evaluation: "
          f"return {last_eval['return_mean']:.1f} ± {last_eval['return_std']:.1f}, normalized score "
          f"{'none' if score is None else f'{score:.1f}'}\nfiles in {run_dir}: {', '.join(files)}\n"
          f"TensorBoard: tensorboard --logdir {run_dir}", flush=True)


def train(args: Args):
    check_args(args)
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = Path(args.resume or args.run_dir or f"runs/{run_name}")
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
    obs_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))

    offline = None
    if args.offline_buffer_dir:
        offline = buffer.load_offline_buffer(args.offline_buffer_dir, args.offline_buffer_length)
        offline.check_spaces(obs_space, act_space, args.env_id)
    reference_returns, reference_source = buffer.reference_returns(args.env_id, offline and offline.meta)
    device, device_note = choose_device(args, offline)
    agent = Agent(obs_dim, act_dim, args).to(device)
    if offline is not None and args.normalize_observations:
        obs_mean, obs_std = offline.observation_mean_std()
        for net in (agent.actor, agent.qf, agent.qf_target):
            net.obs_mean.copy_(obs_mean)
            net.obs_std.copy_(obs_std)
    optimizer = torch.optim.Adam([
        {"params": agent.actor.parameters(), "lr": args.policy_lr},
        {"params": list(agent.qf.parameters()) + [agent.log_alpha, agent.log_cql_multiplier], "lr": args.q_lr}],
        fused=True, capturable=args.cudagraphs)
    # each part's forward pass and losses, as the loop calls them (the Adam step is fused already)
    def online_loss(batch):
        return agent.calc_loss(agent.train_step(batch))

    def offline_loss(batch):
        return agent.calc_loss_offline(agent.train_step_offline(batch))

    if args.compile:
        online_loss, offline_loss = torch.compile(online_loss), torch.compile(offline_loss)
    update = make_update(agent, optimizer, online_loss, offline_loss, args.cudagraphs)
    rb = buffer.ReplayBuffer(args.num_envs, args.buffer_size // args.num_envs, obs_space, act_space, device)
    buffer_meta = buffer.make_meta(args.env_id, obs_space, act_space, f"replay buffer of {run_dir}",
                                   reference_returns=reference_returns)

    with training_process() as stop_requests:
        torch.set_num_threads(shared_torch_threads(args))
        print(f"run directory: {run_dir}; {device_note}, {torch.get_num_threads()} torch threads; "
              f"normalized scores: {reference_source}", flush=True)
        start_iteration, env_steps = load_checkpoint(run_dir, agent, optimizer, rb) if args.resume else (0, 0)
        writer = SummaryWriter(str(run_dir))
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" +
                        "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items()))
        obs, _ = envs.reset(seed=args.seed + start_iteration)
        reward = np.zeros(args.num_envs)
        terminated = truncated = np.zeros(args.num_envs, dtype=bool)
        status, logs, last_eval = {}, {}, None  # the progress bar's SPS and last eval return
        start_time, start_env_steps = time.time(), env_steps
        progress = tqdm(range(start_iteration, args.num_iterations), initial=start_iteration,
                        total=args.num_iterations, mininterval=2)
        for iteration in progress:
            done = iteration + 1  # iterations done at the end of this one: the x-axis of every scalar
            # unroll: one step of every env, its rows into the online buffer
            online_phase = iteration >= args.rl_train_after_update_steps
            if online_phase:
                if offline is None and rb.size * args.num_envs < args.learning_starts:
                    action = torch.rand(args.num_envs, act_dim) * 2 - 1
                else:
                    with torch.no_grad():
                        action = agent.actor.sample(torch.as_tensor(obs, dtype=torch.float32, device=device))[0]
                action = action.cpu().numpy()
                rb.add(obs, action, reward, terminated, truncated)
                obs, reward, terminated, truncated, infos = envs.step(action)
                env_steps += args.num_envs
                if "episode" in infos:
                    for r in infos["episode"]["r"][infos["_episode"]]:
                        writer.add_scalar("charts/episodic_return", r, done)

            # train: the offline part every iteration, the online part every k-th once it has data
            rl_train = (online_phase and iteration % args.rl_train_every_update_steps == 0
                        and rb.size * args.num_envs >= args.learning_starts)
            if offline is not None or rl_train:
                for _ in range(args.utd_ratio):
                    logs.update(update(offline.sample(args.batch_size).to(device) if offline is not None else None,
                                       rb.sample(args.batch_size) if rl_train else None))

            if done % args.log_interval == 0:
                for key, value in logs.items():
                    writer.add_scalar(f"losses/{key}", value.item(), done)
                seconds = time.time() - start_time
                writer.add_scalar("charts/iterations_per_second", (done - start_iteration) / seconds, done)
                if env_steps > start_env_steps:  # CleanRL's SPS: env steps per second
                    status["SPS"] = f"{(env_steps - start_env_steps) / seconds:.0f}"
                    writer.add_scalar("charts/SPS", (env_steps - start_env_steps) / seconds, done)
                progress.set_postfix(status, refresh=False)
                torch.set_num_threads(shared_torch_threads(args))  # other trainings may have started or ended
            if done % args.eval_interval == 0 or done == args.num_iterations:
                mean, std = evaluate(agent.actor, eval_env, args.eval_episodes, args.seed + 1_000_000)
                score = buffer.normalized_score(mean, {"reference_returns": reference_returns})
                writer.add_scalar("eval/return_mean", mean, done)
                if score is not None:
                    writer.add_scalar("eval/normalized_score", score, done)
                last_eval = {"iteration": done, "env_steps": env_steps, "return_mean": mean, "return_std": std,
                             "normalized_score": score}
                with open(run_dir / "eval.jsonl", "a") as f:
                    f.write(json.dumps(last_eval) + "\n")
                status["eval"] = f"{mean:.1f}"
                progress.set_postfix(status, refresh=False)
            if done % args.checkpoint_interval == 0 or done == args.num_iterations or stop_requests:
                save_checkpoint(run_dir, done, env_steps, agent, optimizer, rb, buffer_meta)
            if stop_requests:
                progress.close()
                writer.close()  # flushes the events written since the last flush
                raise Interrupted(stop_requests[0], done, run_dir)

    progress.close()
    envs.close()
    writer.close()
    if last_eval is not None:
        print_summary(run_dir, args.num_iterations, env_steps, time.time() - start_time, last_eval)
    return agent, run_dir


def parse_args(argv=None) -> Args:
    """The command line; with --resume, the stopped run's flags are the defaults (flags given now win)."""
    args = tyro.cli(Args, args=argv)
    found = checkpoint_paths(Path(args.resume)) if args.resume else {}
    if found:
        saved = buffer.load_checkpoint(found[max(found)])
        if isinstance(saved, dict) and isinstance(saved.get("args"), dict):
            known = {field.name for field in dataclasses.fields(Args)}
            defaults = Args(**{k: v for k, v in saved["args"].items() if k in known})
            args = tyro.cli(Args, args=argv, default=defaults)
    return args


def main(argv=None):
    try:
        train(parse_args(argv))
    except (buffer.BufferError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as e:
        print(f"stopped by {signal.Signals(e.signum).name} after iteration {e.iteration:,}, checkpoint written; "
              f"to continue: python {os.path.basename(__file__)} --resume {e.run_dir}", file=sys.stderr)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:  # before the loop, or a second Ctrl-C while stopping
        print("error: interrupted before a checkpoint could be written; --resume continues from the newest "
              "complete one, if any", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
