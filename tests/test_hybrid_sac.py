"""hybrid_sac.py: every training mode reaches real gradient steps; ALF's loop semantics; resume;
bad input; and it learns Pendulum."""
import copy
import json
import shutil
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import buffer
import hybrid_sac
from conftest import ROOT

SMALL = dict(hidden_dim=32, batch_size=32, learning_starts=20, eval_episodes=1, log_interval=10)


def small_args(tmp_path, name="run", **overrides):
    return hybrid_sac.Args(run_dir=str(tmp_path / name), **{**SMALL, **overrides})


@pytest.fixture
def recorder(monkeypatch):
    """Records, without changing them, the initial critics, every loss, and how many batches each
    buffer gave (online: the replay buffer; offline: the offline buffer)."""
    rec = {"initial_qf": [], "online": 0, "offline": 0, "losses": []}
    init = hybrid_sac.Agent.__init__

    def record_init(self, *a, **k):
        init(self, *a, **k)
        rec["initial_qf"].append(copy.deepcopy(dict(self.qf.named_parameters())))

    def count(name, cls):
        sample = cls.sample

        def wrapped(self, *a, **k):
            rec[name] += 1
            return sample(self, *a, **k)
        monkeypatch.setattr(cls, "sample", wrapped)

    def record_loss(name):
        calc = getattr(hybrid_sac.Agent, name)

        def wrapped(self, info):
            loss, logs = calc(self, info)
            rec["losses"].append(loss.item())
            return loss, logs
        monkeypatch.setattr(hybrid_sac.Agent, name, wrapped)

    monkeypatch.setattr(hybrid_sac.Agent, "__init__", record_init)
    count("online", buffer.ReplayBuffer)
    count("offline", buffer.OfflineBuffer)
    record_loss("calc_loss")
    record_loss("calc_loss_offline")
    return rec


def critics_changed(rec, agent):
    return all(not torch.equal(before, after) for before, after in
               zip(rec["initial_qf"][-1].values(), agent.qf.parameters()))


def eval_lines(run_dir):
    return [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pendulum_buffer(tmp_path_factory):
    """A small offline buffer of random Pendulum-v1 data, written by the online buffer."""
    path = tmp_path_factory.mktemp("data") / "random_buffer"
    envs = gym.vector.SyncVectorEnv([hybrid_sac.make_env("Pendulum-v1")] * 2)
    rb = buffer.ReplayBuffer(2, 300, envs.single_observation_space, envs.single_action_space)
    obs, _ = envs.reset(seed=0)
    reward, term, trunc = np.zeros(2), np.zeros(2, bool), np.zeros(2, bool)
    envs.action_space.seed(0)
    for _ in range(300):
        action = envs.action_space.sample()
        rb.add(obs, action, reward, term, trunc)
        obs, reward, term, trunc, _ = envs.step(action)
    rb.save(path, buffer.make_meta("Pendulum-v1", envs.single_observation_space, envs.single_action_space,
                                   "random", reference_returns={"random": -1200.0, "expert": -150.0}))
    return path


def test_online_mode_reaches_gradient_steps(tmp_path, recorder):
    agent, run_dir = hybrid_sac.train(small_args(tmp_path, num_iterations=60, eval_interval=30))
    assert recorder["offline"] == 0 and recorder["online"] == 60 - 19  # from the 20th row on
    assert recorder["losses"] and all(np.isfinite(recorder["losses"]))
    assert critics_changed(recorder, agent)
    lines = eval_lines(run_dir)
    assert [line["iteration"] for line in lines] == [30, 60] and lines[-1]["env_steps"] == 60
    assert lines[-1]["normalized_score"] is None
    assert (run_dir / "train" / "algorithm" / "ckpt-60").exists() and (run_dir / "policy.pt").exists()


def test_hybrid_mode_trains_both_parts(tmp_path, recorder, pendulum_buffer):
    agent, run_dir = hybrid_sac.train(small_args(
        tmp_path, num_iterations=50, eval_interval=50, offline_buffer_dir=[str(pendulum_buffer)],
        rl_train_every_update_steps=3, utd_ratio=2))
    # offline part at every iteration; online every 3rd iteration once 20 rows are held (i >= 19)
    online_iterations = [i for i in range(50) if i % 3 == 0 and i + 1 >= 20]
    assert recorder["offline"] == 50 * 2 and recorder["online"] == len(online_iterations) * 2
    assert all(np.isfinite(recorder["losses"])) and critics_changed(recorder, agent)
    line = eval_lines(run_dir)[-1]
    assert line["env_steps"] == 50
    expected = 100 * (line["return_mean"] + 1200) / (-150 + 1200)
    assert line["normalized_score"] == pytest.approx(expected)


def test_pure_offline_takes_no_env_step(tmp_path, recorder, pendulum_buffer, monkeypatch):
    def no_step(self, action):
        raise AssertionError("an env was stepped for training in pure offline mode")
    monkeypatch.setattr(gym.vector.SyncVectorEnv, "step", no_step)
    agent, run_dir = hybrid_sac.train(small_args(
        tmp_path, num_iterations=40, eval_interval=40, offline_buffer_dir=[str(pendulum_buffer)],
        rl_train_after_update_steps=10**9))
    assert recorder["online"] == 0 and recorder["offline"] == 40
    assert all(np.isfinite(recorder["losses"])) and critics_changed(recorder, agent)
    # targets move in pure offline training too (ALF's don't)
    assert not torch.equal(agent.qf_target.weights[0], recorder["initial_qf"][-1]["weights.0"])
    assert eval_lines(run_dir)[-1]["env_steps"] == 0


def test_rl_train_after_update_steps_delays_the_envs(tmp_path, recorder, pendulum_buffer):
    hybrid_sac.train(small_args(tmp_path, num_iterations=60, eval_interval=60,
                                offline_buffer_dir=[str(pendulum_buffer)], rl_train_after_update_steps=25))
    # envs step from iteration 25 on; the online part trains once 20 rows are held: iterations 44..59
    assert eval_lines(tmp_path / "run")[-1]["env_steps"] == 35
    assert recorder["online"] == 16 and recorder["offline"] == 60


def test_saved_replay_buffer_feeds_a_second_run(tmp_path, recorder):
    _, first = hybrid_sac.train(small_args(tmp_path, "first", num_iterations=50, eval_interval=50,
                                           num_envs=2, save_buffer=True))
    saved = first / "train" / "algorithm" / "ckpt-50-replay_buffer"
    assert saved.exists()
    info = buffer.buffer_info([str(saved)])
    assert info["rows"] == 100 and info["meta"]["env_id"] == "Pendulum-v1"
    agent, second = hybrid_sac.train(small_args(tmp_path, "second", num_iterations=30, eval_interval=30,
                                                offline_buffer_dir=[str(first)], rl_train_after_update_steps=10**9))
    assert recorder["offline"] == 30 and critics_changed(recorder, agent)


def test_resume_continues_from_the_checkpoint(tmp_path, recorder):
    hybrid_sac.train(small_args(tmp_path, num_iterations=30, eval_interval=10, checkpoint_interval=20,
                                save_buffer=True))
    assert recorder["online"] == 30 - 19
    ckpt_dir = tmp_path / "run" / "train" / "algorithm"
    for name in ("ckpt-30", "ckpt-30-replay_buffer"):  # as if it had stopped before its last checkpoint
        (ckpt_dir / name).unlink()
    hybrid_sac.train(small_args(tmp_path, num_iterations=50, eval_interval=10, checkpoint_interval=20,
                                save_buffer=True, resume=str(tmp_path / "run")))
    assert recorder["online"] == 11 + 30  # the resumed run trained iterations 20..49 only
    lines = eval_lines(tmp_path / "run")
    assert [line["iteration"] for line in lines] == [10, 20, 30, 40, 50] and lines[-1]["env_steps"] == 50
    saved = torch.load(ckpt_dir / "ckpt-50-replay_buffer", weights_only=True)
    assert int(saved["algorithm"]["_replay_buffer._current_pos"][0]) == 50  # the buffer came back too
    assert torch.load(ckpt_dir / "ckpt-50", weights_only=True)["iteration"] == 50


def test_same_seed_same_result(tmp_path, pendulum_buffer):
    runs = [hybrid_sac.train(small_args(tmp_path, f"run{i}", num_iterations=40, eval_interval=20,
                                        offline_buffer_dir=[str(pendulum_buffer)]))[1] for i in range(2)]
    assert eval_lines(runs[0]) == eval_lines(runs[1])


def test_policy_file_runs_without_the_script(tmp_path):
    _, run_dir = hybrid_sac.train(small_args(tmp_path, num_iterations=25, eval_interval=25))
    code = ("import torch, sys; p = torch.export.load(sys.argv[1]).module(); "
            "a = p(torch.zeros(7, 3)); assert a.shape == (7, 1) and a.abs().max() <= 1; print('ok')")
    result = subprocess.run([sys.executable, "-c", code, str(run_dir / "policy.pt")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


def break_truncate(ckpt_file):
    ckpt_file.write_bytes(ckpt_file.read_bytes()[:500])


def break_other_file(ckpt_file):
    torch.save({"weights": torch.zeros(3)}, ckpt_file)


def break_networks(ckpt_file):  # as an older version's checkpoint, without one of today's tensors
    ckpt = torch.load(ckpt_file, weights_only=True)
    del ckpt["agent"]["actor.fc_mean.bias"]
    torch.save(ckpt, ckpt_file)


@pytest.mark.parametrize("damage, message", [
    (break_truncate, r"ckpt-20: not a torch checkpoint \(zip\) or truncated"),
    (break_other_file, "ckpt-20: not a checkpoint written by this script"),
    (break_networks, 'ckpt-20: does not fit this script\'s networks: .*Missing key.*"actor.fc_mean.bias"'),
])
def test_resume_from_a_damaged_checkpoint_is_one_clear_error(tmp_path, damage, message):
    hybrid_sac.train(small_args(tmp_path, num_iterations=20, eval_interval=20, checkpoint_interval=20))
    damage(tmp_path / "run" / "train" / "algorithm" / "ckpt-20")
    with pytest.raises((hybrid_sac.UsageError, buffer.BufferError), match=message):
        hybrid_sac.train(small_args(tmp_path, num_iterations=30, eval_interval=10, resume=str(tmp_path / "run")))


def run_script(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "hybrid_sac.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_mismatched_buffer_is_one_line_and_exit_2(tmp_path, pendulum_buffer):
    result = run_script("--env-id", "MountainCarContinuous-v0", "--offline-buffer-dir", pendulum_buffer,
                        "--num-iterations", "5", "--run-dir", tmp_path / "r", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {pendulum_buffer}: field '_replay_buffer.time_step|observation' holds observations of "
        f"shape (3,), the env's are (2,)"]


@pytest.mark.parametrize("flags, message", [
    (["--offline-buffer-dir", "no/such/buffer"], "no/such/buffer: no such file or directory"),
    (["--rl-train-every-update-steps", "0"], "--rl-train-every-update-steps must be at least 1"),
    (["--alpha", "0"], "--alpha must be above 0"),
    (["--rl-train-after-update-steps", "100"], "needs --offline-buffer-dir"),
    (["--resume", "no_run_here"], "no_run_here: no checkpoint"),
    (["--env-id", "NoSuchEnv-v0"], "--env-id NoSuchEnv-v0: cannot make this env"),
    (["--normalize-observations"], "--normalize-observations uses the offline data's statistics: needs --offline"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, flags, message):
    result = run_script("--num-iterations", "5", *flags, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_online_sac_learns_pendulum(tmp_path):
    """A broken SAC (wrong target, wrong sign, no entropy term, ...) stays near -1200 or below."""
    _, run_dir = hybrid_sac.train(hybrid_sac.Args(run_dir=str(tmp_path / "run"), num_iterations=4000,
                                                  eval_interval=4000, eval_episodes=5, seed=1))
    assert eval_lines(run_dir)[-1]["return_mean"] > -300


@pytest.mark.skipif(not any(map(shutil.which, ["g++", "c++", "clang++"])), reason="torch.compile needs a C++ compiler")
def test_compile_flag_compiles_and_trains_both_parts(tmp_path, recorder, pendulum_buffer, monkeypatch):
    compiled, compile = [], torch.compile

    def recording_compile(fn, *args, **kwargs):
        compiled.append(fn.__name__)
        return compile(fn, *args, **kwargs)
    monkeypatch.setattr(torch, "compile", recording_compile)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    agent, run_dir = hybrid_sac.train(small_args(tmp_path, num_iterations=30, eval_interval=30, compile=True,
                                                 offline_buffer_dir=[str(pendulum_buffer)]))
    assert sorted(compiled) == ["offline_loss", "online_loss"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # dynamo did trace them
    assert recorder["offline"] == 30 and recorder["online"] == 30 - 19
    assert all(np.isfinite(recorder["losses"])) and critics_changed(recorder, agent)
    assert np.isfinite(eval_lines(run_dir)[-1]["return_mean"])
