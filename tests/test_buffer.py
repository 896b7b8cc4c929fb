"""buffer.py: ALF's file, the online ring buffer and its round trip through a file, bad input."""
import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import buffer
import collect
from buffer import FIRST, LAST, MID, BufferError
from conftest import ROOT


def make_envs(num_envs, max_steps, seed=0):
    def make():
        return gym.wrappers.RescaleAction(gym.make("Pendulum-v1", max_episode_steps=max_steps), -1, 1)

    envs = gym.vector.SyncVectorEnv([make] * num_envs)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs


def rollout(rb, envs, steps):
    """Fill rb for `steps` vector steps; return the transitions an independent bookkeeping finds:
    {(env, obs, action, reward, next_obs, discount)} for transitions whose two rows are still held."""
    obs, _ = envs.reset(seed=1)
    reward, term, trunc = np.zeros(envs.num_envs), np.zeros(envs.num_envs, bool), np.zeros(envs.num_envs, bool)
    ended = np.zeros(envs.num_envs, bool)  # did the previous step end the episode?
    expected = []
    for k in range(steps):
        action = envs.action_space.sample()
        rb.add(obs, action, reward, term, trunc)
        next_obs, reward, term, trunc, _ = envs.step(action)
        for e in range(envs.num_envs):
            if ended[e]:
                continue  # obs is a LAST row; this step is the autoreset, next_obs the new FIRST
            expected.append((k, e, obs[e], action[e], reward[e], next_obs[e], 0.0 if term[e] else 1.0))
        ended = term | trunc
        obs = next_obs
    # the last step's successor row was never added; rows older than capacity are gone
    oldest = max(0, steps - rb.capacity)
    return {key(t[1:]) for t in expected if oldest <= t[0] < steps - 1}


def key(t):
    """A transition as a hashable key, compared at the float32 precision the buffer stores."""
    return (t[0],) + tuple(np.hstack([np.ravel(x) for x in t[1:]]).astype(np.float32).tolist())


def all_transitions(offline):
    """Every transition of an offline buffer, as the same keys."""
    f = offline.files[0]
    batch = f.batch(torch.arange(len(f.valid_rows)))
    envs = (f.valid_rows // f.rows.length).tolist()
    return {key((e, o, a, r, n, d)) for e, o, a, r, n, d in
            zip(envs, batch.observation.numpy(), batch.action.numpy(), batch.reward.numpy(),
                batch.next_observation.numpy(), batch.discount.numpy())}


@pytest.mark.parametrize("steps", [30, 137], ids=["no-wrap", "wrapped"])
def test_round_trip_online_file_offline(tmp_path, steps):
    envs = make_envs(3, max_steps=9)
    rb = buffer.ReplayBuffer(3, 50, envs.single_observation_space, envs.single_action_space)
    expected = rollout(rb, envs, steps)
    path = tmp_path / "train" / "algorithm" / "ckpt-5-replay_buffer"
    rb.save(path, buffer.make_meta("Pendulum-v1", envs.single_observation_space, envs.single_action_space, "test"))
    assert not list(path.parent.glob("*.tmp"))
    offline = buffer.load_offline_buffer(tmp_path)  # a directory: finds the newest ckpt-*-replay_buffer
    assert offline.files[0].path == path
    got = all_transitions(offline)
    assert got == expected
    assert len(got) == offline.num_transitions
    assert offline.meta["env_id"] == "Pendulum-v1"
    # the online buffer samples from the same set
    batch = rb.sample(512, torch.Generator().manual_seed(0))
    online = {key((0, o, a, r, n, d)) for o, a, r, n, d in zip(*(x.numpy() for x in batch))}
    assert {k[1:] for k in online} <= {k[1:] for k in expected}


def test_online_buffer_step_types_follow_autoreset():
    envs = make_envs(2, max_steps=4)
    rb = buffer.ReplayBuffer(2, 20, envs.single_observation_space, envs.single_action_space)
    rollout(rb, envs, 12)
    # reset row FIRST, 4 steps (LAST on the 4th), then the autoreset row is FIRST again
    assert rb.step_type[0, :12].tolist() == [FIRST, MID, MID, MID, LAST] * 2 + [FIRST, MID]
    assert (rb.reward[:, [0, 5, 10]] == 0).all()
    assert (rb.prev_action[:, [0, 5, 10]] == 0).all()
    assert torch.equal(rb.prev_action[:, 1], rb.action[:, 0])
    assert (rb.discount[:, :12] == 1).all()  # Pendulum only truncates


def test_alf_file_matches_hand_computation(alf_buffer_path):
    offline = buffer.load_offline_buffer(alf_buffer_path)
    raw = torch.load(alf_buffer_path, weights_only=True)["algorithm"]
    st = raw["_replay_buffer.time_step|step_type"][0]
    # hand computation: the ring has wrapped (_current_pos 10000, T 600), oldest row 10000 % 600 = 400
    order = list(range(400, 600)) + list(range(400))
    starts = {order[i] for i in range(599) if st[order[i]] != LAST and st[order[i + 1]] != FIRST}
    assert len(starts) == 596  # 599 consecutive pairs minus the 3 LAST rows
    f = offline.files[0]
    assert set(f.valid_rows.tolist()) == starts
    assert 399 not in starts and 599 in starts  # the newest row ends the data; 599 -> 0 crosses the storage end
    i = f.valid_rows.tolist().index(599)
    b = f.batch(torch.tensor([i]))
    obs = raw["_replay_buffer.time_step|observation"][0]
    assert torch.equal(b.observation[0], obs[599]) and torch.equal(b.next_observation[0], obs[0])
    assert b.reward[0] == raw["_replay_buffer.time_step|reward"][0, 0]
    assert torch.equal(b.action[0], raw["_replay_buffer.action"][0, 599])
    info = buffer.buffer_info([str(alf_buffer_path)])
    assert (info["rows"], info["episodes"], info["transitions"]) == (600, 2, 596)
    # the two complete episodes in ring order: FIRST 447 .. LAST 47 and FIRST 48 .. LAST 248
    reward = raw["_replay_buffer.time_step|reward"][0].double()
    ep1 = reward[448:600].sum() + reward[0:48].sum()
    ep2 = reward[49:249].sum()
    assert info["return_mean"] == pytest.approx(float(ep1 + ep2) / 2, abs=1e-6)
    assert info["return_min"] == pytest.approx(float(min(ep1, ep2)), abs=1e-6)


def test_offline_buffer_length_keeps_oldest_rows(alf_buffer_path):
    offline = buffer.load_offline_buffer(alf_buffer_path, max_length=100)
    f = offline.files[0]
    assert f.num_rows == 100
    # ring rows 400..499 hold one LAST (446): 99 pairs minus 1
    assert sorted(f.valid_rows.tolist()) == [t for t in range(400, 499) if t != 446]


def test_loading_memory_maps_the_file(alf_buffer_path):
    offline = buffer.load_offline_buffer(alf_buffer_path)
    ptr = offline.files[0].rows.observation.data_ptr()
    real = os.path.realpath(alf_buffer_path)
    mapped = []
    for line in open("/proc/self/maps"):
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if lo <= ptr < hi:
            mapped.append(parts[-1])
    assert mapped == [real]


def test_several_files_sample_from_all(tmp_path, alf_buffer_path):
    envs = make_envs(1, max_steps=9)
    rb = buffer.ReplayBuffer(1, 40, envs.single_observation_space, envs.single_action_space)
    rollout(rb, envs, 40)
    rb.save(tmp_path / "ours")
    offline = buffer.load_offline_buffer([alf_buffer_path, tmp_path / "ours"])
    assert offline.num_transitions == 596 + offline.files[1].valid_rows.numel()
    batch = offline.sample(4000, torch.Generator().manual_seed(0))
    ours = {tuple(np.round(o, 5)) for o in rb.observation[0].numpy()}
    from_ours = sum(tuple(np.round(o, 5)) in ours for o in batch.observation.numpy())
    share = offline.files[1].valid_rows.numel() / offline.num_transitions
    assert abs(from_ours / 4000 - share) < 0.03


def test_observation_statistics_cover_every_transition_of_every_file(tmp_path):
    """Rows 0-3 of each file start a transition (row 4 is LAST): dimension 0 holds 0..3 in one file
    and 4..7 in the other, dimension 1 twice that, dimension 2 is constant."""
    paths = []
    for i, offset in enumerate([0.0, 4.0]):
        fields = good_fields()
        t = torch.arange(5.0)
        fields["time_step|observation"] = torch.stack([t + offset, 2 * (t + offset), torch.full((5,), 7.0)], -1)[None]
        paths.append(save_fields(tmp_path / f"f{i}", fields))
    mean, std = buffer.load_offline_buffer(paths).observation_mean_std()
    assert torch.allclose(mean, torch.tensor([3.5, 7.0, 7.0]))
    # population std of 0..7 is sqrt(5.25); a constant dimension gets the 1e-3 floor
    assert torch.allclose(std, torch.tensor([5.25**0.5, 2 * 5.25**0.5, 0.0]) + 1e-3)


def dict_obs_file(path):
    E, T = 2, 6
    st = torch.tensor([[FIRST, MID, MID, LAST, FIRST, MID]] * E, dtype=torch.int32)
    algorithm = {
        "time_step|step_type": st, "time_step|reward": torch.arange(E * T, dtype=torch.float32).view(E, T),
        "time_step|discount": torch.ones(E, T),
        "time_step|observation|position": torch.randn(E, T, 2),
        "time_step|observation|sensors|speed": torch.randn(E, T, 1),
        "action": torch.rand(E, T, 1) * 2 - 1,
        "_current_size": torch.tensor([T, T]), "_current_pos": torch.tensor([T, T]),
    }
    torch.save({"algorithm": {buffer.PREFIX + k: v for k, v in algorithm.items()}}, path)
    return algorithm


def test_dict_observations_load_as_dicts(tmp_path):
    dict_obs_file(tmp_path / "dict_buffer")
    offline = buffer.load_offline_buffer(tmp_path / "dict_buffer")  # no rollout_info, no meta: still loads
    assert offline.observation_shape == {"position": (2,), "sensors": {"speed": (1,)}}
    assert offline.num_transitions == 2 * 4  # rows 0-1, 1-2, 2-3, 4-5 of each env
    b = offline.sample(64, torch.Generator().manual_seed(0))
    assert b.observation["position"].shape == (64, 2) and b.next_observation["sensors"]["speed"].shape == (64, 1)
    space = gym.spaces.Dict({"position": gym.spaces.Box(-5, 5, (2,)),
                             "sensors": gym.spaces.Dict({"speed": gym.spaces.Box(-5, 5, (1,))})})
    offline.check_spaces(space, gym.spaces.Box(-1, 1, (1,)))
    # the online buffer takes dict observations too and writes the same keys
    rb = buffer.ReplayBuffer(1, 8, space, gym.spaces.Box(-1, 1, (1,)))
    for k in range(5):
        rb.add(space.sample(), [[0.5]], [1.0], [False], [k == 3])
    keys = set(rb.state_dict()["algorithm"])
    assert {buffer.PREFIX + "time_step|observation|position",
            buffer.PREFIX + "time_step|observation|sensors|speed"} <= keys
    assert rb.sample(16).observation["sensors"]["speed"].shape == (16, 1)


# --- key order: ALF's offline loader takes the fields by position -------------------------------


def saved_keys(path):
    """The keys of a file's "algorithm" dict, in the order they were saved."""
    return list(torch.load(path, weights_only=True)["algorithm"])


def assert_alf_key_order(path, alf_path):
    ours, alfs = saved_keys(path), saved_keys(alf_path)
    assert ours[:2] == [buffer.PREFIX + "_current_size", buffer.PREFIX + "_current_pos"]
    assert set(ours) <= set(alfs)  # every key we write is one of ALF's (it also has the action distribution)
    assert ours == [key for key in alfs if key in ours]


def test_online_buffer_file_has_alfs_key_order(tmp_path, alf_buffer_path):
    envs = make_envs(2, max_steps=9)
    rb = buffer.ReplayBuffer(2, 20, envs.single_observation_space, envs.single_action_space)
    rollout(rb, envs, 12)
    rb.save(tmp_path / "b")
    assert_alf_key_order(tmp_path / "b", alf_buffer_path)
    restored = buffer.ReplayBuffer(2, 20, envs.single_observation_space, envs.single_action_space)
    restored.load_state_dict(torch.load(tmp_path / "b", weights_only=True))
    assert restored.pos == 12 and torch.equal(restored.observation, rb.observation)


def test_collected_file_has_alfs_key_order(tmp_path, alf_buffer_path):
    path = tmp_path / "ckpt-50-replay_buffer"
    assert collect.main(["--env-id", "Pendulum-v1", "--source", "random", "--num-steps", "50",
                         "--output", str(path), "--reference-episodes", "1"]) == 0
    assert_alf_key_order(path, alf_buffer_path)
    assert buffer.load_offline_buffer(path).num_transitions == 49


@pytest.mark.parametrize("name", ["pendulum_expert", "pendulum_mixed"])
def test_bundled_files_have_alfs_key_order(name, alf_buffer_path):
    assert_alf_key_order(buffer.find_buffer_file(ROOT / "data" / name), alf_buffer_path)


def test_dict_observation_keys_are_sorted_by_path_not_by_string(tmp_path):
    """"a|c" comes before "a_b" (per level, "a" < "a_b"), though as strings "_" < "|"."""
    space = gym.spaces.Dict({"a_b": gym.spaces.Box(-1, 1, (1,)),
                             "a": gym.spaces.Dict({"c": gym.spaces.Box(-1, 1, (2,))})})
    rb = buffer.ReplayBuffer(1, 8, space, gym.spaces.Box(-1, 1, (1,)))
    for _ in range(3):
        rb.add(space.sample(), [[0.5]], [1.0], [False], [False])
    rb.save(tmp_path / "b")
    assert saved_keys(tmp_path / "b") == [buffer.PREFIX + key for key in [
        "_current_size", "_current_pos", "action", "rollout_info|rl|action", "time_step|discount",
        "time_step|env_id", "time_step|observation|a|c", "time_step|observation|a_b", "time_step|prev_action",
        "time_step|reward", "time_step|step_type"]]
    offline = buffer.load_offline_buffer(tmp_path / "b")
    assert offline.observation_shape == {"a": {"c": (2,)}, "a_b": (1,)} and offline.num_transitions == 2


# --- reference returns for normalized scores ----------------------------------------------------


def test_reference_returns_the_buffers_own_first_then_the_table():
    own = {"random": -1000.0, "expert": -100.0}
    assert buffer.reference_returns("Pendulum-v1", {"reference_returns": own}) == (
        own, "the offline buffer's reference returns")
    # D4RL's for the locomotion tasks, any version; also where the buffer's own are incomplete or equal
    half_cheetah = {"random": -280.178953, "expert": 12135.0}
    assert buffer.reference_returns("HalfCheetah-v5", None) == (
        half_cheetah, "D4RL's reference returns for HalfCheetah")
    for unusable in [{"random": -5.0}, {"random": 3.0, "expert": 3.0}]:
        assert buffer.reference_returns("HalfCheetah-v4", {"reference_returns": unusable})[0] == half_cheetah
    refs, source = buffer.reference_returns("Hopper-v4", {"env_id": "Hopper-v4"})
    assert refs == {"random": -20.272305, "expert": 3234.3} and "D4RL" in source
    # Pendulum-v1: the bundled expert buffer's, as collect.py measured them
    bundled = torch.load(ROOT / "data" / "pendulum_expert" / "ckpt-10000-replay_buffer", weights_only=True)["meta"]
    refs, source = buffer.reference_returns("Pendulum-v1", None)
    assert refs == bundled["reference_returns"] and "data/pendulum_expert" in source
    assert buffer.normalized_score(refs["expert"], {"reference_returns": refs}) == pytest.approx(100.0)
    for unknown in ["CartPole-v1", "Pendulum-v0"]:
        assert buffer.reference_returns(unknown, {"env_id": unknown}) == (
            None, f"no reference returns known for {unknown}: normalized_score is null")


def test_normalized_score_from_meta():
    meta = {"reference_returns": {"random": -1200.0, "expert": -200.0}}
    assert buffer.normalized_score(-700.0, meta) == pytest.approx(50.0)
    assert buffer.normalized_score(-700.0, None) is None
    assert buffer.normalized_score(-700.0, {"reference_returns": {"random": -1200.0}}) is None
    assert buffer.normalized_score(-700.0, {"reference_returns": {"random": 1.0, "expert": 1.0}}) is None


# --- bad input: one specific error each, naming the file and the field -------------------------


def good_fields():
    E, T = 1, 5
    return {
        "time_step|step_type": torch.tensor([[FIRST, MID, MID, MID, LAST]], dtype=torch.int32),
        "time_step|reward": torch.zeros(E, T), "time_step|discount": torch.ones(E, T),
        "time_step|observation": torch.zeros(E, T, 3), "action": torch.zeros(E, T, 1),
        "_current_size": torch.tensor([T]), "_current_pos": torch.tensor([T]),
    }


def save_fields(path, fields, meta=None):
    checkpoint = {"algorithm": {buffer.PREFIX + k: v for k, v in fields.items()}}
    if meta is not None:
        checkpoint["meta"] = meta
    torch.save(checkpoint, path)
    return path


def corrupt(name):
    fields = good_fields()
    if name == "missing_key":
        del fields["time_step|discount"]
    elif name == "leading_dims":
        fields["time_step|reward"] = torch.zeros(1, 4)
    elif name == "step_type":
        fields["time_step|step_type"][0, 2] = 7
    elif name == "nan_reward":
        fields["time_step|reward"][0, 2] = float("nan")
    elif name == "inf_observation":
        fields["time_step|observation"][0, 1, 0] = float("inf")
    elif name == "no_transition":
        fields["time_step|step_type"] = torch.full((1, 5), LAST, dtype=torch.int32)
    elif name == "unscaled_action":
        fields["action"][0, 1] = 2.0
    return fields


BAD = {
    "missing_key": "missing field(s) _replay_buffer.time_step|discount",
    "leading_dims": "'_replay_buffer.time_step|reward' has leading dimensions (1, 4), expected [1, 5]",
    "step_type": "'_replay_buffer.time_step|step_type' holds 7",
    "nan_reward": "'_replay_buffer.time_step|reward' holds NaN or infinite",
    "inf_observation": "'_replay_buffer.time_step|observation' holds NaN or infinite",
    "no_transition": "no valid transition",
    "unscaled_action": "'_replay_buffer.action' holds values up to 2",
}


def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "buffer.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_fields_raise_named_errors(tmp_path, name):
    path = save_fields(tmp_path / f"{name}_buffer", corrupt(name))
    with pytest.raises(BufferError) as e:
        buffer.load_offline_buffer(path)
    assert str(path) in str(e.value) and BAD[name] in str(e.value)


def test_bad_files_raise_named_errors(tmp_path):
    good = save_fields(tmp_path / "good", good_fields())
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good.read_bytes()[:300])
    pickled = tmp_path / "pickled"
    torch.save({"algorithm": {"x": buffer.Batch}}, pickled)  # a class: needs unpickling of code
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = {tmp_path / "nope": "no such file", truncated: "not a torch checkpoint \\(zip\\) or truncated",
             pickled: "objects other than tensors", empty_dir: "holds no ckpt-<step>-replay_buffer"}
    for path, message in cases.items():
        with pytest.raises(BufferError, match=message):
            buffer.load_offline_buffer(path)


def test_a_file_that_is_not_a_zip_is_said_in_our_words(tmp_path):
    text = tmp_path / "text"
    text.write_text("not a checkpoint, just text\n")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for path, what in [(text, "it starts with b'not a checkpoint'"), (empty, "it is empty")]:
        with pytest.raises(BufferError) as e:
            buffer.load_offline_buffer(path)
        assert str(e.value) == f"{path}: not a buffer file or checkpoint (not a torch.save zip archive; {what})"


def test_space_mismatch_names_the_field(tmp_path):
    offline = buffer.load_offline_buffer(save_fields(tmp_path / "b", good_fields()))
    with pytest.raises(BufferError, match="observations of shape \\(3,\\), the env's are \\(4,\\)"):
        offline.check_spaces(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Box(-1, 1, (1,)))
    with pytest.raises(BufferError, match="actions of shape \\(1,\\), the env's are \\(2,\\)"):
        offline.check_spaces(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,)))


def test_space_mismatch_names_the_buffers_env(tmp_path):
    fields = good_fields()
    fields["time_step|observation"] = torch.zeros(1, 5, 2)
    path = save_fields(tmp_path / "b", fields, meta={"env_id": "MountainCarContinuous-v0"})
    offline = buffer.load_offline_buffer(path)
    pendulum = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (1,))
    field = "field '_replay_buffer.time_step|observation' holds observations of shape (2,), the env's are (3,)"
    with pytest.raises(BufferError) as e:
        offline.check_spaces(*pendulum, env_id="Pendulum-v1")
    assert str(e.value) == f"{path}: a buffer for MountainCarContinuous-v0 (meta env_id), not Pendulum-v1: {field}"
    # without the env's id (as the scripts call it today), or for the same id, the message is the field's alone
    for env_id in [None, "MountainCarContinuous-v0"]:
        with pytest.raises(BufferError) as e:
            offline.check_spaces(*pendulum, env_id=env_id)
        assert str(e.value) == f"{path}: {field}"
    # another env id with the same shapes is no error (a Pendulum-v0 buffer for Pendulum-v1)
    old = save_fields(tmp_path / "v0", good_fields(), meta={"env_id": "Pendulum-v0"})
    buffer.load_offline_buffer(old).check_spaces(*pendulum, env_id="Pendulum-v1")


def test_cli_validate_and_info(tmp_path):
    good = save_fields(tmp_path / "good", good_fields())
    bad = save_fields(tmp_path / "bad", corrupt("nan_reward"))
    ok = run_cli("validate", good)
    assert ok.returncode == 0 and "4 transitions" in ok.stdout
    for args in [("validate", good, bad), ("info", bad), ("info", tmp_path / "missing")]:
        result = run_cli(*args)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr
    info = json.loads(run_cli("info", good, "--json").stdout)
    assert {"rows", "episodes", "transitions", "return_mean", "return_min", "return_max",
            "observation_shape", "action_shape", "meta"} <= set(info)
    assert (info["rows"], info["episodes"], info["transitions"]) == (5, 1, 4)
    assert info["observation_shape"] == [3] and info["action_shape"] == [1]


def test_resume_cut_never_joins_two_episodes():
    envs = make_envs(1, max_steps=50)
    rb = buffer.ReplayBuffer(1, 30, envs.single_observation_space, envs.single_action_space)
    rollout(rb, envs, 10)  # mid-episode
    rb.end_episodes()  # as after a resume: the envs are reset, the next row is a new FIRST
    assert rb.step_type[0, 9] == LAST
    obs, _ = envs.reset(seed=5)
    rb.add(obs, envs.action_space.sample(), [0.0], [False], [False])
    assert rb.step_type[0, 10] == FIRST


def test_sampling_is_seeded(alf_buffer_path):
    offline = buffer.load_offline_buffer(alf_buffer_path)
    a = offline.sample(32, torch.Generator().manual_seed(3))
    b = offline.sample(32, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_saved_file_holds_only_written_rows(tmp_path):
    envs = make_envs(2, max_steps=9)
    rb = buffer.ReplayBuffer(2, 100_000, envs.single_observation_space, envs.single_action_space)
    rollout(rb, envs, 30)
    rb.save(tmp_path / "b")
    assert (tmp_path / "b").stat().st_size < 50_000  # 60 rows, not 200,000
    restored = buffer.ReplayBuffer(2, 100_000, envs.single_observation_space, envs.single_action_space)
    restored.load_state_dict(torch.load(tmp_path / "b", weights_only=True))
    assert restored.pos == 30 and torch.equal(restored.observation, rb.observation)
    assert torch.equal(restored.step_type, rb.step_type) and torch.equal(restored.prev_action, rb.prev_action)
