"""Make offline buffers (ALF's replay-buffer format, see buffer.py) from a scripted expert, uniform
random actions, a saved policy or a Minari dataset (local, or downloaded with --download).

    python collect.py --env-id Pendulum-v1 --source scripted --num-steps 10000 --output data/x/ckpt-10000-replay_buffer
    python collect.py --source scripted --random-fraction 0.5 --action-noise 0.3 ...   # a "medium"/mixed dataset
    python collect.py --source policy --policy runs/RUN/policy.pt ...                  # a trained policy
    python collect.py --source policy --policy runs/RUN/policy_distribution.pt ...     # its sampled actions (D4RL)
    python collect.py --source minari --dataset DATASET_ID_OR_DIR ...                  # convert a local Minari dataset
    python collect.py --source minari --dataset mujoco/hopper/medium-v0 --download ... # download it if not local
    python collect.py ... --to-minari pendulum/expert-v0                               # also write a Minari dataset

Every env is wrapped in `RescaleAction(env, -1, 1)`: scripted experts, policies and the stored actions
all live in [-1, 1]. "meta" records the env, its spaces, the source, the collection settings and the
reference returns of uniform-random actions and of an expert (for D4RL-style normalized scores;
a Minari dataset's own ref_min_score and ref_max_score where it has them).
"""

import contextlib
import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional

import gymnasium as gym
import minari
import numpy as np
import torch
import tyro
from gymnasium.envs.registration import parse_env_id
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_dataset import parse_dataset_id
from minari.storage.datasets_root_dir import get_dataset_path
from tqdm import tqdm

import buffer
from buffer import FIRST, LAST, MID, BufferError


@dataclass(kw_only=True)
class Args:
    env_id: str = "Pendulum-v1"
    """the Gymnasium env id (continuous actions); the data is collected in, or must fit, this env"""
    source: Literal["scripted", "random", "policy", "minari"] = "scripted"
    """where the actions come from: a rule-based expert (Pendulum-v1, MountainCarContinuous-v0), uniform random
    actions, a policy.pt (--policy), or a local Minari dataset to convert (--dataset)"""
    output: str
    """the buffer file to write, e.g. data/NAME/ckpt-10000-replay_buffer"""
    num_steps: int = 10000
    """env steps to collect (rows in the buffer, rounded up to a multiple of --num-envs); not used by minari"""
    num_envs: int = 1
    """parallel envs (gymnasium SyncVectorEnv); the buffer holds num_steps / num_envs rows per env"""
    seed: int = 1
    """seeds the envs, the random actions and the noise: the same seed writes the same tensors"""
    policy: Optional[str] = None
    """--source policy: a program written by torch.export.save mapping float32 observations [B, *obs_shape] to
    deterministic actions [B, *act_shape] in [-1, 1] (a run's policy.pt), or to the (mean, log_std) of a Gaussian
    whose samples squashed by tanh are the actions (a run's policy_distribution.pt: the actions are sampled, as
    D4RL's datasets were)"""
    dataset: Optional[str] = None
    """--source minari: a local Minari dataset directory, or a dataset id under the Minari root, e.g.
    mujoco/hopper/medium-v0 (downloaded only with --download)"""
    download: bool = False
    """--source minari: fetch a --dataset id that is not under the Minari root from the Minari server
    (minari.download_dataset, needs the network), then convert it"""
    action_noise: float = 0.0
    """std of Gaussian noise added to the source's actions (in the [-1, 1] scale, then clipped)"""
    random_fraction: float = 0.0
    """the fraction of episodes played with uniform random actions instead of the source (exact, interleaved)"""
    reference_episodes: int = 50
    """episodes over which the reference returns of random actions and of the expert are measured"""
    to_minari: Optional[str] = None
    """also write the complete episodes as a local Minari dataset with this id, e.g. pendulum/expert-v0"""
    minari_root: Optional[str] = None
    """the Minari datasets root for --dataset ids and --to-minari (None: $MINARI_DATASETS_PATH or ~/.minari/datasets)"""


class CollectError(ValueError):
    """Bad input to collect.py: the message says which input and what was expected."""


REFERENCE_SEED_OFFSET = 1_000_000  # reference episodes start from other states than the collected ones
Act = Callable[[np.ndarray], np.ndarray]  # observations [E, *obs_shape] -> actions [E, *act_shape] in [-1, 1]


# ---------------------------------------------------------------------------------------------
# Scripted experts (actions in [-1, 1])


def pendulum_expert(obs: np.ndarray) -> np.ndarray:
    """Swing up by pumping energy with full torque, balance within 0.5 rad of the top with an LQR gain.

    theta'' = 15 sin(theta) + 3 torque (theta = 0 upright), so H = theta'^2 / 2 + 15 cos(theta) is 15 at rest
    upright and dH/dt = 3 torque theta': full torque along theta' pumps H up as fast as possible. The gain
    [19.7, 5.3] is the discrete-time LQR of the linearized pendulum (dt 0.05) with the env's cost weights
    theta^2 + 0.1 theta'^2 + 0.001 torque^2."""
    cos, sin, speed = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(sin, cos)
    energy = 0.5 * speed**2 + 15.0 * cos
    pump = np.sign(15.0 - energy) * np.where(speed >= 0, 1.0, -1.0)
    balance = -(19.7 * theta + 5.3 * speed) / 2.0  # torque = 2 * action
    return np.clip(np.where(cos > math.cos(0.5), balance, pump), -1, 1)[:, None].astype(np.float32)


def mountain_car_expert(obs: np.ndarray) -> np.ndarray:
    """Push along the velocity: every swing adds energy until the car climbs to the flag."""
    return np.where(obs[:, 1:2] >= 0, 1.0, -1.0).astype(np.float32)


EXPERTS = {"Pendulum-v1": pendulum_expert, "MountainCarContinuous-v0": mountain_car_expert}


# ---------------------------------------------------------------------------------------------
# Envs, policies, rollouts


def bounded_box(space) -> bool:
    return isinstance(space, gym.spaces.Box) and bool(np.isfinite(space.low).all() and np.isfinite(space.high).all())


def make_envs(env_id: str, num_envs: int) -> gym.vector.SyncVectorEnv:
    try:
        spec = gym.spec(env_id)
        probe = gym.make(spec)
    except gym.error.Error as e:  # not registered, or a dependency is not installed
        # a missing dependency's message says what to pip install, maybe after its first sentence: keep the line
        why = reason(e, whole_line=isinstance(e, gym.error.DependencyNotInstalled))
        raise CollectError(f"--env-id {env_id}: cannot make this Gymnasium env ({why})") from None
    action_space = probe.action_space
    probe.close()
    if not bounded_box(action_space):
        raise CollectError(f"--env-id {env_id}: action space {action_space} is not a bounded Box "
                           f"(continuous actions that rescale to [-1, 1])")

    def make():
        return gym.wrappers.RescaleAction(gym.make(spec), -1, 1)

    return gym.vector.SyncVectorEnv([make] * num_envs)


def reason(e: Exception, whole_line: bool = False) -> str:
    """The first sentence (or the whole first line) of an exception's message, for a one-line error."""
    line = (str(e).splitlines() or [type(e).__name__])[0]
    return line if whole_line else line.split(". ")[0]


def load_policy(path: str, envs, seed: int) -> Act:
    """A policy.pt or policy_distribution.pt written by torch.export.save, checked against the env's
    observation and action shapes; a distribution's actions are sampled (seeded)."""
    if not isinstance(envs.single_observation_space, gym.spaces.Box):
        raise CollectError(f"--policy {path}: a policy takes one observation tensor; "
                           f"the env's observation space is {envs.single_observation_space}")
    if not Path(path).is_file():
        raise CollectError(f"--policy {path}: no such file (expected a policy.pt written by torch.export.save)")
    logging.getLogger("torch.export").setLevel(logging.CRITICAL)  # it logs tracebacks before raising
    try:
        with open(path, "rb") as f:
            module = torch.export.load(f).module()
    except Exception as e:  # torch raises many kinds here (zip, pickle, version errors)
        raise CollectError(f"--policy {path}: not a program saved by torch.export.save ({reason(e)})") from None
    obs_shape, act_shape = envs.single_observation_space.shape, envs.single_action_space.shape
    probe = torch.zeros(envs.num_envs, *obs_shape)
    try:
        with torch.no_grad():
            out = module(probe)
    except Exception as e:  # a guard failure of the exported program: wrong input shape or batch size
        raise CollectError(f"--policy {path}: does not take observations of shape {list(probe.shape)} "
                           f"({reason(e)})") from None
    distribution = isinstance(out, tuple) and len(out) == 2  # (mean, log_std)
    for x in out if distribution else [out]:
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (envs.num_envs, *act_shape):
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise CollectError(f"--policy {path}: returns actions of shape {shape}, "
                               f"the env's are {[envs.num_envs, *act_shape]}")
    generator = torch.Generator().manual_seed(seed)

    def act(obs):
        with torch.no_grad():
            out = module(torch.as_tensor(obs, dtype=torch.float32))
            if distribution:
                mean, log_std = out
                out = torch.tanh(mean + log_std.exp() * torch.randn(mean.shape, generator=generator))
            return out.numpy()
    return act


def play(envs, act: Optional[Act], seed: int, *, rb: Optional[buffer.ReplayBuffer] = None,
         episodes_per_env: Optional[int] = None, random_fraction: float = 0.0, action_noise: float = 0.0,
         desc: str = "") -> tuple[list, int]:
    """Step the envs until `rb` is full (adding a row per env and step) or every env has finished
    `episodes_per_env` episodes. Episode k (counted in order of their starts) is played with uniform
    random actions if floor((k+1) p) > floor(k p), p = random_fraction; the others with `act` plus
    noise. Returns the returns of the complete episodes and how many of them were random."""
    num_envs, act_shape = envs.num_envs, envs.single_action_space.shape
    rng = np.random.default_rng(seed)
    obs, _ = envs.reset(seed=seed)
    reward, terminated, truncated = np.zeros(num_envs), np.zeros(num_envs, bool), np.zeros(num_envs, bool)
    starting, is_random = np.ones(num_envs, bool), np.zeros(num_envs, bool)
    running, returns, num_random, started = np.zeros(num_envs), [[] for _ in range(num_envs)], 0, 0
    total = (rb.capacity if rb else episodes_per_env) * num_envs
    bar = tqdm(total=total, desc=desc, unit="step" if rb else "episode")
    while True:
        # the outcome of the previous step: the row added now is LAST if the episode ended there
        running += reward
        done = terminated | truncated
        for e in np.flatnonzero(done):
            if episodes_per_env is None or len(returns[e]) < episodes_per_env:
                returns[e].append(float(running[e]))
                num_random += int(is_random[e])
                if rb is None:
                    bar.update(1)
        running[done] = 0.0
        if episodes_per_env is not None and min(map(len, returns)) >= episodes_per_env:
            break
        for e in np.flatnonzero(starting):
            is_random[e] = math.floor((started + 1) * random_fraction) > math.floor(started * random_fraction)
            started += 1
        action = rng.uniform(-1, 1, (num_envs, *act_shape))
        noise = rng.normal(0.0, 1.0, (num_envs, *act_shape)) * action_noise
        if act is not None and not is_random.all():
            chosen = np.clip(act(obs) + noise, -1, 1)
            action = np.where(is_random.reshape(-1, *[1] * len(act_shape)), action, chosen)
        action = action.astype(np.float32)
        if rb is not None:
            rb.add(obs, action, reward, terminated, truncated)
            bar.update(num_envs)
            if rb.pos == rb.capacity:
                break
        obs, reward, terminated, truncated, _ = envs.step(action)
        starting = done  # the step after an episode's end (autoreset) returns the next episode's first observation
    bar.close()
    return [r for env_returns in returns for r in env_returns], num_random


def mean_return(envs, act: Optional[Act], episodes: int, seed: int, desc: str = "") -> float:
    """The mean return of `act` (uniform random actions if None) over about `episodes` episodes."""
    returns, _ = play(envs, act, seed, episodes_per_env=math.ceil(episodes / envs.num_envs),
                      random_fraction=1.0 if act is None else 0.0, desc=desc)
    return float(np.mean(returns))


# ---------------------------------------------------------------------------------------------
# Minari datasets


@contextlib.contextmanager
def minari_root(root: Optional[str]):
    """Point Minari at `root` (it reads MINARI_DATASETS_PATH on every call) for the duration."""
    if root is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def center_and_half_range(space):
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    return (high + low) / 2, (high - low) / 2  # exact scaling for symmetric spaces: Pendulum's is a * 2


def to_unit(action, space):
    """Actions in the env's Box `space` -> [-1, 1]."""
    center, half = center_and_half_range(space)
    return np.clip((np.asarray(action, np.float64) - center) / half, -1, 1).astype(np.float32)


def from_unit(action, space):
    """Actions in [-1, 1] -> the env's Box `space`."""
    center, half = center_and_half_range(space)
    return (center + np.asarray(action, np.float64) * half).astype(space.dtype)


def check_minari_id(flag: str, name: str):
    try:
        parse_dataset_id(name)
    except (ValueError, TypeError):  # TypeError: Minari's parser fails so on an id without -v<version>
        raise CollectError(f"--{flag} {name}: not a Minari dataset id ((namespace/)name-v<version>, "
                           f"e.g. mujoco/hopper/medium-v0)") from None


def find_minari(dataset: str, download: bool) -> Path:
    """The data directory of a Minari dataset: `dataset` is a directory, or an id under the Minari root
    (fetched from the Minari server first if it is not there and `download`)."""
    for path in [Path(dataset), Path(dataset) / "data"]:
        if (path / "metadata.json").is_file():
            return path
    check_minari_id("dataset", dataset)
    path = get_dataset_path(dataset) / "data"
    if not (path / "metadata.json").is_file():
        if not download:
            raise CollectError(f"--dataset {dataset}: not in the local Minari root {get_dataset_path()} (--download "
                               f"fetches it from the Minari server; --minari-root or MINARI_DATASETS_PATH sets "
                               f"the root)")
        print(f"downloading {dataset} from the Minari server")
        # huggingface_hub warns on each of its 5 retries (about 25 s without a network): the error line says it all
        from huggingface_hub.utils import logging as hf_logging  # its import sets its level: import it first
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            minari.download_dataset(dataset)
        except Exception as e:  # Minari's ValueError (no such remote dataset), and whatever the network library raises
            raise CollectError(f"--dataset {dataset}: could not be downloaded ({reason(e, whole_line=True)})") from None
        finally:
            hf_logging.set_verbosity(verbosity)
    return path


def open_minari(dataset: str, download: bool, env_id: str, env_action_space, envs):
    """A Minari dataset (see find_minari) made in --env-id (any version) whose spaces fit the env."""
    path = find_minari(dataset, download)
    try:
        data = minari.MinariDataset(path)
    except (OSError, ValueError, KeyError) as e:
        raise CollectError(f"--dataset {dataset}: cannot read the Minari dataset at {path} ({reason(e)})") from None
    if data.total_episodes == 0:
        raise CollectError(f"--dataset {dataset}: the Minari dataset at {path} holds no episode")
    # another version of the same env may do (Hopper-v4 data in Hopper-v5): its spaces are checked below
    if data.env_spec is not None and parse_env_id(data.env_spec.id)[:2] != parse_env_id(env_id)[:2]:
        raise CollectError(f"--dataset {dataset}: made in {data.env_spec.id}, not in --env-id {env_id}")
    for what, theirs, ours in [("observation", data.observation_space, envs.single_observation_space),
                               ("action", data.action_space, env_action_space)]:
        if type(theirs) is not type(ours) or buffer.space_shape(theirs) != buffer.space_shape(ours) or \
                what == "action" and not bounded_box(theirs):
            raise CollectError(f"--dataset {dataset}: {what} space {theirs} does not fit --env-id {env_id}'s {ours}")
    return data


def minari_to_buffer(data, envs) -> tuple[buffer.ReplayBuffer, list]:
    """All episodes, one after another, in one env's rows: per episode the first observation as FIRST
    (reward 0), then each step's next observation with its reward, LAST at the last step (discount 0
    if terminated there). The action of a row is the one taken there; zero at LAST rows. Returns the
    buffer and the episodes' returns."""
    episodes = list(data.iterate_episodes())
    columns = {"step_type": [], "reward": [], "discount": [], "action": [], "prev_action": []}
    for ep in episodes:
        steps = len(ep.rewards)
        action = to_unit(np.asarray(ep.actions), data.action_space).reshape(steps, -1)
        zero = np.zeros_like(action[:1])
        columns["step_type"].append([FIRST] + [MID] * (steps - 1) + [LAST])
        columns["reward"].append(np.r_[0.0, ep.rewards])
        columns["discount"].append(np.r_[1.0, 1.0 - np.asarray(ep.terminations, dtype=np.float64)])
        columns["action"].append(np.concatenate([action, zero]))
        columns["prev_action"].append(np.concatenate([zero, action]))
    rows = sum(len(ep.rewards) + 1 for ep in episodes)
    rb = buffer.ReplayBuffer(1, rows, envs.single_observation_space, envs.single_action_space)
    for name, parts in columns.items():
        stored = getattr(rb, name)
        stored[0] = torch.as_tensor(np.concatenate(parts)).reshape(stored[0].shape).to(stored.dtype)
    buffer.tree_map_many(lambda stored, *parts: stored[0].copy_(torch.as_tensor(np.concatenate(parts))),
                         [rb.observation, *(ep.observations for ep in episodes)])
    rb.pos = rows
    return rb, [float(np.sum(ep.rewards)) for ep in episodes]


def minari_reference_returns(data) -> dict:
    """The dataset's ref_min_score and ref_max_score as this project's reference returns (random, expert)."""
    metadata = data.storage.metadata
    return {key: float(metadata[name]) for key, name in [("random", "ref_min_score"), ("expert", "ref_max_score")]
            if metadata.get(name) is not None}


def complete_episodes(f) -> tuple[list, int]:
    """The row indices of the complete episodes (FIRST ... LAST) of a loaded buffer file, in ring
    order, and how many incomplete pieces (cut off at either end of the data) were left out."""
    episodes, skipped = [], 0
    for env in range(len(f.ring_rows)):
        rows = f.ring_rows[env][f.held[env]].numpy()
        st = f.rows.step_type[rows].numpy()
        starts = np.flatnonzero((st == FIRST) | np.r_[False, st[:-1] == LAST])
        skipped += int(len(st) > 0 and (len(starts) == 0 or starts[0] > 0))  # a piece before the first FIRST
        for s, e in zip(starts, np.r_[starts[1:], len(st)]):
            if st[s] == FIRST and st[e - 1] == LAST and e - s >= 2:
                episodes.append(rows[s:e])
            else:
                skipped += 1
    return episodes, skipped


def buffer_to_minari(path: str, name: str, env_id: str, env_action_space, meta: dict) -> tuple[int, int]:
    """Write the complete episodes of a buffer file as a local Minari dataset, actions in the env's own space."""
    f = buffer.load_offline_buffer(path).files[0]
    episodes, skipped = complete_episodes(f)

    def as_numpy(x, rows):
        return x[torch.as_tensor(rows)].numpy()

    minari_episodes = []
    for i, rows in enumerate(episodes):
        terminations = as_numpy(f.rows.discount, rows[1:]) == 0
        truncations = np.zeros_like(terminations)
        truncations[-1] = not terminations[-1]
        minari_episodes.append(EpisodeBuffer(
            id=i, observations=buffer.tree_map(lambda x: as_numpy(x, rows), f.rows.observation),
            actions=from_unit(as_numpy(f.rows.action, rows[:-1]), env_action_space),
            rewards=as_numpy(f.rows.reward, rows[1:]), terminations=terminations, truncations=truncations))
    refs = meta.get("reference_returns", {})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(is set to None|env_spec is None)")  # author, permalink
        minari.create_dataset_from_buffers(
            name, minari_episodes, env=env_id, algorithm_name=f"collect.py --source {meta['source']}",
            description=f"converted from the offline buffer {path}", ref_min_score=refs.get("random"),
            ref_max_score=refs.get("expert"), num_episodes_average_score=meta.get("reference_episodes", 0))
    return len(episodes), skipped


def check_new_minari_id(name: str):
    check_minari_id("to-minari", name)
    if get_dataset_path(name).exists():
        raise CollectError(f"--to-minari {name}: a Minari dataset {get_dataset_path(name)} already exists")


# ---------------------------------------------------------------------------------------------
# Main


def check_args(args: Args):
    needs = {"policy": ("policy", args.policy), "minari": ("dataset", args.dataset)}.get(args.source)
    if needs and needs[1] is None:
        raise CollectError(f"--source {args.source} needs --{needs[0]}")
    if args.download and args.source != "minari":
        raise CollectError("--download applies to --source minari")
    if args.source == "minari" and (args.action_noise or args.random_fraction):
        raise CollectError("--action-noise and --random-fraction apply to collected data, not to --source minari")
    if args.source == "scripted" and args.env_id not in EXPERTS:
        raise CollectError(f"--env-id {args.env_id}: no scripted expert; there is one for "
                           f"{', '.join(sorted(EXPERTS))}")
    for flag, ok in [("num-steps", args.num_steps >= 2), ("num-envs", args.num_envs >= 1),
                     ("reference-episodes", args.reference_episodes >= 1), ("action-noise", args.action_noise >= 0),
                     ("random-fraction", 0 <= args.random_fraction <= 1)]:
        if not ok:
            raise CollectError(f"--{flag} {getattr(args, flag.replace('-', '_'))}: out of range")


def collect(args: Args) -> dict:
    """Collect (or convert) the data, write the buffer file (and the Minari dataset); return its meta."""
    check_args(args)
    if args.to_minari:
        check_new_minari_id(args.to_minari)
    envs = make_envs(args.env_id, args.num_envs)
    env_action_space = envs.envs[0].env.action_space  # the space inside RescaleAction
    act = (EXPERTS[args.env_id] if args.source == "scripted" else
           load_policy(args.policy, envs, args.seed) if args.source == "policy" else None)
    if args.source == "minari":
        data = open_minari(args.dataset, args.download, args.env_id, env_action_space, envs)
        rb, returns = minari_to_buffer(data, envs)
        num_random, extra = 0, {"dataset": args.dataset}
    else:
        rb = buffer.ReplayBuffer(args.num_envs, math.ceil(args.num_steps / args.num_envs),
                                 envs.single_observation_space, envs.single_action_space)
        returns, num_random = play(envs, act, args.seed, rb=rb, random_fraction=1.0 if act is None
                                   else args.random_fraction, action_noise=args.action_noise, desc="collect")
        extra = {"policy": args.policy} if args.policy else {}

    # reference returns: a Minari dataset's own where it has them (Minari stores both or neither), else D4RL's
    # for the MuJoCo tasks, so that normalized scores read as published ones; the others are measured here
    refs = minari_reference_returns(data) if args.source == "minari" else {}
    refs = refs or buffer.d4rl_reference_returns(args.env_id) or {}
    ref_seed = args.seed + REFERENCE_SEED_OFFSET
    expert = EXPERTS.get(args.env_id) or (act if args.source == "policy" else None)
    if "random" not in refs:
        refs["random"] = mean_return(envs, None, args.reference_episodes, ref_seed, "reference: random")
    if "expert" not in refs and expert is not None:
        refs["expert"] = mean_return(envs, expert, args.reference_episodes, ref_seed, "reference: expert")
    counts = {"rows": rb.size * rb.num_envs, "transitions": int((rb.step_type[:, :rb.size] != FIRST).sum()),
              "episodes": len(returns), "random_episodes": num_random}
    meta = buffer.make_meta(
        args.env_id, envs.single_observation_space, envs.single_action_space, args.source, **extra,
        reference_returns=refs, counts=counts, action_noise=args.action_noise, random_fraction=args.random_fraction,
        seed=args.seed, num_steps=args.num_steps, num_envs=args.num_envs, reference_episodes=args.reference_episodes)
    rb.save(args.output, meta)
    envs.close()
    return_mean = float(np.mean(returns)) if returns else float("nan")
    score = buffer.normalized_score(return_mean, meta)
    print(f"{args.output}: {counts['rows']} rows, {len(returns)} complete episodes ({num_random} random), "
          f"return mean {return_mean:.1f}, normalized score {'-' if score is None else f'{score:.1f}'}, "
          f"reference returns " + ", ".join(f"{key} {value:.1f}" for key, value in refs.items()))
    if args.to_minari:
        written, skipped = buffer_to_minari(args.output, args.to_minari, args.env_id, env_action_space, meta)
        print(f"Minari dataset {args.to_minari}: {written} episodes; {skipped} incomplete episode(s) "
              f"(cut off at the end of the collection) left out")
    return meta


def main(argv=None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        with minari_root(args.minari_root):
            collect(args)
    except (CollectError, BufferError, OSError) as e:  # OSError: e.g. --output is a directory or not writable
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
