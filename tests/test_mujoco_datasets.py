"""benchmarks/mujoco_datasets.py at a tiny scale: every kind is made, from one SAC run trained in chunks,
with actions sampled from the policy; a second invocation makes nothing again."""
import subprocess
import sys

import pytest
import torch

import buffer
from conftest import ROOT

pytest.importorskip("mujoco")


def make(tmp_path):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mujoco_datasets.py"), "--env-id", "Hopper-v5", "--rows", "60",
         "--expert-iterations", "40", "--chunk-iterations", "20", "--medium-return=-1e9", "--num-envs", "2",
         "--reference-episodes", "1", "--datasets-dir", str(tmp_path),
         "--sac-flags", "--hidden-dim 16 --batch-size 16 --learning-starts 10 --eval-episodes 1"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_every_kind_is_made_once(tmp_path):
    result = make(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    data = tmp_path / "Hopper-v5"
    meta = {kind: buffer.buffer_info([str(data / kind)])["meta"] for kind in
            ("random", "medium", "medium-replay", "expert")}
    assert meta["random"]["source"] == "random" and meta["random"]["counts"]["rows"] == 60
    assert meta["medium"]["policy"] == str(data / "medium-policy" / "policy_distribution.pt")
    assert meta["expert"]["policy"] == str(data / "sac" / "policy_distribution.pt")
    assert meta["medium-replay"]["source"].startswith("replay buffer of")
    assert meta["medium-replay"]["counts"]["rows"] == 20  # the run stopped after its first chunk
    for kind in meta:  # D4RL's reference returns, so that scores read beside published ones
        assert meta[kind]["reference_returns"] == buffer.D4RL_REFERENCE_RETURNS["Hopper"]
    # the expert trained on to the end
    assert torch.load(data / "sac" / "train" / "algorithm" / "ckpt-40", weights_only=True)["iteration"] == 40
    again = make(tmp_path)
    assert again.returncode == 0 and "hybrid_sac.py" not in again.stdout and "collect.py" not in again.stdout
