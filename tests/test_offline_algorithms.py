"""offline_bc.py and offline_cql.py: every mode reaches gradient steps, BC learns from the shipped
expert buffer, CQL from the shipped mixed one, and the CQL regularizer pushes Q down on actions the
buffer does not hold. All three scripts standardize observations with the offline data's statistics
when asked (the offline ones by default), and resume refuses a run that differs there."""
import copy
import json
import os
import re
import signal
import subprocess
import sys

import pytest
import torch

import buffer
import hybrid_sac
import offline_bc
import offline_cql
from conftest import ROOT

EXPERT = ROOT / "data" / "pendulum_expert"
SMALL = dict(hidden_dim=32, batch_size=32, learning_starts=20, eval_episodes=1)


def last_eval(run_dir):
    return json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])


def run(module, tmp_path, **overrides):
    """Train and return (initial agent, trained agent, run_dir)."""
    args = module.Args(run_dir=str(tmp_path / "run"), **{"offline_buffer_dir": [str(EXPERT)], **SMALL, **overrides})
    initial = []
    init = module.Agent.__init__

    def record_init(self, *a, **k):
        init(self, *a, **k)
        initial.append(copy.deepcopy(self))
    module.Agent.__init__ = record_init
    try:
        agent, run_dir = module.train(args)
    finally:
        module.Agent.__init__ = init
    return initial[0], agent, run_dir


def changed(before, after):
    return all(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))


@pytest.mark.parametrize("module", [offline_bc, offline_cql], ids=["bc", "cql"])
def test_pure_offline_is_the_default_and_trains(module, tmp_path):
    assert module.Args().rl_train_after_update_steps > module.Args().num_iterations
    initial, agent, run_dir = run(module, tmp_path, num_iterations=30, eval_interval=30)
    assert changed(initial.actor, agent.actor)
    line = last_eval(run_dir)
    assert line["env_steps"] == 0 and line["normalized_score"] is not None
    if module is offline_bc:  # no critic is trained, nor its targets moved
        def unchanged(a, b):
            return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))

        assert unchanged(initial.qf, agent.qf) and unchanged(initial.qf_target, agent.qf_target)
    else:
        assert changed(initial.qf, agent.qf) and changed(initial.qf_target, agent.qf_target)


@pytest.mark.parametrize("module", [offline_bc, offline_cql], ids=["bc", "cql"])
def test_offline_to_online_trains_the_critic_online(module, tmp_path, monkeypatch):
    online_batches = []
    sample = buffer.ReplayBuffer.sample

    def counted_sample(self, *a, **k):
        online_batches.append(1)
        return sample(self, *a, **k)

    monkeypatch.setattr(buffer.ReplayBuffer, "sample", counted_sample)
    extra = {"cql_n_actions": 2} if module is offline_cql else {}
    initial, agent, run_dir = run(module, tmp_path, num_iterations=60, eval_interval=60,
                                  rl_train_after_update_steps=10, **extra)
    assert last_eval(run_dir)["env_steps"] == 50
    assert len(online_batches) == 60 - 10 - 19  # once 20 rows are held
    assert changed(initial.qf, agent.qf) and changed(initial.actor, agent.actor)


@pytest.mark.parametrize("bc_loss, iterations", [("nll", 2000), ("mse", 1500)])
def test_bc_learns_from_the_expert_buffer(tmp_path, bc_loss, iterations):
    """An untrained or broken policy scores below 0 (random); the expert scores 100. Measured in these
    settings, seeds 1 to 3: nll 98.4, 96.2, 95.3; mse 98.4, 96.8, 95.4 (the test runs seed 1)."""
    _, _, run_dir = run(offline_bc, tmp_path, hidden_dim=256, batch_size=256, bc_loss=bc_loss,
                        num_iterations=iterations, eval_interval=iterations, eval_episodes=10)
    assert last_eval(run_dir)["normalized_score"] > 90


def test_cql_learns_from_the_mixed_buffer(tmp_path):
    """Half of the mixed buffer is random actions: BC on it scores about 30 to 45 (-900 or lower), an
    untrained policy about -1,400. CQL reached -177, -204 and -204 (seeds 1 to 3) in these settings.
    With the buffer covering the actions, Pendulum's weak regularizer (0.2) barely matters here (a reversed
    one also reached -180): this checks that the whole update learns; the next test checks the term."""
    _, _, run_dir = run(offline_cql, tmp_path, offline_buffer_dir=[str(ROOT / "data" / "pendulum_mixed")],
                        hidden_dim=64, batch_size=128, cql_n_actions=2, cql_alpha=0.2, num_iterations=4000,
                        eval_interval=4000, eval_episodes=5)
    assert last_eval(run_dir)["return_mean"] > -400


def q_gap(agent, batch):
    """Mean Q(s, a_data) - mean Q(s, a_uniform) over a batch, averaged over the critics."""
    with torch.no_grad():
        uniform = torch.rand_like(batch.action) * 2 - 1
        return float((agent.qf(batch.observation, batch.action) - agent.qf(batch.observation, uniform)).mean())


def test_cql_regularizer_pushes_down_unseen_actions(tmp_path):
    settings = dict(num_iterations=400, eval_interval=400, hidden_dim=64, batch_size=64)
    # the CQL paper's weight: a wide margin, so that a missing or reversed regularizer cannot pass
    _, cql, _ = run(offline_cql, tmp_path / "cql", cql_n_actions=4, cql_alpha=5.0, **settings)
    _, sac, _ = run(hybrid_sac, tmp_path / "sac", rl_train_after_update_steps=10**9, **settings)
    batch = buffer.load_offline_buffer(EXPERT).sample(2048, torch.Generator().manual_seed(0))
    cql_gap, sac_gap = q_gap(cql, batch), q_gap(sac, batch)
    # plain SAC has no reason to prefer the buffer's actions; CQL ranks them clearly above
    assert cql_gap > 2 and cql_gap > sac_gap + 2, (cql_gap, sac_gap)  # measured: 4.2 and 0.01


def test_cql_lagrange_multiplier_moves(tmp_path):
    initial, agent, _ = run(offline_cql, tmp_path, num_iterations=40, eval_interval=40, cql_n_actions=2,
                            cql_target_action_gap=1.0)
    assert not torch.equal(initial.log_cql_multiplier, agent.log_cql_multiplier)


@pytest.mark.parametrize("module", [hybrid_sac, offline_bc, offline_cql], ids=["sac", "bc", "cql"])
@pytest.mark.parametrize("normalize", [True, False])
def test_observations_are_standardized_with_the_buffers_statistics(tmp_path, module, normalize):
    extra = {"cql_n_actions": 2} if module is offline_cql else {}
    _, agent, run_dir = run(module, tmp_path, num_iterations=20, eval_interval=20, normalize_observations=normalize,
                            **extra)
    if normalize:
        mean, std = buffer.load_offline_buffer(EXPERT).observation_mean_std()
    else:
        mean, std = torch.zeros(3), torch.ones(3)
    for net in (agent.actor, agent.qf, agent.qf_target):
        assert torch.equal(net.obs_mean, mean) and torch.equal(net.obs_std, std)
    # policy.pt standardizes too: it maps raw observations to the actor's action
    obs = torch.tensor([[-1.0, 0.0, 6.0], [0.9, 0.4, -2.0]])
    with torch.no_grad():
        expected = torch.tanh(agent.actor.fc_mean(agent.actor.trunk((obs - mean) / std)))
    assert torch.allclose(torch.export.load(run_dir / "policy.pt").module()(obs), expected, atol=1e-6)


@pytest.mark.parametrize("module", [hybrid_sac, offline_bc, offline_cql], ids=["sac", "bc", "cql"])
def test_resume_refuses_other_observation_standardization(tmp_path, module):
    extra = {"cql_n_actions": 2} if module is offline_cql else {}
    run(module, tmp_path, num_iterations=10, eval_interval=10, normalize_observations=True, **extra)
    with pytest.raises(module.UsageError, match="--normalize-observations True, this run has False"):
        run(module, tmp_path, num_iterations=20, eval_interval=10, normalize_observations=False,
            resume=str(tmp_path / "run"), **extra)


@pytest.mark.parametrize("script", ["offline_bc.py", "offline_cql.py"])
def test_mismatched_buffer_is_one_line_and_exit_2(tmp_path, script):
    result = subprocess.run([sys.executable, str(ROOT / script), "--env-id", "MountainCarContinuous-v0",
                             "--offline-buffer-dir", str(EXPERT), "--num-iterations", "5"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(
        "a buffer for Pendulum-v1 (meta env_id), not MountainCarContinuous-v0: field "
        "'_replay_buffer.time_step|observation' holds observations of shape (3,), the env's are (2,)")


def test_cql_resume_from_a_checkpoint_older_than_standardization_is_one_clear_error(tmp_path):
    run(offline_cql, tmp_path, num_iterations=10, eval_interval=10, cql_n_actions=2)
    ckpt_file = tmp_path / "run" / "train" / "algorithm" / "ckpt-10"
    ckpt = torch.load(ckpt_file, weights_only=True)
    del ckpt["args"]["normalize_observations"]
    ckpt["agent"] = {k: v for k, v in ckpt["agent"].items() if not k.endswith(("obs_mean", "obs_std"))}
    torch.save(ckpt, ckpt_file)
    with pytest.raises(offline_cql.UsageError, match="ckpt-10: was written with --normalize-observations None"):
        run(offline_cql, tmp_path, num_iterations=20, eval_interval=10, cql_n_actions=2, resume=str(tmp_path / "run"))


@pytest.mark.parametrize("module, name, value, message", [
    (offline_cql, "alpha", 0.0, "--alpha must be above 0 (got 0.0)"),  # log(0) was a traceback
    (offline_bc, "q_lr", float("nan"), "--q-lr must be above 0 (got nan)"),
    (offline_cql, "gamma", 1.5, "--gamma must be between 0 and 1 (got 1.5)"),
    (offline_cql, "tau", 2.0, "--tau must be above 0 and at most 1 (got 2.0)"),
    (hybrid_sac, "tau", 0.0, "--tau must be above 0 and at most 1 (got 0.0)"),
    (offline_cql, "cql_temperature", 0.0, "--cql-temperature must be above 0"),
    (offline_cql, "cql_n_actions", 0, "--cql-n-actions must be at least 1"),
    (offline_cql, "cql_alpha", -1.0, "--cql-alpha must be at least 0"),
    (offline_bc, "bc_action_eps", 1.0, "--bc-action-eps must be between 0 and 1"),
])
def test_numbers_out_of_range_are_usage_errors(module, name, value, message):
    args = module.Args(offline_buffer_dir=[str(EXPERT)], **{name: value})
    with pytest.raises(module.UsageError, match=re.escape(message)):
        module.check_args(args)
    module.check_args(module.Args(offline_buffer_dir=[str(EXPERT)]))  # the defaults pass


@pytest.mark.parametrize("module", [offline_bc, offline_cql], ids=["bc", "cql"])
def test_stopped_by_ctrl_c_and_resumed_equals_the_uninterrupted_run(module, tmp_path, monkeypatch, capsys):
    """Ctrl-C checkpoints the iteration reached; resuming restores networks, optimizer, entropy
    coefficient, CQL multiplier and RNG, so a pure offline run is the same run."""
    flags = dict(num_iterations=30, eval_interval=10, checkpoint_interval=1000)
    if module is offline_cql:
        flags.update(cql_n_actions=2, cql_target_action_gap=1.0)  # the multiplier moves
    _, whole, _ = run(module, tmp_path / "whole", **flags)
    evaluate = module.evaluate

    def evaluate_then_ctrl_c(*args, **kwargs):
        result = evaluate(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result
    monkeypatch.setattr(module, "evaluate", evaluate_then_ctrl_c)
    with pytest.raises(SystemExit) as stopped:
        run(module, tmp_path / "stopped", **flags)
    assert stopped.value.code == 128 + signal.SIGINT
    assert "stopped by SIGINT after iteration 10, checkpoint written; to continue: python " \
           f"{module.SCRIPT} --resume {tmp_path / 'stopped' / 'run'}" in capsys.readouterr().err
    monkeypatch.setattr(module, "evaluate", evaluate)
    _, resumed, _ = run(module, tmp_path / "stopped", resume=str(tmp_path / "stopped" / "run"), **flags)
    assert "(iteration 10, 0 env steps)\n" in capsys.readouterr().out  # no replay buffer to speak of
    assert last_eval(tmp_path / "whole" / "run") == last_eval(tmp_path / "stopped" / "run")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("flags, weight", [
    ([], 0.2),  # Pendulum-v1's TASK_SETTINGS
    (["--env-id", "HalfCheetah-v5"], 0.2),
    (["--env-id", "Hopper-v5"], 10.0),  # a task not listed: CORL's 10
    (["--env-id", "Hopper-v5", "--cql-alpha", "0.5"], 0.5),  # flags given win
    (["--cql-alpha", "3"], 3.0),
])
def test_cql_weight_is_the_tasks_unless_given(flags, weight):
    assert offline_cql.parse_args(flags).cql_alpha == weight


def test_the_first_line_says_the_cql_weight_and_an_older_run_resumes_with_the_tasks(tmp_path, capsys):
    run_dir = tmp_path / "run"
    flags = ["--offline-buffer-dir", str(EXPERT), "--hidden-dim", "16", "--batch-size", "16", "--cql-n-actions", "2",
             "--eval-interval", "10", "--eval-episodes", "1", "--torch-threads", "1"]
    offline_cql.train(offline_cql.parse_args(flags + ["--run-dir", str(run_dir), "--num-iterations", "10"]))
    assert "; critic LayerNorm True, alpha 0.2, CQL weight 0.2; " in capsys.readouterr().out.splitlines()[0]
    # runs made before TASK_SETTINGS held the CQL weight saved None, "the task's": resumed, they get the task's
    path = max(buffer.checkpoint_paths(run_dir).items())[1]
    checkpoint = buffer.load_checkpoint(path)
    checkpoint["args"]["cql_alpha"] = None
    torch.save(checkpoint, tmp_path / "ckpt")  # not onto the file it was read from: its tensors are mapped from it
    os.replace(tmp_path / "ckpt", path)
    args = offline_cql.parse_args(["--resume", str(run_dir), "--num-iterations", "20"])
    assert (args.cql_alpha, args.hidden_dim, args.num_iterations) == (0.2, 16, 20)
