"""benchmarks/mujoco_datasets.py at a tiny scale: every kind is made, from one SAC run trained in chunks,
with actions sampled from the policy; a second invocation makes nothing again."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import buffer
from conftest import ROOT

pytest.importorskip("mujoco")


def make(tmp_path, expert_return):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mujoco_datasets.py"), "--env-id", "Hopper-v5", "--rows", "60",
         "--expert-iterations", "80", "--chunk-iterations", "20", "--medium-return=-1e9",
         f"--expert-return={expert_return}", "--num-envs", "2", "--reference-episodes", "1",
         "--datasets-dir", str(tmp_path),
         "--sac-flags", "--hidden-dim 16 --batch-size 16 --learning-starts 10 --eval-episodes 1"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_a_run_that_never_reaches_the_medium_return_is_an_error_not_a_medium_dataset(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mujoco_datasets.py"), "--env-id", "Hopper-v5", "--rows", "60",
         "--kinds", "medium", "--expert-iterations", "20", "--chunk-iterations", "20", "--medium-return", "1e9",
         "--expert-return", "2e9",
         "--datasets-dir", str(tmp_path), "--sac-flags", "--hidden-dim 16 --batch-size 16 --eval-episodes 1"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith("error: the SAC run in ")
    assert "without an evaluation return of 1000000000.0" in result.stderr
    assert not (tmp_path / "Hopper-v5" / "medium").exists() and not (tmp_path / "Hopper-v5" / "medium-policy").exists()


def test_an_expert_below_the_expert_return_is_an_error_not_an_expert_dataset(tmp_path):
    """The medium policy made first (at iteration 20); then no evaluation after it, and then one (at 40) below an
    expert return that it cannot reach."""
    def make(*flags):
        return subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "mujoco_datasets.py"), "--env-id", "Hopper-v5", "--rows", "60",
             "--chunk-iterations", "20", "--datasets-dir", str(tmp_path), *flags,
             "--sac-flags", "--hidden-dim 16 --batch-size 16 --eval-episodes 1"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert make("--kinds", "medium-replay", "--medium-return=-1e9", "--expert-iterations", "20").returncode == 0
    none_after = make("--kinds", "expert", "--medium-return=-1e9", "--expert-iterations", "20")
    assert none_after.returncode == 1 and none_after.stderr.splitlines()[-1].startswith(
        "error: the SAC run's best evaluation after the medium policy's does not exist, below the expert return "
        "2156.2 (the medium policy, iteration 20: ")  # two thirds of D4RL's Hopper expert return, 3,234.3
    below = make("--kinds", "expert", "--medium-return=-1e9", "--expert-return", "1e9", "--expert-iterations", "40")
    assert below.returncode == 1 and below.stderr.splitlines()[-1].startswith(
        "error: the SAC run's best evaluation after the medium policy's at iteration 40 is ")
    assert "below the expert return 1000000000.0" in below.stderr.splitlines()[-1]
    assert make("--medium-return", "5", "--expert-return", "5").stderr.strip() == (
        "error: --expert-return 5 must be above the medium return 5")
    assert not (tmp_path / "Hopper-v5" / "expert").exists()


def test_every_kind_is_made_once_and_the_expert_is_the_best_policy_after_the_medium_one(tmp_path):
    """An expert return the run cannot reach: every kind but expert is made, the run trains to the end
    (--expert-iterations) keeping its best policy; given that policy's return as --expert-return, the expert is
    made from it without training again."""
    unreached = make(tmp_path, 1e9)
    assert unreached.returncode == 1 and "below the expert return 1000000000.0" in unreached.stderr
    data = tmp_path / "Hopper-v5"
    assert torch.load(data / "sac" / "train" / "algorithm" / "ckpt-80", weights_only=True)["iteration"] == 80
    evaluations = [json.loads(line) for line in (data / "sac" / "eval.jsonl").read_text().splitlines()]
    assert [e["iteration"] for e in evaluations] == [20, 40, 60, 80]
    best = max(evaluations[1:], key=lambda e: e["return_mean"])  # after the medium policy's (the first)
    assert json.loads((data / "expert-policy" / "eval.jsonl").read_text().splitlines()[-1]) == best
    result = make(tmp_path, best["return_mean"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "hybrid_sac.py" not in result.stdout and f"expert: iteration {best['iteration']}," in result.stdout
    meta = {kind: buffer.buffer_info([str(data / kind)])["meta"] for kind in
            ("random", "medium", "medium-replay", "expert")}
    assert meta["random"]["source"] == "random" and meta["random"]["counts"]["rows"] == 60
    assert meta["medium"]["policy"] == str(data / "medium-policy" / "policy_distribution.pt")
    assert meta["expert"]["policy"] == str(data / "expert-policy" / "policy_distribution.pt")
    assert meta["medium-replay"]["source"].startswith("replay buffer of")
    assert meta["medium-replay"]["counts"]["rows"] == 20  # the run stopped after its first chunk
    for kind in meta:  # D4RL's reference returns, so that scores read beside published ones
        assert meta[kind]["reference_returns"] == buffer.D4RL_REFERENCE_RETURNS["Hopper"]
    again = make(tmp_path, best["return_mean"])
    assert again.returncode == 0 and "hybrid_sac.py" not in again.stdout and "collect.py" not in again.stdout


def test_mujoco_learning_runs_every_group_and_writes_tables_with_published_points(tmp_path, monkeypatch):
    """benchmarks/mujoco_learning.py end to end at a tiny scale on three random Hopper-v5 datasets standing for
    medium, medium-replay and expert; a missing dataset is one error line naming the command that makes it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mujoco_learning
    import runner
    import suites
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(suites, "EVAL_EPISODES", 1)  # Hopper episodes, 10 per evaluation: most of the time
    datasets, results = tmp_path / "datasets", tmp_path / "results"
    flags = ["--env-id", "Hopper-v5", "--seeds", "1", "--sac-iterations", "8", "--rlpd-iterations", "4",
             "--bc-iterations", "4", "--cql-iterations", "4", "--cql-long-iterations", "6",
             "--datasets-dir", str(datasets), "--results-dir", str(results),
             "--experiments", "sac", "sac-", "bc-", "cql-"]  # ours: the peers' rows need their venvs (test_peers.py)
    missing = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mujoco_learning.py"), *flags],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no dataset in ")
    assert "mujoco_datasets.py --env-id Hopper-v5" in missing.stderr and "Traceback" not in missing.stderr
    for kind in ("medium", "medium-replay", "expert"):
        subprocess.run([sys.executable, str(ROOT / "collect.py"), "--env-id", "Hopper-v5", "--source", "random",
                        "--num-steps", "200", "--reference-episodes", "1",
                        "--output", str(datasets / "Hopper-v5" / kind / "ckpt-200-replay_buffer")],
                       check=True, capture_output=True, timeout=120)
    monkeypatch.setattr(sys, "argv", ["mujoco_learning.py", *flags])
    mujoco_learning.main()
    text = (results / "learning.md").read_text()
    for group in suites.MUJOCO_GROUPS:
        assert f"## {group}" in text and (results / f"learning_{group}.png").stat().st_size > 0
    for name in ("| sac |", "| sac-medium-replay-rlpd |", "| bc-expert |", "| cql-medium-replay |",
                 "| cql-medium-replay-then-online |", "| cql-medium-replay-alpha0.2 |",
                 "| cql-medium-replay-alpha0.2-then-online |", "| cql-medium-replay-long |"):
        assert name in text
    # Hopper's default CQL weight is CORL's 10: the other weight, 0.2, is given in the commands of cql_weight's two
    # runs and of the second offline-to-online run, and nowhere else
    weighted = [line for line in text.splitlines() if "--cql-alpha" in line]
    assert all("--cql-alpha 0.2 " in line for line in weighted)
    assert sorted(line.split("/")[-2] for line in weighted) == [
        "cql-medium-alpha0.2", "cql-medium-replay-alpha0.2", "cql-medium-replay-alpha0.2-then-online"]
    assert all("--rl-train-after-update-steps 4 " in line for line in weighted if "then-online" in line)
    assert "D4RL's reference returns for Hopper" in text and "R_expert = 3,234.30" in text
    assert "CleanRL's sac_continuous_action.py on Hopper-v2" in text and "CQL hopper-medium 59.08" in text
    assert " ".join(suites.RLPD_FLAGS) in text
    runs = tmp_path / "runs" / "mujoco" / "Hopper-v5"
    assert runner.last_iteration(runs / "online_hybrid" / "sac-expert" / "seed1") == 8
    assert runner.last_iteration(runs / "offline_to_online" / "cql-medium-replay-then-online" / "seed1") == 8
    assert runner.last_iteration(runs / "cql_weight" / "cql-medium-replay-long" / "seed1") == 6
    record = results / "records" / "online_hybrid" / "sac-expert" / "seed1"  # committed copies of finished runs
    assert (record / "eval.jsonl").read_text() == (runs / "online_hybrid" / "sac-expert" / "seed1" / "eval.jsonl"
                                                   ).read_text()
    # --report-only runs nothing: an unfinished run counts with its last evaluation, marked so
    evals = runs / "online_hybrid" / "sac-expert" / "seed1" / "eval.jsonl"
    evals.write_text(evals.read_text().splitlines()[0] + "\n")
    monkeypatch.setattr(sys, "argv", ["mujoco_learning.py", *flags, "--report-only"])
    mujoco_learning.main()
    row = next(line for line in (results / "learning.md").read_text().splitlines() if line.startswith("| sac-expert |"))
    assert "| 2 of 8 (unfinished) |" in row
    assert runner.last_iteration(runs / "online_hybrid" / "sac-expert" / "seed1") == 2
    # beside a finished seed, an unfinished one is named, not averaged in
    online = runs / "online_hybrid" / "sac"
    (online / "seed2").mkdir()
    (online / "seed2" / "eval.jsonl").write_text((online / "seed1" / "eval.jsonl").read_text().splitlines()[0] + "\n")
    stamp = json.loads((online / "seed1" / runner.STAMP_FILE).read_text())  # as the runner stamps a run it starts
    command = stamp["command"]
    command[command.index("--seed") + 1] = "2"
    command[command.index("--run-dir") + 1] = command[command.index("--run-dir") + 1].replace("seed1", "seed2")
    (online / "seed2" / runner.STAMP_FILE).write_text(json.dumps(stamp))
    monkeypatch.setattr(sys, "argv", ["mujoco_learning.py", *flags, "--seeds", "1", "2", "--report-only"])
    mujoco_learning.main()
    row = next(line for line in (results / "learning.md").read_text().splitlines() if line.startswith("| sac |"))
    final = json.loads((online / "seed1" / "eval.jsonl").read_text().splitlines()[-1])["return_mean"]
    assert row.startswith(f"| sac | — | 8 (unfinished, not counted: seed 2 at 2) | 1 | {final:,.1f} ± 0.0 |")
    returns = [json.loads(line)["return_mean"] for line in (online / "seed1" / "eval.jsonl").read_text().splitlines()]
    assert f"| {np.mean(returns):,.1f} ± 0.0 |" in row  # the mean of all evaluations
    # the report names the data each group's runs read, and says so when the file on disk is another one now
    medium_replay = datasets / "Hopper-v5" / "medium-replay" / "ckpt-200-replay_buffer"
    sha = runner.file_sha256(medium_replay)[:12]
    assert f"medium-replay: sha256 {sha}, the file there now" in (results / "learning.md").read_text()
    medium_replay.write_bytes(medium_replay.read_bytes() + b"made again elsewhere")
    mujoco_learning.main()
    assert f"medium-replay: sha256 {sha}, NOT the file there now" in (results / "learning.md").read_text()
    medium_replay.unlink()  # a dataset not made on this machine (yet) is not called another one
    mujoco_learning.main()
    assert f"medium-replay: sha256 {sha}, not on this machine, so not compared" in (results / "learning.md").read_text()
    # runs of one dataset that read different files: the note says which read which
    for where in (runs, results / "records"):  # as if made on another machine: its run and its record
        stamp_file = where / "online_hybrid" / "sac-medium-replay" / "seed1" / runner.STAMP_FILE
        stamp_file.write_text(json.dumps({**json.loads(stamp_file.read_text()), "data_sha256": "f" * 64}))
    mujoco_learning.main()
    note = next(line for line in (results / "learning.md").read_text().splitlines()
                if line.startswith("Data the runs read") and "ffffffffffff" in line)
    assert f"{sha} (sac-medium-replay-rlpd)" in note and "ffffffffffff (sac-medium-replay)" in note
