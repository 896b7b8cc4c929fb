"""hybrid_sac.py: every training mode reaches real gradient steps; ALF's loop semantics; resume;
bad input; and it learns Pendulum."""
import copy
import json
import re
import shutil
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import buffer
import hybrid_sac
from conftest import ROOT

SMALL = dict(hidden_dim=32, batch_size=32, learning_starts=20, eval_episodes=1)


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
    refs = buffer.PENDULUM_REFERENCE_RETURNS  # online runs are scored too, by the env's
    expected = 100 * (lines[-1]["return_mean"] - refs["random"]) / (refs["expert"] - refs["random"])
    assert lines[-1]["normalized_score"] == pytest.approx(expected)
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
                                           num_envs=2))
    saved = first / "train" / "algorithm" / "ckpt-50-replay_buffer"
    assert saved.exists()
    info = buffer.buffer_info([str(saved)])
    assert info["rows"] == 100 and info["meta"]["env_id"] == "Pendulum-v1"
    agent, second = hybrid_sac.train(small_args(tmp_path, "second", num_iterations=30, eval_interval=30,
                                                offline_buffer_dir=[str(first)], rl_train_after_update_steps=10**9))
    assert recorder["offline"] == 30 and critics_changed(recorder, agent)


def test_resume_continues_from_the_checkpoint(tmp_path, recorder, capsys):
    hybrid_sac.train(small_args(tmp_path, num_iterations=20, eval_interval=10, checkpoint_interval=20))
    ckpt_dir = tmp_path / "run" / "train" / "algorithm"
    buffer_20 = (ckpt_dir / "ckpt-20-replay_buffer").read_bytes()
    hybrid_sac.train(small_args(tmp_path, num_iterations=30, eval_interval=10, checkpoint_interval=20,
                                resume=str(tmp_path / "run")))
    assert recorder["online"] == 30 - 19
    for name in ("ckpt-30", "ckpt-30-replay_buffer"):  # as if it had stopped before its last checkpoint
        (ckpt_dir / name).unlink()
    (ckpt_dir / "ckpt-20-replay_buffer").write_bytes(buffer_20)  # (only the newest buffer is kept)
    hybrid_sac.train(small_args(tmp_path, num_iterations=50, eval_interval=10, checkpoint_interval=20,
                                resume=str(tmp_path / "run")))
    # the replay buffer (saved by default) came back: the online part trained at once, iterations 20..49
    assert recorder["online"] == 11 + 30
    assert "resumed from" in capsys.readouterr().out
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
        f"error: {pendulum_buffer}: a buffer for Pendulum-v1 (meta env_id), not MountainCarContinuous-v0: "
        f"field '_replay_buffer.time_step|observation' holds observations of shape (3,), the env's are (2,)"]


@pytest.mark.parametrize("flags, message", [
    (["--offline-buffer-dir", "no/such/buffer"], "no/such/buffer: no such file or directory"),
    (["--rl-train-every-update-steps", "0"], "--rl-train-every-update-steps must be at least 1"),
    (["--alpha", "0"], "--alpha must be above 0"),
    (["--rl-train-after-update-steps", "100"], "needs --offline-buffer-dir"),
    (["--resume", "no_run_here"], "no_run_here: no checkpoint"),
    (["--env-id", "NoSuchEnv-v0"], "--env-id NoSuchEnv-v0: cannot make this env"),
    (["--env-id", "CartPole-v1"], "--env-id CartPole-v1: needs continuous (Box) observations and actions"),
    (["--num-min-critics", "3"], "--num-min-critics must be between 1 and --num-critics 2"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1"),
    (["--normalize-observations"], "--normalize-observations uses the offline data's statistics: needs --offline"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, flags, message):
    result = run_script("--num-iterations", "5", *flags, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_online_sac_learns_pendulum(tmp_path):
    """A broken SAC (wrong target, wrong sign, no entropy term, ...) stays near -1200 or below. Run as a user runs
    it: the command line gives Pendulum-v1 its TASK_SETTINGS."""
    _, run_dir = hybrid_sac.train(hybrid_sac.parse_args(["--run-dir", str(tmp_path / "run"), "--num-iterations", "4000",
                                                         "--eval-interval", "4000", "--eval-episodes", "5"]))
    assert eval_lines(run_dir)[-1]["return_mean"] > -300


@pytest.mark.parametrize("flags, layer_norm, alpha", [
    ([], True, 0.2),  # Pendulum-v1's TASK_SETTINGS
    (["--env-id", "Hopper-v5"], False, 1.0),  # any other task: CleanRL's SAC
    (["--no-critic-layer-norm", "--alpha", "0.5"], False, 0.5),  # flags given win over the task's
    (["--env-id", "Hopper-v5", "--critic-layer-norm"], True, 1.0),
])
def test_task_settings_are_the_defaults_of_the_task_named(flags, layer_norm, alpha):
    args = hybrid_sac.parse_args(flags)
    assert (args.critic_layer_norm, args.alpha) == (layer_norm, alpha)


def test_the_first_line_says_which_critics_and_alpha_the_run_has(tmp_path):
    result = run_script("--num-iterations", "5", "--eval-interval", "5", "--learning-starts", "2", "--run-dir",
                        tmp_path / "r", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "; critic LayerNorm True, alpha 0.2; " in result.stdout.splitlines()[0]


@pytest.mark.skipif(not any(map(shutil.which, ["g++", "c++", "clang++"])), reason="torch.compile needs a C++ compiler")
def test_compile_flag_compiles_and_trains_both_parts(tmp_path, recorder, pendulum_buffer, monkeypatch):
    compiled, compile = [], torch.compile

    def recording_compile(fn, *args, **kwargs):
        compiled.append(fn)
        return compile(fn, *args, **kwargs)
    monkeypatch.setattr(torch, "compile", recording_compile)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    agent, run_dir = hybrid_sac.train(small_args(tmp_path, num_iterations=30, eval_interval=30, compile=True,
                                                 offline_buffer_dir=[str(pendulum_buffer)]))
    assert len(compiled) == 2  # each part's forward pass and losses
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # dynamo did trace them
    assert recorder["offline"] == 30 and recorder["online"] == 30 - 19
    assert all(np.isfinite(recorder["losses"])) and critics_changed(recorder, agent)
    assert np.isfinite(eval_lines(run_dir)[-1]["return_mean"])


def start_script(run_dir, *flags):
    return subprocess.Popen([sys.executable, str(ROOT / "hybrid_sac.py"), "--run-dir", str(run_dir), "--hidden-dim",
                             "32", "--batch-size", "32", "--learning-starts", "20", "--eval-episodes", "1",
                             "--eval-interval", "20", *map(str, flags)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=run_dir.parent)


def wait_for(path, process, timeout=120):
    """Wait until path exists while the process runs."""
    for _ in range(int(timeout / 0.05)):
        if path.exists() or process.poll() is not None:
            return
        time.sleep(0.05)


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_checkpoints_the_iteration_reached_and_resume_continues(tmp_path, signum, exit_code):
    run_dir = tmp_path / "run"
    process = start_script(run_dir, "--num-iterations", 100_000)
    wait_for(run_dir / "eval.jsonl", process)  # the loop runs
    while process.poll() is None and eval_lines(run_dir)[-1]["iteration"] < 100:  # losses are logged every 100
        time.sleep(0.05)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == exit_code and "Traceback" not in err, err
    assert f"run directory: {run_dir}" in out
    stopped = re.search(r"stopped by SIG\w+ after iteration ([\d,]+), checkpoint written; "
                        r"to continue: python hybrid_sac.py --resume (\S+)", err)
    assert stopped and stopped.group(2) == str(run_dir), err
    reached = int(stopped.group(1).replace(",", ""))
    ckpt_dir = run_dir / "train" / "algorithm"
    assert reached >= 20 and (ckpt_dir / f"ckpt-{reached}").exists()
    assert (ckpt_dir / f"ckpt-{reached}-replay_buffer").exists()
    events = EventAccumulator(str(run_dir))
    events.Reload()  # TensorBoard holds the losses up to the stop
    assert max(e.step for e in events.Scalars("losses/qf_loss")) == reached // 100 * 100

    # --resume alone: the run's own flags (--hidden-dim 32, ...) come from its checkpoint
    result = subprocess.run([sys.executable, str(ROOT / "hybrid_sac.py"), "--resume", str(run_dir),
                             "--num-iterations", str(reached + 20)], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"resumed from {ckpt_dir / f'ckpt-{reached}'} (iteration {reached:,}, {reached:,} env steps; " \
           f"replay buffer: {reached:,} of its {reached:,} rows; the envs start new episodes)" in result.stdout
    assert "final evaluation: return" in result.stdout and f"tensorboard --logdir {run_dir}" in result.stdout
    assert eval_lines(run_dir)[-1]["iteration"] == reached + 20
    saved = torch.load(ckpt_dir / f"ckpt-{reached + 20}-replay_buffer", weights_only=True)
    assert int(saved["algorithm"]["_replay_buffer._current_pos"][0]) == reached + 20
    assert not (ckpt_dir / f"ckpt-{reached}-replay_buffer").exists()  # only the newest buffer is kept


def test_kill_9_resumes_from_the_newest_complete_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    ckpt_dir = run_dir / "train" / "algorithm"
    process = start_script(run_dir, "--num-iterations", 100_000, "--checkpoint-interval", 20)
    wait_for(ckpt_dir / "ckpt-40", process)
    process.kill()
    process.communicate()
    (ckpt_dir / "ckpt-1000.tmp").write_bytes(b"PK\x03\x04 torn")  # as if killed while writing
    newest = max(buffer.checkpoint_paths(run_dir))
    hybrid_sac.train(hybrid_sac.parse_args(["--resume", str(run_dir), "--num-iterations", str(newest + 10)]))
    assert (ckpt_dir / "ckpt-1000.tmp").exists()  # loading reads only; the torn file is no checkpoint
    assert [line["iteration"] for line in eval_lines(run_dir)] == list(range(20, newest + 11, 20)) + [newest + 10]


def test_resumed_pure_offline_run_equals_the_uninterrupted_one(tmp_path, pendulum_buffer):
    """Networks, optimizer, entropy coefficient and RNG come back bitwise: with no env in the loop, a
    stopped and resumed run is the same run."""
    flags = dict(num_iterations=40, eval_interval=10, checkpoint_interval=20, offline_buffer_dir=[str(pendulum_buffer)],
                 rl_train_after_update_steps=10**9)
    whole, _ = hybrid_sac.train(small_args(tmp_path, "whole", **flags))
    hybrid_sac.train(small_args(tmp_path, "stopped", **{**flags, "num_iterations": 20}))
    resumed, _ = hybrid_sac.train(small_args(tmp_path, "stopped", **flags, resume=str(tmp_path / "stopped")))
    assert eval_lines(tmp_path / "whole") == eval_lines(tmp_path / "stopped")
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_without_the_replay_buffer_says_so(tmp_path, recorder, capsys):
    hybrid_sac.train(small_args(tmp_path, num_iterations=30, eval_interval=30, save_buffer=False))
    assert not list((tmp_path / "run").rglob("*replay_buffer*"))
    hybrid_sac.train(small_args(tmp_path, num_iterations=40, eval_interval=40, save_buffer=False,
                                resume=str(tmp_path / "run")))
    out = capsys.readouterr().out
    assert out.count("replay buffer: 0 of its 30 rows") == 1
    assert recorder["online"] == 11  # the first run's 11 updates; the empty buffer never reached 20 rows


def test_resume_takes_the_runs_flags_and_the_ones_given(tmp_path):
    hybrid_sac.train(small_args(tmp_path, num_iterations=10, eval_interval=10, num_critics=3))
    args = hybrid_sac.parse_args(["--resume", str(tmp_path / "run"), "--num-iterations", "30"])
    assert (args.num_critics, args.hidden_dim, args.num_iterations) == (3, 32, 30)


def test_num_min_critics_takes_the_minimum_over_a_random_subset(pendulum_buffer):
    agent = hybrid_sac.Agent(3, 1, hybrid_sac.Args(num_critics=5, num_min_critics=2, hidden_dim=16))
    batch = buffer.load_offline_buffer(pendulum_buffer).sample(64)
    torch.manual_seed(3)
    td_target = agent.train_step(batch)["td_target"]
    torch.manual_seed(3)  # the same draws, by hand
    with torch.no_grad():
        next_action, next_log_prob = agent.actor.sample(batch.next_observation)
        next_q = agent.qf_target(batch.next_observation, next_action)[torch.randperm(5)[:2]].min(0).values
    alpha = agent.log_alpha.exp()
    assert torch.equal(td_target, batch.reward + 0.99 * batch.discount * (next_q - alpha * next_log_prob))
    assert not torch.equal(next_q, agent.qf_target(batch.next_observation, next_action).min(0).values)


def test_a_file_that_is_not_a_buffer_is_one_line_in_our_words(tmp_path):
    (tmp_path / "notes.txt").write_text("not a replay buffer\n")
    result = run_script("--offline-buffer-dir", tmp_path / "notes.txt", "--num-iterations", "5", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {tmp_path / 'notes.txt'}: not a buffer file or checkpoint (not a torch.save")
