"""The scripts learn bitwise as the code before the run-machinery refactor did (issue 39): short seeded runs
of every script in every training mode (tests/bitwise_runs.py) give the digests recorded from that code on
this kind of CPU, or, on a CPU they were not recorded on, those made here by that commit's own files."""
import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT

RECORDED = json.loads((ROOT / "tests" / "bitwise_digests.json").read_text())


def cpu_key() -> str:
    """The CPU model, its vector extensions and torch's version: what bitwise results depend on here."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.*)$", info, re.M).group(1).strip()
        flags = sorted(set(re.findall(r"\b(avx2|avx512f|fma)\b", info)))
    except (OSError, AttributeError):
        model, flags = platform.processor() or platform.machine(), []
    return f"{model}; {' '.join(flags)}; torch {torch.__version__}"


def digests_of(code_dir: Path) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "bitwise_runs.py"), str(code_dir)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_same_weights_and_evaluations_as_before_the_refactor(tmp_path):
    expected = RECORDED["digests"].get(cpu_key())
    if expected is None:  # another CPU: make the old code's digests here from the recorded commit
        files = ["hybrid_sac.py", "offline_bc.py", "offline_cql.py", "buffer.py"]
        archive = subprocess.run(["git", "archive", RECORDED["code"], *files], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            pytest.skip(f"no digests recorded for {cpu_key()!r} and commit {RECORDED['code'][:8]} is not in this "
                        f"checkout's history")
        subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
        expected = digests_of(tmp_path)
    now = digests_of(ROOT)
    assert now.keys() == expected.keys()
    changed = [case for case in now if now[case] != expected[case]]
    assert not changed, f"these runs no longer learn bitwise as before: {changed}"


# CPU kinds on which a run was checked to be bitwise the same at 1 and 2 torch threads (the scripts' default thread
# count follows the free cores, so only there does the default give the same run whatever the machine's load)
THREAD_COUNT_CHANGES_NOTHING = {"AMD EPYC; avx2 avx512f fma; torch 2.13.0+cpu"}


def test_the_thread_count_changes_no_result_where_that_is_claimed(tmp_path):
    if cpu_key() not in THREAD_COUNT_CHANGES_NOTHING:
        pytest.skip(f"not claimed for {cpu_key()!r}: runs there are bitwise the same at a fixed --torch-threads")
    sys.path.insert(0, str(ROOT))
    import offline_cql
    weights = []
    for threads in (1, 2):  # CQL at batch 256 and hidden 256: its sampled actions make the largest matrices
        agent, _ = offline_cql.train(offline_cql.Args(
            torch_threads=threads, run_dir=str(tmp_path / str(threads)), num_iterations=30, eval_interval=30,
            eval_episodes=1, offline_buffer_dir=[str(ROOT / "data" / "pendulum_expert")]))
        weights.append(agent.state_dict())
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
