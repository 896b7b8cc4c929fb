"""benchmarks/learning.py runs a suite's experiments, writes its table and figures, and reuses a finished run
only while its command and its data are unchanged (one made by older code: kept, and marked);
benchmarks/investigations/cql_diagnosis.py reads a run of offline_cql.py; benchmarks/speed.py measures every update and
the loop, on the CPU or (--device cuda) the GPU, and compares with d3rlpy when it is installed;
benchmarks/investigations/data_scale.py fills its buffer as ReplayBuffer.add would and writes every row of its table;
benchmarks/investigations/sac_update_order.py steps the networks in CleanRL's order."""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import buffer
import offline_cql
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "investigations"))
import data_scale  # noqa: E402
import learning  # noqa: E402
import report  # noqa: E402
import runner  # noqa: E402
import speed  # noqa: E402
import suites  # noqa: E402

EXPERT = ROOT / "data" / "pendulum_expert"

FAKE_TRAINING = """import json, pathlib, sys
resumed = sys.argv[1] == "--resume"
out_dir = pathlib.Path(sys.argv[2 if resumed else 1])
(out_dir / "eval.jsonl").write_text(json.dumps({"iteration": 5}) + "\\n")
with open(pathlib.Path(__file__).parent / "runs_made", "a") as f:
    f.write("r" if resumed else "x")
"""


def test_a_finished_run_is_reused_an_interrupted_one_resumed_and_a_changed_one_made_again(tmp_path, monkeypatch):
    script, out_dir, data = tmp_path / "fake_training.py", tmp_path / "run", tmp_path / "data"
    script.write_text(FAKE_TRAINING)
    data.mkdir()
    (data / "ckpt-1-replay_buffer").write_text("rows")

    def ensure(*extra_args, rerun_older_code=False):
        """The driver's choice (skip a finished run, else a task), then the task, as Ray would run it."""
        run = runner.to_run([str(script), str(out_dir), "--offline-buffer-dir", str(data), *extra_args], out_dir,
                              runner.last_iteration(out_dir) >= 5, "fake", rerun_older_code)
        if run is not None:
            dataset = (data / "ckpt-1-replay_buffer").read_bytes()
            runner.store(run, runner.execute(run, dataset, threads=1, rerun_older_code=rerun_older_code))
        return len((tmp_path / "runs_made").read_text())

    def checkpointed_but_unfinished():
        (out_dir / "train" / "algorithm").mkdir(parents=True, exist_ok=True)
        (out_dir / "train" / "algorithm" / "ckpt-3").write_text("checkpoint")
        (out_dir / "eval.jsonl").write_text("")

    assert ensure() == 1
    timing = json.loads((out_dir / runner.TIMING_FILE).read_text())  # this run's own wall and CPU time
    assert 0 < timing["cpu_seconds"] and 0 < timing["wall_seconds"] < 60
    assert ensure() == 1  # finished, same command and code: reused
    assert not report.made_by_older_code(out_dir)
    script.write_text(FAKE_TRAINING + "# changed\n")
    assert ensure() == 1 and report.made_by_older_code(out_dir)  # finished by older code: kept, and marked
    assert ensure(rerun_older_code=True) == 2 and not report.made_by_older_code(out_dir)  # unless asked
    assert ensure() == 2
    assert ensure("--another-flag") == 3
    (out_dir / "eval.jsonl").write_text("")  # unfinished
    assert ensure("--another-flag") == 4
    (data / "ckpt-1-replay_buffer").write_text("other rows")  # the dataset made again
    assert ensure("--another-flag") == 5
    assert ensure("--another-flag") == 5
    # unfinished with a checkpoint: continued with --resume, not deleted, and its CPU time is not reported
    checkpointed_but_unfinished()
    assert ensure("--another-flag") == 6 and (tmp_path / "runs_made").read_text().endswith("r")
    assert (out_dir / "train" / "algorithm" / "ckpt-3").exists()
    assert json.loads((out_dir / runner.TIMING_FILE).read_text())["resumed"]
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    e = suites.Experiment("q", "e", str(script), (), None, 5)
    e.run_dir(1).mkdir(parents=True)
    (e.run_dir(1) / runner.TIMING_FILE).write_text((out_dir / runner.TIMING_FILE).read_text())
    assert report.cpu_seconds_per_1000(e, [1]) is None
    (e.run_dir(1) / runner.TIMING_FILE).write_text(json.dumps({"cpu_seconds": 2.0, "resumed": False}))
    assert report.cpu_seconds_per_1000(e, [1]) == 400.0
    assert ensure("--another-flag") == 6  # finished now
    assert ensure("--yet-another-flag") == 7 and (tmp_path / "runs_made").read_text().endswith("x")  # other command
    # interrupted, then the code changes: continued by the new code, and marked as made (in part) by older code
    checkpointed_but_unfinished()
    script.write_text(FAKE_TRAINING + "# changed again\n")
    assert ensure("--yet-another-flag") == 8 and (tmp_path / "runs_made").read_text().endswith("r")
    assert report.made_by_older_code(out_dir)
    (e.run_dir(1) / runner.STAMP_FILE).write_text((out_dir / runner.STAMP_FILE).read_text())
    assert report.older_code_note([e], [1, 2]).startswith("Made, in whole or in part, by an older version")
    assert "e seed 1." in report.older_code_note([e], [1, 2]) and report.older_code_note([e], [2]) == ""
    checkpointed_but_unfinished()  # interrupted again, and the code of now cannot continue it: the error says why
    script.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(runner.RunFailed, match=r"^fake: failed \(exit code 3\) on .*; it was made by older code: "
                                                 r"--rerun-older-code starts it again; its last line: ''; the log: "):
        ensure("--yet-another-flag")


def test_learning_runs_its_experiments_and_writes_the_table_and_figures(tmp_path, monkeypatch, capsys):
    """learning.py end to end at a tiny scale, its runs and datasets under tmp_path (never benchmarks/runs)."""
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(suites, "DATASETS", tmp_path / "datasets")
    results = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["learning.py", "--quick", "--only", "offline", "offline_to_online",
                                      "--experiments", "bc-medium", "cql-mixed", "cql-mixed-then-online",
                                      "--iterations-scale", "0.005",
                                      "--jobs", "2", "--results-dir", str(results)])
    learning.main()
    text = (results / "learning.md").read_text()
    assert "ITERATIONS SCALED BY 0.005" in text and "run(s) at a time" not in text
    rows = [line.strip("| ").split(" | ") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| experiment", "| ---"))]
    assert [row[0] for row in rows] == ["bc-medium", "cql-mixed", "cql-mixed-then-online"]
    assert all("nan" not in value and value != "—" for row in rows for value in row)
    assert "return at 15 (online starts)" in text  # offline-to-online: 30 iterations, online from 15
    assert (results / "learning_offline.png").stat().st_size > 0
    assert (results / "learning_offline_to_online.png").stat().st_size > 0
    assert (tmp_path / "datasets" / "pendulum_medium" / "ckpt-10000-replay_buffer").exists()
    capsys.readouterr()
    learning.main()  # everything finished: the dataset and the three runs are reused, nothing made again
    out = capsys.readouterr().out
    assert out.count("done already, skipped") == 4 and "deleting" not in out
    # a new machine: no runs, no datasets, only what is committed (results/, with its copies of the runs)
    assert sorted(p.name for p in (results / "records" / "offline").iterdir()) == ["bc-medium", "cql-mixed"]
    shutil.rmtree(tmp_path / "runs")
    shutil.rmtree(tmp_path / "datasets")
    learning.main()  # the runs restored, the dataset made again (the same bytes): nothing trained again
    out = capsys.readouterr().out
    assert out.count("restored from") == 3 and out.count("done already, skipped") == 3 and "deleting" not in out
    assert "dataset medium: python collect.py" in out
    assert (results / "learning.md").read_text() == text


def test_each_run_is_recorded_as_soon_as_it_finishes(tmp_path, monkeypatch):
    """A later run failing (or the session ending) must not take the finished runs' records with it."""
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    script = tmp_path / "fake.py"
    script.write_text("import json, pathlib, sys\n"
                      "if '--fail' in sys.argv: sys.exit(3)\n"
                      "out = pathlib.Path(sys.argv[sys.argv.index('--run-dir') + 1])\n"
                      "(out / 'eval.jsonl').write_text(json.dumps({'iteration': 8, 'return_mean': 1.0}) + '\\n')\n")
    good = suites.Experiment("q/offline", "good", str(script), (), None, 8)
    bad = suites.Experiment("q/offline", "bad", str(script), ("--fail",), None, 8)
    results = tmp_path / "results"
    with pytest.raises(runner.RunFailed, match=r"^\[2/2\] q/offline/bad seed 1: failed \(exit code 3\) on "):
        runner.run_grid([good, bad], [1], jobs=1, threads=1, results_dir=results)
    assert (runner.record_dir(results, good, 1) / "eval.jsonl").exists()
    assert not runner.record_dir(results, bad, 1).exists()


def test_the_records_of_finished_runs_are_not_ignored_by_git():
    """The committed copies are the only ones that outlive a machine: git must not ignore their folder (a
    `runs/` pattern once did, and two sessions' records were lost with their machines)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for results in (suites.BENCH / "results", suites.BENCH / "results" / "mujoco_Hopper-v5"):
        record = runner.record_dir(results, suites.Experiment("q/offline", "bc-medium", "offline_bc.py", (),
                                                                  None, 5), 1) / "eval.jsonl"
        check = subprocess.run(["git", "check-ignore", "-v", str(record)], cwd=ROOT, capture_output=True, text=True)
        assert check.returncode == 1, f"git ignores {record}: {check.stdout}"
    run = suites.Experiment("q", "e", "offline_bc.py", (), None, 5).run_dir(1) / "eval.jsonl"
    assert subprocess.run(["git", "check-ignore", "-q", str(run)], cwd=ROOT).returncode == 0  # runs themselves: ignored


def test_figures_give_the_normalized_score_on_their_right_hand_axis(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)  # keep the figure plot() saved, to read its axes
    curves = {"sac": {1: (np.array([250, 500]), np.array([-900.0, -100.0])),
                      2: (np.array([250, 500]), np.array([-700.0, -300.0]))}}
    report.plot([SimpleNamespace(name="sac", switch=None)], curves, "t", tmp_path / "t.png",
                  {"random": -1000.0, "expert": 0.0}, target=None)
    assert (tmp_path / "t.png").stat().st_size > 0
    ax = closed[0].axes[0]
    score_axis, = ax.child_axes  # the right-hand axis
    assert score_axis.get_ylabel().startswith("normalized score")
    low, high = ax.get_ylim()
    assert score_axis.get_ylim() == pytest.approx((100 * (low + 1000) / 1000, 100 * (high + 1000) / 1000))


def pendulum(mode="full", scale=1.0, only=("online", "hybrid", "offline", "offline_to_online", "rlpd")):
    """Pendulum-v1's suite as learning.py makes it by default."""
    args = SimpleNamespace(iterations_scale=scale, alf_buffer=None, only=list(only), threads=1, seeds=[1])
    return suites.pendulum(args, mode, suites.PENDULUM_MODES[mode], buffer.PENDULUM_REFERENCE_RETURNS)


@pytest.mark.parametrize("scale", [1, 0.5, 0.005, 0.0043, 0.0021])
def test_offline_to_online_is_evaluated_at_the_switch_at_every_scale(scale):
    for mode in suites.PENDULUM_MODES:
        (e,) = pendulum(mode, scale).groups["offline_to_online"].experiments
        assert e.switch % e.eval_interval() == 0, (mode, scale, e.switch, e.eval_interval())
        if scale == 1:
            assert e.eval_interval() == suites.EVAL_EVERY  # the real runs' commands are unchanged


def test_the_rlpd_group_evaluates_every_100_iterations_and_leaves_the_other_commands_as_they_were():
    groups = pendulum().groups
    rlpd = {e.name: e.command("K") for e in groups.pop("rlpd").experiments}
    assert list(rlpd) == ["sac", "sac-expert", "sac-expert-rlpd"]
    for command in rlpd.values():
        assert command[command.index("--eval-interval") + 1] == "100"
    assert " ".join(suites.RLPD_FLAGS) in " ".join(rlpd["sac-expert-rlpd"])
    assert "--utd-ratio" not in rlpd["sac-expert"] and "--offline-buffer-dir" not in rlpd["sac"]
    for e in (e for group in groups.values() for e in group.experiments):
        assert e.command("K")[e.command("K").index("--eval-interval") + 1] == "250"
    assert "rlpd" not in pendulum(only=["online", "hybrid"]).settings and "rlpd" in pendulum().settings


def diagnose(*args):
    script = ROOT / "benchmarks" / "investigations" / "cql_diagnosis.py"
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_cql_diagnosis_reads_a_run_and_prints_its_tables(tmp_path):
    run_dir = tmp_path / "run"
    offline_cql.train(offline_cql.Args(run_dir=str(run_dir), offline_buffer_dir=[str(EXPERT)], num_iterations=30,
                                       hidden_dim=32, batch_size=32, eval_episodes=1, cql_n_actions=2))
    result = diagnose(run_dir, EXPERT, "--states", 200, "--episodes", 2)
    assert result.returncode == 0, result.stderr
    def rows_of(text):
        return [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| ")]

    before_peak, after_peak = result.stdout.split("how narrow the critics' peak")
    data_rows = [row for row in rows_of(before_peak) if row[0].strip().startswith(("full torque", "other"))]
    peak_rows = [row for row in rows_of(after_peak.split("largest energy")[0])
                 if row[0].strip().startswith(("full torque", "other"))]
    assert [row[0] for row in peak_rows] == [row[0] for row in data_rows if int(row[1]) > 0]
    assert all(len(row) == 6 and all(math.isfinite(float(value)) for value in row[1:]) for row in peak_rows)
    table_rows = rows_of(result.stdout)
    episode_rows = [row for row in table_rows if row[0].strip().isdigit()]
    assert sum(int(row[1]) for row in data_rows) == 200
    assert len(episode_rows) == 2
    assert all(-16.3 * 200 <= float(row[1]) <= 0 for row in episode_rows)  # Pendulum's reward is in [-16.3, 0]
    returns = re.search(r"the actor (-?\d+), the critic's greedy action (-?\d+)", result.stdout)
    assert returns and all(-16.3 * 200 <= int(value) <= 0 for value in returns.groups())
    assert abs(int(returns[1]) - sum(float(row[1]) for row in episode_rows) / 2) <= 1  # the table rounds
    rest_q = result.stdout.split("Q over actions -1 to 1:")[1].split()
    assert len(rest_q) == 21 and all(float(value) == float(value) for value in rest_q)  # no nan


def test_cql_diagnosis_without_a_checkpoint_says_so(tmp_path):
    result = diagnose(tmp_path, EXPERT)
    assert result.returncode != 0
    assert f"{tmp_path}: no checkpoint" in result.stderr


def run_speed(*args, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, **kwargs)


def check_speed_tables(results):
    lines = results.read_text().splitlines()
    for update in speed.UPDATES:  # the first table naming each update: eager, ending in its fraction of bmm
        row = next((line for line in lines if line.startswith(f"| {update.name} |")), None)
        assert row is not None and row.endswith("% |"), update.name
    assert any(line.startswith("| 1 x 300 | 3 |") for line in lines)  # the training loop's row: 3 blocks counted


def test_speed_measures_every_update_and_the_loop_and_writes_speed_md(tmp_path):
    """speed.py end to end with a budget too small to measure anything (--smoke): every table is filled."""
    result = run_speed("--device", "cpu", "--smoke", "--no-compile", "--results-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    check_speed_tables(tmp_path / "speed.md")
    text = (tmp_path / "speed.md").read_text()
    assert "## hybrid_sac.py's loop with other settings" in text
    # the default's row (its own ratio 1.00) and the one without LayerNorm, each ending in the default's time / its own
    assert re.search(r"^\| hybrid_sac.py \|.* \| 1\.00 \|$", text, re.M)
    for ours in ("hybrid_sac.py", speed.NO_LAYER_NORM):
        assert re.search(rf"^\| {re.escape(ours)} \| 3 \| [\d.]+ \([\d.]+-[\d.]+\) \|.* \| \d+\.\d\d \|$", text, re.M)
    assert not (tmp_path / "speed_cuda.md").exists()
    assert result.stdout.splitlines()[-1] == f"wrote {tmp_path / 'speed.md'}"


def test_speed_on_cuda_without_a_gpu_is_one_error_line(tmp_path):
    """--device cuda where torch sees no GPU (none here, or hidden by CUDA_VISIBLE_DEVICES): exit status 2
    and one error line saying so, no traceback, nothing written."""
    result = run_speed("--device", "cuda", "--smoke", "--results-dir", tmp_path,
                       env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: --device cuda: no GPU here") and result.stderr.count("error:") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU (benchmarks/gpu_check.sh runs speed.py there)")
def test_speed_on_the_gpu_writes_speed_cuda_md(tmp_path):
    result = run_speed("--device", "cuda", "--smoke", "--no-compile", "--results-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    check_speed_tables(tmp_path / "speed_cuda.md")
    text = (tmp_path / "speed_cuda.md").read_text()
    assert "Skipped on --device cuda" in text and "CUDA graphs: not measured" in text
    assert "CleanRL's loop is compared on the CPU" in text
    assert not (tmp_path / "speed.md").exists()


def test_speed_compares_with_d3rlpy_only_when_it_is_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "d3rlpy", None)  # as if not installed: importing it raises ImportError
    assert speed.d3rlpy_updates() is None


def test_speed_runs_d3rlpys_updates_when_installed():
    pytest.importorskip("d3rlpy", reason="d3rlpy is not installed (never a requirement; see benchmarks/README.md)")
    updates = speed.d3rlpy_updates()
    assert [name.split()[-1] for name, _ in updates] == ["SAC", "BC", "CQL"]
    for name, update in updates:
        losses = [update() for _ in range(3)]
        assert all(math.isfinite(v) for step in losses for v in step.values()), name


D3RLPY_PYTHON = ROOT / ".venv-d3rlpy" / "bin" / "python"


@pytest.mark.skipif(not D3RLPY_PYTHON.exists(), reason="no .venv-d3rlpy (bash benchmarks/peer_venvs.sh d3rlpy)")
def test_d3rlpy_offline_sees_the_buffers_episodes_and_runs(tmp_path):
    """benchmarks/peer_runs/d3rlpy_offline.py in .venv-d3rlpy: its MDPDataset holds the buffer's episodes, and CQL
    runs with d3rlpy's defaults, configured like ours, and with a --set field (investigations/d3rlpy_cql.py's
    default, --like-offline-cql and --alpha-learning-rate 0, folded into it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # as peers.py runs it
    probe = ("import json, sys; sys.path.insert(0, 'benchmarks/peer_runs'); import buffer, d3rlpy_offline; "
             f"d = d3rlpy_offline.mdp_dataset(buffer.load_offline_buffer({str(EXPERT)!r})); "
             "print(json.dumps([d.transition_count, [float(e.rewards.sum()) for e in d.episodes]]))")
    result = subprocess.run([str(D3RLPY_PYTHON), "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    transitions, episode_rewards = json.loads(result.stdout.splitlines()[-1])
    returns = buffer.episode_returns(buffer.load_offline_buffer(str(EXPERT)).files[0])
    assert len(episode_rewards) == len(returns) and transitions == 200 * len(returns)
    assert episode_rewards == pytest.approx(returns.tolist(), abs=1e-3)
    for i, flags in enumerate(([], ["--config", "like-ours"], ["--set", "alpha_learning_rate=0.0"])):
        result = subprocess.run([str(D3RLPY_PYTHON), "benchmarks/peer_runs/d3rlpy_offline.py", "--algo", "cql",
                                 "--data", str(EXPERT), "--env-id", "Pendulum-v1", "--steps", "4", "--eval-interval",
                                 "2", "--eval-episodes", "1", "--out", str(tmp_path / str(i)), *flags],
                                capture_output=True, text=True, cwd=ROOT, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = [json.loads(line) for line in (tmp_path / str(i) / "eval.jsonl").read_text().splitlines()]
        assert [(line["iteration"], line["env_steps"]) for line in lines] == [(2, 0), (4, 0)]
        assert all(-2000 < line["return_mean"] < 0 and line["normalized_score"] is not None for line in lines), flags


def test_data_scale_fills_the_buffer_as_adds_would():
    """data_scale.fill writes the ring's tensors directly; rb.add row by row must give the same file."""
    import gymnasium as gym
    obs_space = gym.spaces.Box(-float("inf"), float("inf"), (data_scale.OBS_DIM,))
    act_space = gym.spaces.Box(-1.0, 1.0, (data_scale.ACT_DIM,))
    direct, added = (buffer.ReplayBuffer(1, 23, obs_space, act_space) for _ in range(2))
    data_scale.fill(direct, 23, seed=3, episode_steps=4)
    data_scale.fill_by_adds(added, 23, seed=3, episode_steps=4)
    assert direct.step_type[0, :12].tolist() == [0, 1, 1, 1, 2, 0, 1, 1, 1, 2, 0, 1]  # 4 steps: 5 rows
    want, got = added.state_dict()["algorithm"], direct.state_dict()["algorithm"]
    assert list(got) == list(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_data_scale_writes_every_row_of_its_table(tmp_path):
    """data_scale.py end to end at a tiny scale, in this process (--in-process: no fresh processes)."""
    out = tmp_path / "data_scale.md"
    argv = ["--rows", "5000", "--datasets-dir", str(tmp_path / "datasets"), "--out", str(out), "--in-process",
            "--samples", "300", "--timed-samples", "200", "--update-blocks", "1", "--update-block-seconds", "0.01"]
    data_scale.main(argv)
    text = out.read_text()
    rows = [line.strip("| ").split(" | ") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| measurement", "| ---"))]
    names = [name for name, _ in rows]
    for wanted in ["buffer file size", "rows held", "transitions", "baseline process: RSS",
                   "torch.load(mmap=True) alone: s", "page cache cold", "page cache warm",
                   "load_offline_buffer: peak RSS (ru_maxrss)", "offline.sample(256): median",
                   "RSS after 300 samples (VmRSS)", "hybrid_sac.py SAC update", "as a fraction of an update",
                   "`python buffer.py info PATH` end to end", "`python buffer.py info PATH`: peak RSS"]:
        assert sum(wanted in name for name in names) == 1, wanted
    values = {name: float(value.replace(",", "")) for name, value in rows}
    assert all(math.isfinite(value) for value in values.values()), values
    assert values["rows held"] == 5000 and values["transitions"] == 4995  # 5 episode ends: LAST -> FIRST
    assert "The file was made by this run" in text and "load average" in text and "--rows 5000" in text
    data_scale.main(argv)  # the file is there: reused
    assert "The file was there already" in out.read_text()


def test_data_scale_times_a_command_and_reads_its_peak_rss():
    result = data_scale.timed_command([sys.executable, "-c", "print('hello')"])
    assert result["output"] == "hello\n" and result["wall"] > 0 and result["ru_maxrss"] > 1


def test_experiments_picks_an_experiment_by_its_whole_name_and_others_by_their_beginning(tmp_path):
    def chosen(names):
        args = SimpleNamespace(env_id="Hopper-v5", datasets_dir=tmp_path, threads=1, seeds=[1])
        suite = suites.mujoco(args, dict(suites.MUJOCO_ITERATIONS), *buffer.reference_returns("Hopper-v5", None))
        learning.select(None, suite, list(suite.groups), names)
        return sorted(e.name for group in suite.groups.values() for e in group.experiments)

    assert chosen(["sac"]) == ["sac"]
    assert chosen(["bc-"]) == ["bc-expert", "bc-medium", "bc-medium-replay"]
    assert chosen(["sac-medium-replay"]) == ["sac-medium-replay"]
    assert chosen(["sac-medium"]) == ["sac-medium-replay", "sac-medium-replay-rlpd"]


@pytest.mark.parametrize("other", ["command", "data", "data, the dataset not here"])
def test_a_run_directory_holding_another_run_is_neither_recorded_nor_reported_its_record_is(
        tmp_path, monkeypatch, other):
    """A run directory can hold another run under the experiment's name (a stand-in timing grid's, with another
    command or dataset, or an old one): --report-only and the records trust it only where its stamp is of the
    experiment's command and data; else the record is read, kept, and (a grid about to run) put in its place."""
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    script, data = tmp_path / "fails.py", tmp_path / "data"
    script.write_text("import sys\nsys.exit(3)\n")  # the grid must not make the run again: it would fail
    data.mkdir()
    shutil.copy(runner.data_file(["x.py", "--offline-buffer-dir", str(EXPERT)]), data / "ckpt-1-replay_buffer")
    e = suites.Experiment("q/offline", "bc-expert", str(script), (), suites.Dataset("expert", data), 8,
                          eval_every=4)
    results = tmp_path / "results"
    run, record = e.run_dir(1), runner.record_dir(results, e, 1)

    def write(directory, return_mean, stamp):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "eval.jsonl").write_text("".join(json.dumps({"iteration": i, "return_mean": return_mean})
                                                      + "\n" for i in (4, 8)))
        (directory / runner.STAMP_FILE).write_text(json.dumps(stamp))
        (directory / runner.TIMING_FILE).write_text(json.dumps({"cpu_seconds": 1.0, "resumed": False}))

    ours = runner.Run.of("e", e.command(1), run).stamp
    write(record, -150.0, ours)
    another = {**ours, "command": [*e.command(1)[:-2], "--run-dir", "stand-in"]} if other == "command" else \
        {**ours, "data_sha256": "0" * 64}  # a stand-in dataset's
    write(run, -900.0, another)
    if other == "data, the dataset not here":
        shutil.rmtree(data)  # compared with the record's data then

    def final_return():
        suite = suites.Suite("t", [], {"offline": suites.Group("Pendulum-v1", "text", [e])}, solved_return=-200.0)
        text = report.report(suite, [1], results, "cmd")
        return [cell for line in text.splitlines() if line.startswith("| bc-expert |")
                for cell in line.split(" | ") if cell.startswith("-1") and " ± " in cell]  # its final return

    record_bytes = {name: (record / name).read_bytes() for name in runner.RECORD_FILES}
    runner.sync_records([e], [1], results)  # learning.py's, before and after a grid (and --report-only)
    assert {name: (record / name).read_bytes() for name in runner.RECORD_FILES} == record_bytes
    assert json.loads((run / runner.STAMP_FILE).read_text()) == another  # the other run left alone
    assert final_return() == ["-150.0 ± 0.0"]
    if other != "data, the dataset not here":  # a grid: the record put in the other run's place, nothing made
        runner.run_grid([e], [1], jobs=1, threads=1, results_dir=results)
        assert {name: (run / name).read_bytes() for name in runner.RECORD_FILES} == record_bytes
    # a run directory of the experiment's command and data is trusted over its record, as before
    write(run, -120.0, ours)
    runner.sync_records([e], [1], results)
    assert final_return() == ["-120.0 ± 0.0"] and "-120.0" in (record / "eval.jsonl").read_text()


SIGTERM_DRIVER = """import pathlib, sys
sys.path.insert(0, {benchmarks!r})
import suites
suites.RUNS, suites.DATASETS, suites.EVAL_EPISODES = pathlib.Path({runs!r}), pathlib.Path({datasets!r}), 1
import learning
sys.argv = ["learning.py", *{argv!r}]
learning.main()
"""


def test_sigterm_stops_a_grid_as_ctrl_c_does_its_runs_checkpointed(tmp_path):
    """A runner started in the background by a non-interactive shell ignores SIGINT: SIGTERM stops it as Ctrl-C
    does. The running run gets it too, writes its checkpoint (hybrid_sac.py's interval, 5,000, is past its end)
    and ends; the driver exits 130 with the same line."""
    runs = tmp_path / "runs"
    driver = SIGTERM_DRIVER.format(benchmarks=str(ROOT / "benchmarks"), runs=str(runs),
                                   datasets=str(tmp_path / "datasets"),
                                   argv=["--quick", "--only", "online", "--sac-iterations", "3000",
                                         "--results-dir", str(tmp_path / "results")])
    process = subprocess.Popen([sys.executable, "-c", driver], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    run_dir, deadline = runs / "online" / "sac" / "seed1", time.time() + 240
    try:
        while runner.last_iteration(run_dir) == 0 and process.poll() is None and time.time() < deadline:
            time.sleep(0.2)  # until the run has evaluated once: training
        assert runner.last_iteration(run_dir) > 0, process.communicate(timeout=60)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err[-3000:]
    assert err.strip().splitlines()[-1] == ("interrupted: the running runs wrote their checkpoints; the same command "
                                            "continues them")
    checkpoints = [int(p.name.split("-")[1]) for p in (run_dir / "train" / "algorithm").glob("ckpt-*")
                   if p.name.split("-")[1].isdigit()]
    assert checkpoints and max(checkpoints) < 3000, checkpoints  # written on the signal, mid-run
    assert runner.last_iteration(run_dir) < 3000
    def command_line(pid):
        try:
            return Path("/proc", pid, "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            return b""
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and str(run_dir).encode() in command_line(pid)]


def test_sac_update_order_steps_the_critics_every_update_and_the_actor_twice_every_second():
    import hybrid_sac
    import sac_update_order
    torch.manual_seed(0)
    agent = hybrid_sac.Agent(3, 1, hybrid_sac.Args(hidden_dim=16, critic_layer_norm=False, alpha=1.0))
    optimizer = torch.optim.Adam([{"params": agent.actor.parameters(), "lr": 1e-3},
                                  {"params": [*agent.qf.parameters(), agent.log_alpha], "lr": 1e-3}])
    update = sac_update_order.cleanrl_update(2)(agent, optimizer, False)
    batch = buffer.Batch(torch.randn(8, 3), torch.rand(8, 1) * 2 - 1, torch.randn(8), torch.randn(8, 3), torch.ones(8))
    def snapshot():
        return [p.detach().clone() for p in (*agent.actor.parameters(), *agent.qf.parameters(), agent.log_alpha)]
    def moved(before, after):
        n_actor = len(list(agent.actor.parameters()))
        changed = [not torch.equal(b, a) for b, a in zip(before, after)]
        return any(changed[:n_actor]), any(changed[n_actor:-1]), changed[-1]
    start = snapshot()
    update(None, batch)  # first update: the critics only
    first = snapshot()
    assert moved(start, first) == (False, True, False)
    targets = [t.clone() for t in agent.qf_target.parameters()]
    update(None, batch)  # second: critics, then the actor and the entropy coefficient
    assert moved(first, snapshot()) == (True, True, True)
    for before, target, critic in zip(targets, agent.qf_target.parameters(), agent.qf.parameters()):
        assert torch.allclose(target, before.lerp(critic, agent.args.tau)) and not torch.equal(target, before)


def test_start_states_reruns_a_checkpoint_and_matches_the_runs_own_evaluation(tmp_path):
    """investigations/start_states.py: from the run's own evaluation seeds (seed + 1,000,000) the newest checkpoint's
    returns are the run's last evaluation; a checkpoint that is not there is one error line and exit 2."""
    import hybrid_sac
    run_dir = tmp_path / "run"
    hybrid_sac.train(hybrid_sac.Args(run_dir=str(run_dir), num_iterations=30, eval_interval=30, eval_episodes=2,
                                     learning_starts=10, hidden_dim=16, batch_size=16, torch_threads=1))
    script = ROOT / "benchmarks" / "investigations" / "start_states.py"
    result = subprocess.run([sys.executable, str(script), str(run_dir), "--episodes", "2", "--seed", "1000001"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    last = json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])
    mean = float(re.search(r"iteration 30: mean (-?[\d.]+); returns", result.stdout)[1])
    assert mean == round(last["return_mean"], 1)
    result = subprocess.run([sys.executable, str(script), str(run_dir), "20"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == f"error: {run_dir}: no checkpoint at iteration 20 " \
                                                               "(there are: [30])"


def test_cql_layer_norm_order_puts_relu_before_layer_norm_and_changes_nothing_else():
    """investigations/cql_layer_norm_order.py: its critics' hidden layers are ReLU then LayerNorm (d3rlpy's order);
    without LayerNorm they are offline_cql's own."""
    import cql_layer_norm_order

    torch.manual_seed(0)
    obs, action = torch.randn(5, 3), torch.rand(5, 2) * 2 - 1
    for layer_norm in (True, False):
        critics = offline_cql.Critics(3, 2, 8, 2, layer_norm)
        got = cql_layer_norm_order.forward_relu_then_layer_norm(critics, obs, action)
        x = torch.cat([obs, action], -1).expand(2, -1, -1)
        for i, (w, b) in enumerate(zip(critics.weights, critics.biases)):
            x = torch.baddbmm(b, x, w)
            if i < 2:
                x = torch.relu(x)
                x = torch.nn.functional.layer_norm(x, x.shape[-1:]) if layer_norm else x
        assert torch.allclose(got, x.squeeze(-1), atol=1e-6)
        assert torch.equal(got, critics(obs, action)) != layer_norm  # the order matters only with LayerNorm
