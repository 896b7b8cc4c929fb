"""Offline buffers in ALF's replay-buffer checkpoint format, and the online replay buffer.

A buffer file is a `torch.save` zip holding, under "algorithm", tensors shaped
[E, T, ...] (E parallel envs, T rows each) named `_replay_buffer.time_step|...`,
`_replay_buffer.action`, ... (see README.md). The keys are in ALF's order:
`_current_size`, `_current_pos`, then the data fields sorted by name at each
nesting level, because ALF's offline loader takes them by position. A row is one
time step: the observation, the reward and discount received on arriving there,
its step type, and the action taken there. A transition is a row that is not LAST
and the next row of the same env in ring order.

    python buffer.py info PATH... [--json]     what a buffer holds
    python buffer.py validate PATH...          exit 0 if every buffer is usable, 2 if not
"""

import argparse
import json
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np
import torch

FIRST, MID, LAST = 0, 1, 2
FORMAT_VERSION = 1
PREFIX = "_replay_buffer."
ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of every zip archive, so of every torch.save file
OBS = "time_step|observation"
# Fields a reader needs besides the observation; `rollout_info|rl|action`, `prev_action` and `env_id`
# are written but never read.
REQUIRED_KEYS = ("time_step|step_type", "time_step|reward", "time_step|discount", "action",
                 "_current_size", "_current_pos")

Observation = Union[torch.Tensor, dict]


class BufferError(ValueError):
    """A buffer that cannot be used; the message names the file, the field and what was expected."""


class Batch(NamedTuple):
    observation: Observation  # [B, *obs_shape], or a dict of such tensors
    action: torch.Tensor  # [B, *act_shape], in [-1, 1]
    reward: torch.Tensor  # [B], received on arriving at next_observation
    next_observation: Observation
    discount: torch.Tensor  # [B], 0 where the episode terminated at next_observation

    def to(self, device) -> "Batch":
        """The batch on a device (itself where it is there already). From host memory to a GPU through
        pinned memory, so that the copy does not wait for the GPU's queue (DataLoader's pin_memory)."""
        def move(x):
            pinned = torch.device(device).type == "cuda" and x.device.type == "cpu"
            return (x.pin_memory() if pinned else x).to(device, non_blocking=True)
        return Batch(*(tree_map(move, field) for field in self))


def tree_map(fn, obs):
    """Apply fn to a tensor, or to every tensor of a (nested) dict observation."""
    if isinstance(obs, dict):
        return {key: tree_map(fn, value) for key, value in obs.items()}
    return fn(obs)


def flatten_observation(obs, prefix=OBS) -> dict:
    """{"time_step|observation|a|b": tensor} from a (nested) dict observation, ALF's key layout."""
    if not isinstance(obs, dict):
        return {prefix: obs}
    flat = {}
    for key, value in obs.items():
        flat.update(flatten_observation(value, f"{prefix}|{key}"))
    return flat


def unflatten_observation(fields: dict, path: str) -> Observation:
    """The inverse of flatten_observation: pick the observation keys out of a file's fields."""
    if OBS in fields:
        return fields[OBS]
    obs = {}
    for key, value in fields.items():
        if key.startswith(OBS + "|"):
            *parents, leaf = key[len(OBS) + 1:].split("|")
            node = obs
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = value
    if not obs:
        raise BufferError(f"{path}: missing field '{PREFIX}{OBS}' (or '{OBS}|<key>' for a dict observation)")
    return obs


def alf_key_order(key: str) -> tuple:
    """Sort key that puts data fields in ALF's nest-flattening order: by name at each nesting level.
    ALF's offline loader packs a file's fields into its experience spec by position, so the order matters.
    Not the plain string: "_" < "|", which would put "observation|a_b" before "observation|a|c"."""
    return tuple(key.split("|"))


def observation_shape(obs):
    """The shape of one observation (without the leading dimensions), a dict of shapes for a dict."""
    return tree_map(lambda x: tuple(x.shape[2:]), obs)


def space_to_meta(space) -> dict:
    """A gymnasium Box or Dict space as plain Python values (readable with weights_only=True)."""
    if hasattr(space, "spaces") and isinstance(space.spaces, dict):
        return {"type": "Dict", "spaces": {key: space_to_meta(sub) for key, sub in space.spaces.items()}}
    if not hasattr(space, "low"):
        raise BufferError(f"unsupported space {space}: only Box and Dict of Box spaces can be stored")
    return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
            "low": np.asarray(space.low, dtype=np.float64).ravel().tolist(),
            "high": np.asarray(space.high, dtype=np.float64).ravel().tolist()}


def space_shape(space):
    if hasattr(space, "spaces") and isinstance(space.spaces, dict):
        return {key: space_shape(sub) for key, sub in space.spaces.items()}
    return tuple(space.shape)


def make_meta(env_id: str, observation_space, action_space, source: str, **extra) -> dict:
    """The "meta" entry of a buffer file: how the data was made. `extra` takes e.g.
    reference_returns={"random": r0, "expert": r1} and counts."""
    return {"format_version": FORMAT_VERSION, "env_id": env_id,
            "observation_space": space_to_meta(observation_space),
            "action_space": space_to_meta(action_space), "source": source, **extra}


# Returns of a random and of an expert policy (normalized_score's 0 and 100) for buffers that carry none.
# D4RL's REF_MIN_SCORE / REF_MAX_SCORE (d4rl/infos.py) for the MuJoCo tasks, by name for every version (D4RL
# measured them on older versions), so that scores read beside published ones.
D4RL_REFERENCE_RETURNS = {
    "HalfCheetah": {"random": -280.178953, "expert": 12135.0},
    "Hopper": {"random": -20.272305, "expert": 3234.3},
    "Walker2d": {"random": 1.629008, "expert": 4592.3},
    "Ant": {"random": -325.6, "expert": 3879.7},
}
# data/pendulum_expert's own, made by collect.py (500 episodes each of random actions and of its scripted expert)
PENDULUM_REFERENCE_RETURNS = {"random": -1240.6634386620774, "expert": -152.52087947621558}


def d4rl_reference_returns(env_id: str) -> Optional[dict]:
    """D4RL's reference returns for a MuJoCo task, any version ("Hopper-v5" -> Hopper's); None for others."""
    refs = D4RL_REFERENCE_RETURNS.get(env_id.rsplit("-v", 1)[0])
    return dict(refs) if refs else None


def _usable_reference_returns(refs) -> bool:
    """Both returns there and different (equal ones would make every score a division by zero)."""
    return (isinstance(refs, dict) and refs.get("random") is not None and refs.get("expert") is not None
            and refs["random"] != refs["expert"])


def reference_returns(env_id: str, meta: Optional[dict]) -> tuple[Optional[dict], str]:
    """({"random": r0, "expert": r1} or None, where they come from or why there are none): the buffer's own
    (meta["reference_returns"]) first, else D4RL's for the MuJoCo tasks, else data/pendulum_expert's for Pendulum-v1.
    normalized_score(r, {"reference_returns": refs}) scores with them."""
    own = (meta or {}).get("reference_returns")
    if _usable_reference_returns(own):
        return {"random": own["random"], "expert": own["expert"]}, "the offline buffer's reference returns"
    if refs := d4rl_reference_returns(env_id):
        return refs, f"D4RL's reference returns for {env_id.rsplit('-v', 1)[0]}"
    if env_id == "Pendulum-v1":
        return dict(PENDULUM_REFERENCE_RETURNS), "data/pendulum_expert's reference returns for Pendulum-v1"
    return None, f"no reference returns known for {env_id}: normalized_score is null"


def normalized_score(episode_return: float, meta: Optional[dict]) -> Optional[float]:
    """D4RL-style score: 0 for the random policy's return, 100 for the expert's (meta["reference_returns"]);
    None if unknown."""
    refs = (meta or {}).get("reference_returns")
    if not _usable_reference_returns(refs):
        return None
    return 100.0 * (episode_return - refs["random"]) / (refs["expert"] - refs["random"])


def atomic_save(obj, path: Union[str, Path], save=torch.save):
    """save(obj, file) to a temporary name, then rename: a crash never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        save(obj, f)
    os.replace(tmp, path)


class _Rows:
    """The rows of one buffer flattened to [E*T, ...], and how to make a Batch from row indices.

    Row r = e*T + t; its successor in ring order is row e*T + (t+1) % T."""

    def __init__(self, step_type, reward, discount, observation, action):
        self.num_envs, self.length = step_type.shape
        def flat(x):
            return x.reshape(self.num_envs * self.length, *x.shape[2:])

        self.step_type, self.reward, self.discount = flat(step_type), flat(reward), flat(discount)
        self.observation, self.action = tree_map(flat, observation), flat(action)

    def to(self, device):
        self.step_type, self.reward, self.discount, self.action = (
            x.to(device) for x in (self.step_type, self.reward, self.discount, self.action))
        self.observation = tree_map(lambda x: x.to(device), self.observation)

    def nbytes(self) -> int:
        tensors = [self.step_type, self.reward, self.discount, self.action]
        tensors += flatten_observation(self.observation).values()
        return sum(x.numel() * x.element_size() for x in tensors)

    def next_rows(self, rows):
        t = rows % self.length
        return torch.where(t == self.length - 1, rows - t, rows + 1)

    def batch(self, rows) -> Batch:
        nxt = self.next_rows(rows)
        def take(x, r):
            return x.index_select(0, r).float()

        return Batch(tree_map(lambda x: take(x, rows), self.observation), take(self.action, rows),
                     take(self.reward, nxt), tree_map(lambda x: take(x, nxt), self.observation),
                     take(self.discount, nxt))


def _ring_rows(current_size, current_pos, length):
    """[E, n] row indices t of each env in ring order, oldest first (n = the fullest env's size;
    -1 pads envs that hold fewer rows)."""
    size = current_size.long().clamp(max=length)
    start = (current_pos.long() - size) % length
    offsets = torch.arange(int(size.max()) if len(size) else 0)
    t = (start[:, None] + offsets[None, :]) % length
    return torch.where(offsets[None, :] < size[:, None], t, -1)


class OfflineBuffer:
    """One or more buffer files, read-only, sampled uniformly over all their transitions."""

    def __init__(self, files: Sequence["_OfflineFile"]):
        self.files = list(files)
        self.meta = self.files[0].meta
        self.observation_shape = self.files[0].observation_shape
        self.action_shape = self.files[0].action_shape
        for f in self.files[1:]:
            if (f.observation_shape, f.action_shape) != (self.observation_shape, self.action_shape):
                raise BufferError(f"{f.path}: observation/action shapes {f.observation_shape}/{f.action_shape} "
                                  f"differ from {self.files[0].path}'s "
                                  f"{self.observation_shape}/{self.action_shape}")
        counts = torch.tensor([len(f.valid_rows) for f in self.files])
        self.num_transitions = int(counts.sum())
        self._file_ends = counts.cumsum(0)
        self.device = torch.device("cpu")

    def to(self, device) -> "OfflineBuffer":
        """Copy the data onto a device (e.g. a GPU, where it fits: see nbytes); batches are then made there."""
        for f in self.files:
            f.rows.to(device)
            f.valid_rows = f.valid_rows.to(device)
        self._file_ends, self.device = self._file_ends.to(device), torch.device(device)
        return self

    def nbytes(self) -> int:
        """The size of the data `to` copies."""
        return sum(f.rows.nbytes() + f.valid_rows.numel() * 8 for f in self.files)

    def sample(self, batch_size: int, generator: Optional[torch.Generator] = None) -> Batch:
        index = torch.randint(self.num_transitions, (batch_size,), generator=generator, device=self.device)
        if len(self.files) == 1:
            return self.files[0].batch(index)
        file_of = torch.bucketize(index, self._file_ends, right=True)
        parts, order = [], []
        for i, f in enumerate(self.files):
            chosen = (file_of == i).nonzero().squeeze(1)
            start = 0 if i == 0 else int(self._file_ends[i - 1])
            parts.append(f.batch(index[chosen] - start))
            order.append(chosen)
        inverse = torch.argsort(torch.cat(order))
        def cat(*xs):
            return torch.cat(xs)[inverse]

        return Batch(*(tree_map_many(cat, [p[k] for p in parts]) for k in range(len(Batch._fields))))

    def observation_mean_std(self):
        """Per-dimension mean and standard deviation (plus 1e-3, so a constant dimension stays finite)
        of the observations that start a transition, over all files. Array observations only."""
        if not isinstance(self.files[0].rows.observation, torch.Tensor):
            raise BufferError(f"{self.files[0].path}: observation statistics need array observations, not a dict")
        observations = torch.cat([f.rows.observation.index_select(0, f.valid_rows).float() for f in self.files])
        return observations.mean(0), observations.std(0, correction=0) + 1e-3

    def check_spaces(self, observation_space, action_space, env_id: Optional[str] = None):
        """Raise BufferError unless the buffer's shapes are the env's. When they differ and the buffer's meta
        names another env than `env_id`, the message says so first. Another env id with the same shapes is
        no error: ALF's files have no meta, and e.g. a Pendulum-v0 buffer is good data for Pendulum-v1."""
        want_obs, want_act = space_shape(observation_space), space_shape(action_space)
        for f in self.files:
            if f.observation_shape != want_obs:
                problem = (f"field '{PREFIX}{OBS}' holds observations of shape {f.observation_shape}, "
                           f"the env's are {want_obs}")
            elif f.action_shape != want_act:
                problem = f"field '{PREFIX}action' holds actions of shape {f.action_shape}, the env's are {want_act}"
            else:
                continue
            made_for = (f.meta or {}).get("env_id")
            if env_id is not None and made_for is not None and made_for != env_id:
                problem = f"a buffer for {made_for} (meta env_id), not {env_id}: {problem}"
            raise BufferError(f"{f.path}: {problem}")


def tree_map_many(fn, trees):
    """fn over the matching leaves of several observations of the same structure."""
    if isinstance(trees[0], dict):
        return {key: tree_map_many(fn, [t[key] for t in trees]) for key in trees[0]}
    return fn(*trees)


class _OfflineFile:
    """One validated buffer file: its rows (memory-mapped) and the rows that start a transition."""

    def __init__(self, path: Path, max_length: Optional[int] = None):
        self.path = path
        checkpoint = load_checkpoint(path)
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("algorithm"), dict):
            raise BufferError(f"{path}: not a replay-buffer checkpoint (expected a dict with key 'algorithm')")
        self.meta = checkpoint.get("meta") or None
        fields = {key[len(PREFIX):]: value for key, value in checkpoint["algorithm"].items()
                  if key.startswith(PREFIX)}
        missing = [PREFIX + key for key in REQUIRED_KEYS if key not in fields]
        if missing:
            raise BufferError(f"{path}: missing field(s) {', '.join(missing)}")
        observation = unflatten_observation(fields, str(path))
        step_type = fields["time_step|step_type"]
        num_envs, length = self._check_leading_dims(fields, step_type)

        ring = _ring_rows(fields["_current_size"], fields["_current_pos"], length)
        if max_length is not None:
            ring = ring[:, :max_length]  # ALF keeps the first rows; we keep the oldest in ring order
        held = ring >= 0
        self.num_rows = int(held.sum())
        rows = (torch.arange(num_envs)[:, None] * length + ring.clamp(min=0))
        self.rows = _Rows(step_type, fields["time_step|reward"], fields["time_step|discount"],
                          observation, fields["action"])
        self.ring_rows = rows  # [E, n] flat row indices in ring order; entries past a short env's size repeat
        self.held = held
        self._check_values(rows[held])

        # A transition starts at a held row that is not LAST and whose successor is held and not FIRST
        # (FIRST after a non-LAST row only occurs where an episode was cut off, e.g. by a resume).
        st = self.rows.step_type[rows].long()
        starts = held[:, :-1] & held[:, 1:] & (st[:, :-1] != LAST) & (st[:, 1:] != FIRST)
        self.valid_rows = rows[:, :-1][starts]
        if len(self.valid_rows) == 0:
            raise BufferError(f"{path}: no valid transition (needs a row that is not LAST followed by "
                              f"a row of the same episode; {self.num_rows} rows held)")
        self.observation_shape = observation_shape(observation)
        self.action_shape = tuple(fields["action"].shape[2:])

    def _check_leading_dims(self, fields, step_type):
        if step_type.dim() != 2:
            raise BufferError(f"{self.path}: field '{PREFIX}time_step|step_type' has shape "
                              f"{tuple(step_type.shape)}, expected [E, T]")
        num_envs, length = step_type.shape
        for key, value in fields.items():
            if not isinstance(value, torch.Tensor):
                continue
            if key in ("_current_size", "_current_pos"):
                if tuple(value.shape) != (num_envs,):
                    raise BufferError(f"{self.path}: field '{PREFIX}{key}' has shape {tuple(value.shape)}, "
                                      f"expected [{num_envs}] (one entry per env)")
            elif (key.startswith("time_step|") or key == "action") and tuple(value.shape[:2]) != (num_envs, length):
                raise BufferError(f"{self.path}: field '{PREFIX}{key}' has leading dimensions "
                                  f"{tuple(value.shape[:2])}, expected [{num_envs}, {length}] like step_type")
        return num_envs, length

    def _check_values(self, held_rows):
        """Step types, finite values, actions in [-1, 1]; a chunk of rows at a time, so that checking a
        memory-mapped file needs little memory beyond its pages."""
        r = self.rows
        chunks = held_rows.split(1 << 16)
        checks = [("time_step|reward", r.reward), ("time_step|discount", r.discount), ("action", r.action)]
        checks += list(flatten_observation(r.observation).items())
        for chunk in chunks:
            step_type = r.step_type[chunk]
            bad = step_type[(step_type < FIRST) | (step_type > LAST)]
            if len(bad):
                raise BufferError(f"{self.path}: field '{PREFIX}time_step|step_type' holds {int(bad[0])}, "
                                  f"expected 0 (FIRST), 1 (MID) or 2 (LAST)")
            for key, value in checks:
                if not torch.isfinite(value[chunk].float()).all():
                    raise BufferError(f"{self.path}: field '{PREFIX}{key}' holds NaN or infinite values")
        largest = max((float(r.action[chunk].abs().max()) for chunk in chunks if len(chunk)), default=0.0)
        if largest > 1 + 1e-5:
            raise BufferError(f"{self.path}: field '{PREFIX}action' holds values up to {largest:.3g}, "
                              f"expected actions rescaled to [-1, 1]")

    def batch(self, index) -> Batch:
        return self.rows.batch(self.valid_rows[index])


def load_checkpoint(path: Path):
    """torch.load that never runs code from the file and turns every failure into a BufferError
    (buffer files, and the scripts' checkpoints when they resume)."""
    # A file that is not a zip gets our words, not torch's ("mmap can only be used with files saved with ...").
    # Only the first bytes are checked (not zipfile.is_zipfile): a zip cut short still starts with them
    # and gets the "truncated" message below.
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise BufferError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not head.startswith(ZIP_MAGIC):
        what = "it is empty" if not head else f"it starts with {head!r}"
        raise BufferError(f"{path}: not a buffer file or checkpoint (not a torch.save zip archive; {what})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            raise BufferError(f"{path}: holds objects other than tensors and plain values; refused "
                              f"(buffers are loaded with weights_only=True so that they cannot run code)") from None
        raise BufferError(f"{path}: not a torch checkpoint or truncated ({e})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BufferError(f"{path}: not a torch checkpoint (zip) or truncated ({reason})") from None


def checkpoint_paths(run_dir: Path) -> dict:
    """{iteration: path} of a run's checkpoints, ALF's <run_dir>/train/algorithm/ckpt-<iteration>."""
    paths = (Path(run_dir) / "train" / "algorithm").glob("ckpt-*")
    return {int(path.name[5:]): path for path in paths if path.name[5:].isdigit()}


def find_buffer_file(path: Union[str, Path]) -> Path:
    """A buffer file, or the newest `ckpt-<step>-replay_buffer` anywhere under a directory."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise BufferError(f"{path}: no such file or directory")
    found = [p for p in path.rglob("ckpt-*-replay_buffer") if p.is_file()]
    if not found:
        raise BufferError(f"{path}: directory holds no ckpt-<step>-replay_buffer file")

    def step(p):
        middle = p.name[len("ckpt-"):-len("-replay_buffer")]
        return (int(middle) if middle.isdigit() else -1, p.stat().st_mtime)

    return max(found, key=step)


def load_offline_buffer(paths: Union[str, Path, Sequence[Union[str, Path]]],
                        max_length: Optional[int] = None) -> OfflineBuffer:
    """Load and validate one or more buffers (files or directories); `max_length` keeps at most
    that many rows (the oldest, in ring order) of each env of each file."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise BufferError("no offline buffer path given")
    if max_length is not None and max_length < 2:
        raise BufferError(f"offline buffer length {max_length}: expected at least 2 rows (one transition)")
    return OfflineBuffer([_OfflineFile(find_buffer_file(p), max_length) for p in paths])


class ReplayBuffer:
    """The online replay buffer: a ring of `capacity` rows per env, rows laid out as in the files.

    Call `add(observation, action, reward, terminated, truncated)` once per vector step, before
    stepping the envs, with the observation the envs are in, the action about to be taken there,
    and the outcome of the previous step (what led to this observation). The row after a LAST row
    is FIRST, which is what gymnasium 1.x's autoreset step returns, so no special case is needed.
    """

    def __init__(self, num_envs: int, capacity: int, observation_space, action_space, device="cpu"):
        self.num_envs, self.capacity, self.device = num_envs, capacity, torch.device(device)
        self.observation_space, self.action_space = observation_space, action_space
        self.pos = 0  # rows ever written per env (ALF's _current_pos)
        act_shape = tuple(action_space.shape)
        def zeros(*shape):
            return torch.zeros(num_envs, capacity, *shape, device=device)

        self.step_type = torch.full((num_envs, capacity), FIRST, dtype=torch.int32, device=device)
        self.reward, self.discount = zeros(), zeros()
        self.observation = tree_map(lambda shape: zeros(*shape), space_shape(observation_space))
        self.action, self.prev_action = zeros(*act_shape), zeros(*act_shape)
        self._rows = _Rows(self.step_type, self.reward, self.discount, self.observation, self.action)
        self._env_offsets = torch.arange(num_envs, device=device) * capacity

    @property
    def size(self) -> int:
        """Rows held per env."""
        return min(self.pos, self.capacity)

    def add(self, observation, action, reward, terminated, truncated):
        t = self.pos % self.capacity
        def tensor(x, dtype=None):
            return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

        reward, terminated = tensor(reward, torch.float32), tensor(terminated, torch.bool)
        done = terminated | tensor(truncated, torch.bool)
        prev = (self.pos - 1) % self.capacity
        first = (self.step_type[:, prev] == LAST if self.pos > 0
                 else torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        first_ = first.view(-1, *[1] * (self.action.dim() - 2))
        self.prev_action[:, t] = 0.0 if self.pos == 0 else torch.where(first_, 0.0, self.action[:, prev])
        self.step_type[:, t] = torch.where(first, FIRST, torch.where(done, LAST, MID)).int()
        self.reward[:, t] = torch.where(first, 0.0, reward)
        self.discount[:, t] = torch.where(first | ~terminated, 1.0, 0.0)
        tree_map_many(lambda stored, x: stored[:, t].copy_(tensor(x)), [self.observation, observation])
        self.action[:, t] = tensor(action, torch.float32).reshape(self.action[:, t].shape)
        self.pos += 1

    def end_episodes(self):
        """Mark the newest row of every env LAST (a time-limit cut, discount kept), e.g. before
        resuming with freshly reset envs, so no transition joins two episodes."""
        if self.pos > 0:
            self.step_type[:, (self.pos - 1) % self.capacity] = LAST

    def sample(self, batch_size: int, generator: Optional[torch.Generator] = None) -> Batch:
        """Uniform over the transitions held. Rejection sampling: a draw whose row is LAST, or whose
        successor starts a new episode, is drawn again (about 1 in an episode length)."""
        n = self.size
        if n < 2:
            raise ValueError("the replay buffer holds no transition yet")
        start = (self.pos - n) % self.capacity
        chosen = torch.empty(0, dtype=torch.long, device=self.device)
        for _ in range(100):
            draw = torch.randint(self.num_envs * (n - 1), (2 * batch_size,), generator=generator, device=self.device)
            rows = self._env_offsets[draw // (n - 1)] + (start + draw % (n - 1)) % self.capacity
            ok = (self._rows.step_type[rows] != LAST) & (self._rows.step_type[self._rows.next_rows(rows)] != FIRST)
            chosen = torch.cat([chosen, rows[ok]])
            if len(chosen) >= batch_size:
                return self._rows.batch(chosen[:batch_size])
        raise ValueError("the replay buffer holds (almost) no transition: nearly every row is LAST")

    def _fields(self) -> dict:
        """The stored tensors by their file keys (without the prefix), each [E, capacity, ...]."""
        return {"time_step|step_type": self.step_type, "time_step|reward": self.reward,
                "time_step|discount": self.discount, **flatten_observation(self.observation),
                "time_step|prev_action": self.prev_action,
                "time_step|env_id": torch.arange(self.num_envs, dtype=torch.int32, device=self.device)[:, None]
                .expand(self.num_envs, self.capacity).contiguous(),
                "action": self.action}

    def state_dict(self, meta: Optional[dict] = None) -> dict:
        """The buffer as a file in ALF's layout ("algorithm", "metrics", "trainer_progress", "meta"), keys in
        ALF's order (`_current_size`, `_current_pos`, then the data fields sorted by alf_key_order).
        Until the ring wraps only the rows written so far are kept: a file holds no empty rows."""
        # clone: torch.save writes a view's whole storage; cpu: a file does not depend on the device
        data = {key: (value if self.size == self.capacity else value[:, :self.size].clone()).cpu()
                for key, value in self._fields().items()}
        data["rollout_info|rl|action"] = data["action"]
        fields = {"_current_size": torch.full((self.num_envs,), self.size, dtype=torch.int64),
                  "_current_pos": torch.full((self.num_envs,), self.pos, dtype=torch.int64)}
        for key in sorted(data, key=alf_key_order):
            fields[key] = data[key]
        meta = dict(meta or {})
        meta.setdefault("format_version", FORMAT_VERSION)
        meta.setdefault("counts", {"rows": self.size * self.num_envs, "env_steps": self.pos * self.num_envs})
        return {"algorithm": {PREFIX + key: value for key, value in fields.items()},
                "metrics": {}, "trainer_progress": {}, "meta": meta}

    def save(self, path: Union[str, Path], meta: Optional[dict] = None):
        atomic_save(self.state_dict(meta), path)

    def load_state_dict(self, checkpoint: dict, path="checkpoint"):
        """Restore from what state_dict (or a file) holds; the shapes must be this buffer's."""
        fields = {key[len(PREFIX):]: value for key, value in checkpoint["algorithm"].items()}
        pos = fields["_current_pos"].tolist()
        num_envs, length = fields["time_step|step_type"].shape
        if num_envs != self.num_envs or len(set(pos)) != 1 or length != min(pos[0], self.capacity):
            raise BufferError(f"{path}: replay buffer of shape {[num_envs, length]} written {pos[0]} rows per env; "
                              f"expected {self.num_envs} envs and capacity {self.capacity} (--num-envs, --buffer-size)")
        for key, stored in self._fields().items():
            stored[:, :length] = fields[key]
        self.pos = pos[0]


# ---------------------------------------------------------------------------------------------
# Command line


def episode_returns(f: _OfflineFile) -> np.ndarray:
    """Returns of the complete episodes (FIRST to LAST in ring order) of one file."""
    returns = []
    st = f.rows.step_type[f.ring_rows].numpy()
    rewards = f.rows.reward[f.ring_rows].double().numpy()
    for env in range(st.shape[0]):
        n = int(f.held[env].sum())
        s, cum = st[env, :n], np.cumsum(rewards[env, :n])
        firsts, lasts = np.flatnonzero(s == FIRST), np.flatnonzero(s == LAST)
        for k, last in enumerate(lasts):
            i = np.searchsorted(firsts, last) - 1  # the newest FIRST before this LAST ...
            if i >= 0 and (k == 0 or firsts[i] > lasts[k - 1]):  # ... opening this very episode
                returns.append(cum[last] - cum[firsts[i]])  # the FIRST row's reward is not counted
    return np.asarray(returns)


def buffer_info(paths: Sequence[str]) -> dict:
    files = [_OfflineFile(find_buffer_file(p)) for p in paths]
    returns = np.concatenate([episode_returns(f) for f in files])

    def stat(fn):
        return float(fn(returns)) if len(returns) else None

    def shapes(x):
        return list(x) if isinstance(x, tuple) else {k: shapes(v) for k, v in x.items()}

    return {"paths": [str(f.path) for f in files], "rows": sum(f.num_rows for f in files),
            "episodes": int(len(returns)), "transitions": sum(len(f.valid_rows) for f in files),
            "return_mean": stat(np.mean), "return_min": stat(np.min), "return_max": stat(np.max),
            "observation_shape": shapes(files[0].observation_shape),
            "action_shape": list(files[0].action_shape),
            "meta": files[0].meta if len(files) == 1 else [f.meta for f in files]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print what one or more buffers hold")
    info.add_argument("paths", nargs="+", help="buffer files or directories holding ckpt-*-replay_buffer")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    validate = commands.add_parser("validate", help="check buffers; exit 0 if usable, 2 if not")
    validate.add_argument("paths", nargs="+", help="buffer files or directories holding ckpt-*-replay_buffer")
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            for path in args.paths:
                f = _OfflineFile(find_buffer_file(path))
                print(f"{f.path}: ok, {f.num_rows} rows, {len(f.valid_rows)} transitions")
            return 0
        result = buffer_info(args.paths)
    except BufferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.2f}"
            print(f"{key:18s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
