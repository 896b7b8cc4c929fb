"""Run directories cannot be mixed up: one run at a time, no silent reuse of an earlier run's folder, a run
resumed only by the script that wrote it, and a finished run resumed says so."""
import subprocess
import sys
import time

import pytest

from conftest import ROOT

EXPERT = ROOT / "data" / "pendulum_expert"
SMALL = ["--hidden-dim", "16", "--batch-size", "16", "--learning-starts", "20", "--eval-episodes", "1",
         "--eval-interval", "20", "--checkpoint-interval", "20", "--cql-n-actions", "2"]


def script_flags(script):
    return SMALL if script == "offline_cql.py" else SMALL[:-2]


def run_script(script, *flags, cwd):
    return subprocess.run([sys.executable, str(ROOT / script), *script_flags(script), *map(str, flags)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("script", ["hybrid_sac.py", "offline_cql.py"])
def test_a_second_run_on_a_directory_in_use_is_refused(tmp_path, script):
    run_dir = tmp_path / "run"
    first = subprocess.Popen([sys.executable, str(ROOT / script), *script_flags(script), "--offline-buffer-dir",
                              str(EXPERT), "--num-iterations", "1000000", "--run-dir", str(run_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        for _ in range(2400):  # the first run is in its loop once it has evaluated
            if (run_dir / "eval.jsonl").exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        assert first.poll() is None
        for flags in (["--run-dir", run_dir, "--overwrite"], ["--resume", run_dir]):
            second = run_script(script, "--offline-buffer-dir", EXPERT, "--num-iterations", 20, *flags, cwd=tmp_path)
            assert one_error_line(second) == f"error: {run_dir}: another run is using this directory now"
    finally:
        first.kill()
        first.communicate()
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1  # the refused runs wrote nothing


def test_a_new_run_refuses_an_earlier_runs_directory_unless_told_to_overwrite(tmp_path):
    run_dir = tmp_path / "run"
    assert run_script("hybrid_sac.py", "--num-iterations", 40, "--run-dir", run_dir, cwd=tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    refused = run_script("hybrid_sac.py", "--num-iterations", 20, "--run-dir", run_dir, cwd=tmp_path)
    assert one_error_line(refused) == (
        f"error: {run_dir}: holds an earlier run (eval.jsonl, {next(run_dir.glob('events.out.tfevents.*')).name}, "
        f"policy.pt, policy_distribution.pt, train); --resume {run_dir} continues it, --overwrite deletes it")
    assert {p: p.read_bytes() for p in before} == before  # nothing of the earlier run was touched

    anew = run_script("hybrid_sac.py", "--num-iterations", 20, "--run-dir", run_dir, "--overwrite", cwd=tmp_path)
    assert anew.returncode == 0, anew.stderr
    assert sorted(p.name for p in (run_dir / "train" / "algorithm").iterdir()) == ["ckpt-20", "ckpt-20-replay_buffer"]
    assert (run_dir / "eval.jsonl").read_text().count("\n") == 1
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1


@pytest.mark.parametrize("writer, reader", [("offline_bc.py", "hybrid_sac.py"), ("hybrid_sac.py", "offline_cql.py"),
                                            ("offline_cql.py", "offline_bc.py")])
def test_resume_by_another_script_is_one_error_line(tmp_path, writer, reader):
    run_dir = tmp_path / "run"
    made = run_script(writer, "--offline-buffer-dir", EXPERT, "--num-iterations", 20, "--run-dir", run_dir,
                      cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    algorithm = {"hybrid_sac.py": "SAC", "offline_bc.py": "BC (offline), SAC (online)",
                 "offline_cql.py": "CQL(H) (offline), SAC (online)"}
    line = one_error_line(run_script(reader, "--resume", run_dir, "--num-iterations", 40, cwd=tmp_path))
    assert line == (f"error: {run_dir / 'train' / 'algorithm' / 'ckpt-20'}: written by {writer} ({algorithm[writer]}), "
                    f"not by {reader} ({algorithm[reader]}); continue it with: python {writer} --resume {run_dir}")


def test_resuming_a_finished_run_says_so_and_prints_its_summary(tmp_path):
    run_dir = tmp_path / "run"
    first = run_script("hybrid_sac.py", "--num-iterations", 40, "--run-dir", run_dir, cwd=tmp_path)
    evaluations = (run_dir / "eval.jsonl").read_text()
    again = run_script("hybrid_sac.py", "--resume", run_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{run_dir}: finished already at iteration 40 (more --num-iterations continue it)" in again.stdout
    summary = first.stdout[first.stdout.index("final evaluation:"):].splitlines()[0]
    assert summary in again.stdout  # the same final evaluation, read from eval.jsonl
    assert (run_dir / "eval.jsonl").read_text() == evaluations
