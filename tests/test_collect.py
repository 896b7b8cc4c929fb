"""collect.py: scripted experts, collected buffers and their meta, policies, Minari round trips, bad input."""
import subprocess
import sys
import warnings

import gymnasium as gym
import minari
import numpy as np
import pytest
import torch
from minari.data_collector import EpisodeBuffer

import buffer
import collect
from buffer import FIRST, LAST, MID
from conftest import ROOT

DATA = ROOT / "data"
MINARI_DOWNLOAD = minari.download_dataset  # the real one: the fixture below replaces it in every test


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch):
    """Every test gets its own Minari root: nothing is read from ~/.minari or downloaded."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))

    def no_network(dataset_id):
        raise AssertionError(f"a test asked Minari to download {dataset_id}")
    monkeypatch.setattr(minari, "download_dataset", no_network)
    return root


def run(*args, reference_episodes=2):
    """collect.py's main in this process (few reference episodes); returns the exit code, output via capsys."""
    return collect.main([*map(str, args), "--reference-episodes", str(reference_episodes)])


def load(path):
    """Rows of a one-file buffer in ring order, per env: step_type, reward, discount, observation, action."""
    f = buffer.load_offline_buffer(path).files[0]
    rows = [f.ring_rows[e][f.held[e]] for e in range(len(f.ring_rows))]

    def pick(x):
        return [x[r].numpy() for r in rows]

    return f, dict(step_type=pick(f.rows.step_type), reward=pick(f.rows.reward), discount=pick(f.rows.discount),
                   observation=pick(f.rows.observation), action=pick(f.rows.action))


def transitions(f):
    """Every transition of a loaded buffer file as hashable tuples (obs, action, reward, next_obs, discount)."""
    b = f.batch(torch.arange(len(f.valid_rows)))
    columns = [b.observation, b.action, b.reward[:, None], b.next_observation, b.discount[:, None]]
    return {tuple(np.hstack(row).tolist()) for row in zip(*(c.numpy() for c in columns))}


# --- scripted experts --------------------------------------------------------------------------


def test_pendulum_expert_beats_minus_200_and_random_stays_below_minus_900():
    envs = collect.make_envs("Pendulum-v1", 5)
    assert collect.mean_return(envs, collect.pendulum_expert, 30, seed=0) > -200
    assert collect.mean_return(envs, None, 30, seed=0) < -900


def test_mountain_car_expert_reaches_the_goal_every_episode():
    envs = collect.make_envs("MountainCarContinuous-v0", 4)
    returns, _ = collect.play(envs, collect.mountain_car_expert, seed=3, episodes_per_env=2)
    assert len(returns) == 8 and min(returns) > 0  # +100 at the goal; without it a return is <= 0


# --- collected buffers -------------------------------------------------------------------------


def test_collected_buffer_validates_and_counts(tmp_path):
    path = tmp_path / "random" / "ckpt-900-replay_buffer"
    result = subprocess.run([sys.executable, str(ROOT / "collect.py"), "--source", "random", "--num-envs", "2",
                             "--num-steps", "900", "--output", str(path), "--reference-episodes", "2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    info = buffer.buffer_info([str(path)])
    # per env 450 rows: episodes at rows 0..200 and 201..401 (reset row + 200 steps), then 48 rows of a third
    assert (info["rows"], info["episodes"], info["transitions"]) == (900, 4, 894)
    meta = info["meta"]
    assert meta["counts"] == {"rows": 900, "transitions": 894, "episodes": 4, "random_episodes": 4}
    assert (meta["env_id"], meta["source"], meta["seed"], meta["num_steps"]) == ("Pendulum-v1", "random", 1, 900)
    assert (meta["action_noise"], meta["random_fraction"]) == (0.0, 0.0)
    assert meta["action_space"]["low"] == [-1.0] and meta["action_space"]["high"] == [1.0]
    refs = meta["reference_returns"]
    assert refs["random"] < -900 and refs["expert"] > -400  # Pendulum has a scripted expert
    _, rows = load(path)
    for st in rows["step_type"]:
        assert st[[0, 200, 201, 401, 402]].tolist() == [FIRST, LAST, FIRST, LAST, FIRST]
        assert (st[1:200] == MID).all()
    assert all(np.abs(a).max() <= 1 for a in rows["action"])


def test_same_seed_same_tensors_and_quality_mix(tmp_path, capsys):
    args = ["--num-steps", "804", "--random-fraction", "0.5", "--action-noise", "0.2"]
    for name, seed in [("a", 7), ("b", 7), ("c", 8)]:
        assert run(*args, "--seed", seed, "--output", tmp_path / name) == 0
    a, b, c = (torch.load(tmp_path / name, weights_only=True)["algorithm"] for name in "abc")
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not torch.equal(a["_replay_buffer.action"], c["_replay_buffer.action"])
    meta = torch.load(tmp_path / "a", weights_only=True)["meta"]
    assert meta["counts"]["episodes"] == 4 and meta["counts"]["random_episodes"] == 2  # episodes 1 and 3
    assert (meta["action_noise"], meta["random_fraction"]) == (0.2, 0.5)
    # episode 0 is the expert's with noise, episode 1 uniform random
    _, rows = load(tmp_path / "a")
    obs, act = rows["observation"][0], rows["action"][0]
    noise = act[0:200] - np.clip(collect.pendulum_expert(obs[0:200]), -1, 1)
    assert 0.05 < np.abs(noise).mean() < 0.3
    assert np.abs(act[201:401] - collect.pendulum_expert(obs[201:401])).mean() > 0.5


def test_scripted_mountain_car_buffer_ends_every_episode_at_the_goal(tmp_path, capsys):
    path = tmp_path / "mc"
    assert run("--env-id", "MountainCarContinuous-v0", "--num-steps", "600", "--output", path,
               reference_episodes=1) == 0
    _, rows = load(path)
    last = rows["step_type"][0] == LAST
    assert last.sum() >= 4 and (rows["discount"][0][last] == 0).all()  # terminated: the car reached the flag


# --- a saved policy ------------------------------------------------------------------------------


def export_policy(path, in_dim, out_dim):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(in_dim, 16), torch.nn.Tanh(), torch.nn.Linear(16, out_dim),
                                 torch.nn.Tanh())
    program = torch.export.export(module, (torch.zeros(2, in_dim),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, path)
    return module


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    good = export_policy(root / "policy.pt", 3, 1)
    export_policy(root / "two_actions.pt", 3, 2)
    return root, good


def test_policy_file_collects_its_actions(tmp_path, policies, capsys):
    root, module = policies
    path = tmp_path / "from_policy"
    assert run("--source", "policy", "--policy", root / "policy.pt", "--num-envs", "2", "--num-steps", "500",
               "--output", path) == 0
    _, rows = load(path)
    for st, obs, act in zip(rows["step_type"], rows["observation"], rows["action"]):
        with torch.no_grad():
            expected = module(torch.as_tensor(obs)).numpy()
        assert np.allclose(act[st != LAST], expected[st != LAST], atol=1e-6)
    meta = torch.load(path, weights_only=True)["meta"]
    assert meta["source"] == "policy" and meta["policy"] == str(root / "policy.pt")


# --- Minari --------------------------------------------------------------------------------------


def write_minari_dataset(dataset_id, episodes, env, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # author, permalink and eval_env not given
        minari.create_dataset_from_buffers(dataset_id, episodes, env=env, algorithm_name="test", author="test",
                                           author_email="test", code_permalink="test", description="test", **kwargs)


def make_minari_dataset(dataset_id, env_id, lengths, terminated, record_env=True):
    """A small dataset written with Minari's own API: random data in the env's spaces (recorded without the
    env itself, only its spaces, unless record_env)."""
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    episodes = []
    for i, (steps, term) in enumerate(zip(lengths, terminated)):
        obs = rng.uniform(-1, 1, (steps + 1, *env.observation_space.shape)).astype(np.float32)
        actions = rng.uniform(env.action_space.low, env.action_space.high,
                              (steps, *env.action_space.shape)).astype(np.float32)
        ends = np.arange(steps) == steps - 1
        episodes.append(EpisodeBuffer(id=i, observations=obs, actions=actions,
                                      rewards=rng.normal(size=steps).astype(np.float32),
                                      terminations=ends & term, truncations=ends & (not term)))
    write_minari_dataset(dataset_id, episodes, env_id if record_env else None,
                         **({} if record_env else dict(observation_space=env.observation_space,
                                                       action_space=env.action_space)))
    return episodes


def test_minari_dataset_converts_exactly(tmp_path, minari_root, capsys):
    episodes = make_minari_dataset("test/pendulum-v0", "Pendulum-v1", [5, 1, 7], [False, True, False])
    expected = {tuple(np.hstack([ep.observations[t], ep.actions[t] / 2, ep.rewards[t], ep.observations[t + 1],
                                 0.0 if ep.terminations[t] else 1.0]).astype(np.float32).tolist())
                for ep in episodes for t in range(len(ep.rewards))}
    # by id under the Minari root, and by directory
    for name, dataset in [("by_id", "test/pendulum-v0"), ("by_dir", minari_root / "test" / "pendulum-v0")]:
        assert run("--source", "minari", "--dataset", dataset, "--output", tmp_path / name) == 0
        f, rows = load(tmp_path / name)
        assert rows["step_type"][0].tolist() == [FIRST, MID, MID, MID, MID, LAST, FIRST, LAST,
                                                 FIRST, MID, MID, MID, MID, MID, MID, LAST]
        assert transitions(f) == expected
        assert (rows["action"][0][rows["step_type"][0] == LAST] == 0).all()
        meta = torch.load(tmp_path / name, weights_only=True)["meta"]
        assert meta["source"] == "minari" and meta["counts"]["episodes"] == 3


def test_buffer_to_minari_and_back(tmp_path, minari_root, capsys):
    path = tmp_path / "expert"
    other_root = tmp_path / "other_root"
    assert run("--num-envs", "2", "--num-steps", "500", "--output", path, "--to-minari", "test/ours-v0",
               "--minari-root", other_root) == 0
    assert "2 episodes; 2 incomplete episode(s)" in capsys.readouterr().out  # per env one of 201 rows, one cut off
    assert not minari_root.exists()
    f, rows = load(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(other_root))
        dataset = minari.load_dataset("test/ours-v0")
        assert dataset.spec.env_spec.id == "Pendulum-v1" and dataset.total_episodes == 2
        for env, ep in enumerate(dataset.iterate_episodes()):
            assert np.array_equal(ep.observations, rows["observation"][env][:201])
            assert np.array_equal(ep.actions, rows["action"][env][:200] * 2)  # the env's own scale
            assert np.array_equal(ep.rewards, rows["reward"][env][1:201])
            assert not ep.terminations.any() and ep.truncations.tolist() == [False] * 199 + [True]
        refs = torch.load(path, weights_only=True)["meta"]["reference_returns"]
        assert dataset.storage.metadata["ref_max_score"] == pytest.approx(refs["expert"])
        # and back: the same transitions as the buffer's complete episodes
        assert run("--source", "minari", "--dataset", "test/ours-v0", "--output", tmp_path / "back") == 0
    back, _ = load(tmp_path / "back")
    assert len(transitions(back)) == 400 and transitions(back) <= transitions(f)


HOPPER_REFS = {"random": -20.272305, "expert": 3234.3}  # D4RL's reference returns of hopper


@pytest.fixture
def hopper_dataset():
    """mujoco/hopper/medium-v0 in the test's Minari root: two short Hopper-v5 episodes (6 and 9 random steps,
    truncated) with reference scores, written by Minari's own API."""
    env = gym.make("Hopper-v5")
    env.action_space.seed(0)
    episodes = []
    for i, steps in enumerate([6, 9]):
        obs, rewards, terminations = [env.reset(seed=i)[0]], [], []
        actions = [env.action_space.sample() for _ in range(steps)]
        for action in actions:
            o, r, term, _, _ = env.step(action)
            obs.append(o), rewards.append(r), terminations.append(term)
        assert not any(terminations)  # a few random steps never make Hopper fall
        episodes.append(EpisodeBuffer(id=i, observations=np.array(obs), actions=np.array(actions),
                                      rewards=np.array(rewards), terminations=np.array(terminations),
                                      truncations=np.arange(steps) == steps - 1))
    write_minari_dataset("mujoco/hopper/medium-v0", episodes, "Hopper-v5", ref_min_score=HOPPER_REFS["random"],
                         ref_max_score=HOPPER_REFS["expert"])
    return episodes


def test_minari_hopper_keeps_its_reference_scores(tmp_path, hopper_dataset, capsys):
    path = tmp_path / "hopper"
    assert run("--env-id", "Hopper-v5", "--source", "minari", "--dataset", "mujoco/hopper/medium-v0",
               "--output", path) == 0
    meta = torch.load(path, weights_only=True)["meta"]
    assert meta["reference_returns"] == HOPPER_REFS  # the dataset's own, not measured here
    assert meta["counts"] == {"rows": 17, "transitions": 15, "episodes": 2, "random_episodes": 0}
    _, rows = load(path)
    assert rows["step_type"][0].tolist() == [FIRST] + [MID] * 5 + [LAST] + [FIRST] + [MID] * 8 + [LAST]
    observations = np.concatenate([ep.observations for ep in hopper_dataset])
    rewards = np.concatenate([np.r_[0.0, ep.rewards] for ep in hopper_dataset])
    assert np.allclose(rows["observation"][0], observations) and np.allclose(rows["reward"][0], rewards)


def test_minari_dataset_of_another_env_is_refused(tmp_path, hopper_dataset, capsys):
    assert run("--env-id", "HalfCheetah-v5", "--source", "minari", "--dataset", "mujoco/hopper/medium-v0",
               "--output", tmp_path / "x") == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --dataset mujoco/hopper/medium-v0: made in Hopper-v5, not in --env-id HalfCheetah-v5"]
    assert not (tmp_path / "x").exists()


def test_dataset_not_local_without_network(tmp_path, monkeypatch, capsys):
    import httpx2  # what minari.download_dataset raises here without a network (after ~25 s of retries)

    def offline(dataset_id):
        asked.append(dataset_id)
        raise httpx2.ConnectError("[Errno -2] Name or service not known")
    asked = []
    monkeypatch.setattr(minari, "download_dataset", offline)
    args = ["--env-id", "Hopper-v5", "--source", "minari", "--dataset", "mujoco/hopper/medium-v0",
            "--output", tmp_path / "x"]
    assert run(*args) == 2 and asked == []
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "not in the local Minari root" in err[0] and "--download fetches it" in err[0]
    assert run(*args, "--download") == 2 and asked == ["mujoco/hopper/medium-v0"]
    assert capsys.readouterr().err.splitlines() == [
        "error: --dataset mujoco/hopper/medium-v0: could not be downloaded ([Errno -2] Name or service not known)"]
    assert not (tmp_path / "x").exists()


def test_download_without_a_server_is_one_line_not_the_retries(tmp_path, monkeypatch, capsys):
    """Minari's real download, against a loopback port where nothing listens (as without a network here):
    huggingface_hub warns on each of its retries; the user sees only our error line."""
    import time

    from huggingface_hub import constants
    from huggingface_hub.utils import logging as hf_logging
    monkeypatch.setattr(minari, "download_dataset", MINARI_DOWNLOAD)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # its back-off between retries
    assert run("--env-id", "Hopper-v5", "--source", "minari", "--dataset", "mujoco/hopper/medium-v0", "--download",
               "--output", tmp_path / "x") == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == ["downloading mujoco/hopper/medium-v0 from the Minari server"]
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: --dataset mujoco/hopper/medium-v0: could not be downloaded (")
    assert not (tmp_path / "x").exists()
    assert hf_logging.get_verbosity() == hf_logging.WARNING  # silenced for the download only


def test_download_then_converts(tmp_path, monkeypatch, capsys):
    def download(dataset_id):  # as Minari's does: the dataset lands under the Minari root
        asked.append(dataset_id)
        make_minari_dataset(dataset_id, "Pendulum-v1", [4, 3], [False, False])
    asked = []
    monkeypatch.setattr(minari, "download_dataset", download)
    for name in ["first", "again"]:  # the second time it is local: not downloaded again
        assert run("--source", "minari", "--dataset", "test/pendulum-v0", "--download", "--output",
                   tmp_path / name) == 0
        assert torch.load(tmp_path / name, weights_only=True)["meta"]["counts"]["rows"] == 9
    assert asked == ["test/pendulum-v0"]


@pytest.mark.parametrize("message", [
    'MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`',  # gymnasium 1.4.0's
    "No module named 'mujoco'. (HINT: you need to install mujoco, run `pip install \"gymnasium[mujoco]\"`.)"])
def test_env_without_its_dependency_says_what_to_install(tmp_path, monkeypatch, capsys, message):
    def make(*args, **kwargs):
        raise gym.error.DependencyNotInstalled(message)
    monkeypatch.setattr(gym, "make", make)
    assert run("--env-id", "Hopper-v5", "--source", "random", "--output", tmp_path / "x") == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --env-id Hopper-v5: ")
    assert 'pip install "gymnasium[mujoco]"' in err[0]


# --- bad input: exit code 2 and one line on stderr ----------------------------------------------


def bad_cases(tmp_path, policies):
    root, _ = policies
    make_minari_dataset("test/car-v0", "MountainCarContinuous-v0", [3], [True])
    make_minari_dataset("test/car_spaces-v0", "MountainCarContinuous-v0", [3], [True], record_env=False)
    return {
        "unknown_expert": (["--env-id", "CartPole-v1"],
                           "--env-id CartPole-v1: no scripted expert; there is one for MountainCarContinuous-v0, "
                           "Pendulum-v1"),
        "discrete_env": (["--env-id", "CartPole-v1", "--source", "random"], "is not a bounded Box"),
        "missing_policy": (["--source", "policy", "--policy", tmp_path / "nope.pt"], "nope.pt: no such file"),
        "not_a_policy": (["--source", "policy", "--policy", ROOT / "buffer.py"], "not a program saved by torch.export"),
        "policy_actions": (["--source", "policy", "--policy", root / "two_actions.pt"],
                           "returns actions of shape [1, 2], the env's are [1, 1]"),
        "policy_observations": (["--source", "policy", "--policy", root / "policy.pt", "--env-id",
                                 "MountainCarContinuous-v0"], "does not take observations of shape [1, 2]"),
        "minari_env": (["--source", "minari", "--dataset", "test/car-v0"],
                       "--dataset test/car-v0: made in MountainCarContinuous-v0, not in --env-id Pendulum-v1"),
        "minari_spaces": (["--source", "minari", "--dataset", "test/car_spaces-v0"],
                          "--dataset test/car_spaces-v0: observation space Box"),
        "minari_missing": (["--source", "minari", "--dataset", "test/nothing-v0"],
                           "--dataset test/nothing-v0: not in the local Minari root"),
        "minari_malformed": (["--source", "minari", "--dataset", "mujoco/hopper/medium"],
                             "--dataset mujoco/hopper/medium: not a Minari dataset id"),
        "to_minari_malformed": (["--to-minari", "pendulum/expert"],
                                "--to-minari pendulum/expert: not a Minari dataset id"),
        "download_not_minari": (["--source", "random", "--download"], "--download applies to --source minari"),
    }


def test_bad_inputs_exit_2_with_one_line(tmp_path, policies, capsys):
    for name, (args, message) in bad_cases(tmp_path, policies).items():
        capsys.readouterr()
        assert run(*args, "--output", tmp_path / name) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and message in err, (name, err)
        assert not (tmp_path / name).exists()


def test_bad_input_from_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "collect.py"), "--env-id", "Nope-v0", "--output",
                             str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["error: --env-id Nope-v0: no scripted expert; there is one for "
                                                  "MountainCarContinuous-v0, Pendulum-v1"]


# --- the shipped data ----------------------------------------------------------------------------


def test_shipped_data_validates():
    expert = buffer.buffer_info([str(DATA / "pendulum_expert")])
    mixed = buffer.buffer_info([str(DATA / "pendulum_mixed")])
    for info in (expert, mixed):
        assert info["rows"] == 10000 and info["meta"]["env_id"] == "Pendulum-v1"
        assert info["meta"]["counts"]["episodes"] == info["episodes"]
    refs = expert["meta"]["reference_returns"]
    assert expert["return_mean"] > -200 and abs(expert["return_mean"] - refs["expert"]) < 40
    assert mixed["meta"]["counts"]["random_episodes"] == mixed["episodes"] // 2
    assert refs["random"] < mixed["return_mean"] < expert["return_mean"]
    for path in ("pendulum_expert", "pendulum_mixed"):
        assert buffer.find_buffer_file(DATA / path).stat().st_size < 1_000_000


def test_policy_saved_by_a_training_run_collects(tmp_path, capsys):
    import hybrid_sac  # only to make the file: collect.py itself never imports a training script
    agent, run_dir = hybrid_sac.train(hybrid_sac.Args(
        run_dir=str(tmp_path / "run"), num_iterations=25, eval_interval=25, hidden_dim=32, batch_size=32,
        learning_starts=20, eval_episodes=1))
    path = tmp_path / "from_run"
    assert run("--source", "policy", "--policy", run_dir / "policy.pt", "--num-steps", "300",
               "--output", path) == 0
    _, rows = load(path)
    st, obs, act = rows["step_type"][0], rows["observation"][0], rows["action"][0]
    with torch.no_grad():
        expected = agent.actor.act(torch.as_tensor(obs)).numpy()
    assert np.allclose(act[st != LAST], expected[st != LAST], atol=1e-5)


def test_policy_distribution_of_a_training_run_samples_its_actions(tmp_path):
    """D4RL's datasets hold actions sampled from the policy: tanh(mean + std * z), z standard normal."""
    import hybrid_sac  # only to make the file
    agent, run_dir = hybrid_sac.train(hybrid_sac.Args(
        run_dir=str(tmp_path / "run"), num_iterations=25, eval_interval=25, hidden_dim=32, batch_size=32,
        learning_starts=20, eval_episodes=1))
    path = tmp_path / "sampled"
    assert run("--source", "policy", "--policy", run_dir / "policy_distribution.pt", "--num-steps", "400",
               "--output", path, "--reference-episodes", "1") == 0
    _, rows = load(path)
    keep = rows["step_type"][0] != LAST
    obs, act = torch.as_tensor(rows["observation"][0][keep]), torch.as_tensor(rows["action"][0][keep])
    with torch.no_grad():
        mean, log_std = agent.actor(obs)
    z = (torch.atanh(act.clamp(-1 + 1e-6, 1 - 1e-6)) - mean) / log_std.exp()
    assert abs(float(z.mean())) < 0.2 and 0.8 < float(z.std()) < 1.2  # deterministic actions give z = 0


def test_mujoco_data_gets_d4rls_reference_returns(tmp_path):
    pytest.importorskip("mujoco")
    path = tmp_path / "ckpt-30-replay_buffer"
    assert run("--env-id", "Hopper-v5", "--source", "random", "--num-steps", "30", "--output", path,
               "--reference-episodes", "1") == 0
    refs = torch.load(path, weights_only=True)["meta"]["reference_returns"]
    assert refs == buffer.D4RL_REFERENCE_RETURNS["Hopper"]
