"""benchmarks/peers.py: bad input is one `error:` line and exit 2; a finished peer run is recorded as learning.py
records ours (eval.jsonl, benchmark_command.json, benchmark_time.json), a failed one is not. These run without the
peers' venvs, with a stand-in for the venv's python. With the venvs (bash benchmarks/peer_venvs.sh; CI does not make
them) short real runs of CleanRL's SAC and d3rlpy's BC and CQL; skipped without."""
import json
import stat
import sys
import textwrap

import pytest

import buffer
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import peers  # noqa: E402

EXPERT = ROOT / "data" / "pendulum_expert"


def fake_venv(tmp_path, runner_body="", fail=False):
    """A venv whose bin/python stands in for the peer's: the version probe prints a version and a package folder
    holding the peer's file; a run writes one evaluation to --out (or fails, exit 3)."""
    package = tmp_path / "site" / "cleanrl"
    package.mkdir(parents=True)
    (package / "sac_continuous_action.py").write_text("# the peer's file\n")
    (tmp_path / "site" / "d3rlpy" / "algos" / "qlearning").mkdir(parents=True)
    (tmp_path / "site" / "d3rlpy" / "algos" / "qlearning" / "cql.py").write_text("# the peer's file\n")
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!{sys.executable}\n" + textwrap.dedent(f"""\
        import json, pathlib, sys
        if sys.argv[1] == "-c":
            name = sys.argv[2].split("m.version('")[1].split("'")[0]
            print("9.9.9"); print({str(tmp_path / "site")!r} + "/" + name); sys.exit(0)
        if {fail!r}:
            sys.exit(3)
        out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
        line = {{"iteration": 10, "env_steps": 10, "return_mean": -5.0, "return_std": 1.0, "normalized_score": 1.5}}
        (out / "eval.jsonl").write_text(json.dumps(line) + "\\n")
        {runner_body}
        """))
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return tmp_path / "venv"


def error_line(capsys, argv) -> str:
    assert peers.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_missing_venv_is_one_error_line(tmp_path, capsys):
    line = error_line(capsys, ["cleanrl-sac", "--env-id", "Pendulum-v1", "--total-timesteps", "10",
                               "--out", str(tmp_path / "run"), "--venv", str(tmp_path / "none")])
    assert "no peer venv" in line and "peer_venvs.sh cleanrl" in line
    assert not (tmp_path / "run").exists()


def test_bad_input_is_one_error_line(tmp_path, capsys):
    venv = fake_venv(tmp_path)
    sac = ["cleanrl-sac", "--total-timesteps", "10", "--out", str(tmp_path / "run"), "--venv", str(venv)]
    assert "Hoppr-v5" in error_line(capsys, [*sac, "--env-id", "Hoppr-v5"])
    assert "Box" in error_line(capsys, [*sac, "--env-id", "CartPole-v1"])  # SAC needs continuous actions
    cql = ["d3rlpy-cql", "--out", str(tmp_path / "run"), "--venv", str(venv)]
    assert "no such file" in error_line(capsys, [*cql, "--data", str(tmp_path / "nope"), "--steps", "10"])
    assert "multiple of --eval-interval" in error_line(capsys, [*cql, "--data", str(EXPERT), "--steps", "15",
                                                                "--eval-interval", "10"])
    assert not (tmp_path / "run").exists()


def test_a_run_is_recorded_like_ours(tmp_path, capsys):
    venv, out = fake_venv(tmp_path), tmp_path / "records" / "online" / "cleanrl-sac" / "seed1"
    argv = ["cleanrl-sac", "--env-id", "Pendulum-v1", "--total-timesteps", "10", "--eval-interval", "10",
            "--out", str(out), "--venv", str(venv)]
    assert peers.main(argv) == 0
    assert json.loads((out / "eval.jsonl").read_text())["return_mean"] == -5.0
    stamp = json.loads((out / "benchmark_command.json").read_text())
    assert stamp["command"][0] == "benchmarks/peers.py" and stamp["data_sha256"] is None
    assert stamp["peer"] == {"package": "cleanrl", "version": "9.9.9", "file": "cleanrl/sac_continuous_action.py",
                             "file_sha256": peers.sha256_files(tmp_path / "site/cleanrl/sac_continuous_action.py")}
    timing = json.loads((out / "benchmark_time.json").read_text())
    assert timing["wall_seconds"] > 0 and timing["cpu_seconds"] >= 0 and timing["resumed"] is False
    # a finished run is not replaced without --overwrite
    assert "--overwrite" in error_line(capsys, argv)
    assert peers.main([*argv, "--overwrite"]) == 0
    # d3rlpy: the data's hash in the stamp, the buffer's env id passed on
    out = tmp_path / "bc"
    assert peers.main(["d3rlpy-bc", "--data", str(EXPERT), "--steps", "10", "--eval-interval", "10",
                       "--out", str(out), "--venv", str(venv)]) == 0
    stamp = json.loads((out / "benchmark_command.json").read_text())
    assert stamp["data_sha256"] == peers.sha256_files(buffer.find_buffer_file(EXPERT))
    assert stamp["peer"]["package"] == "d3rlpy"


def test_a_failed_run_is_not_recorded(tmp_path, capsys):
    out = tmp_path / "run"
    line = error_line(capsys, ["cleanrl-sac", "--env-id", "Pendulum-v1", "--total-timesteps", "10",
                               "--out", str(out), "--venv", str(fake_venv(tmp_path, fail=True))])
    assert "exit status 3" in line
    assert not any((out / name).exists() for name in ("eval.jsonl", "benchmark_command.json", "benchmark_time.json"))


needs_cleanrl = pytest.mark.skipif(not (ROOT / ".venv-cleanrl" / "bin" / "python").exists(),
                                   reason="no .venv-cleanrl (bash benchmarks/peer_venvs.sh cleanrl)")
needs_d3rlpy = pytest.mark.skipif(not (ROOT / ".venv-d3rlpy" / "bin" / "python").exists(),
                                  reason="no .venv-d3rlpy (bash benchmarks/peer_venvs.sh d3rlpy)")


def evaluations(out):
    return [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]


@needs_cleanrl
def test_cleanrl_sac_runs_and_its_evaluation_leaves_training_alone(tmp_path, capfd):
    """CleanRL's file, 300 steps on Pendulum-v1 (updates from 100): evaluations at 150 and 300; the same run
    evaluated only at the end trains the same (the same episodic returns, the same final evaluation)."""
    def run(out, interval):
        assert peers.main(["cleanrl-sac", "--env-id", "Pendulum-v1", "--total-timesteps", "300", "--learning-starts",
                           "100", "--eval-interval", str(interval), "--eval-episodes", "1", "--out", str(out)]) == 0
        return [line for line in capfd.readouterr().out.splitlines() if "episodic_return" in line]

    trained = run(tmp_path / "a", 150)
    assert [(e["iteration"], e["env_steps"]) for e in evaluations(tmp_path / "a")] == [(150, 150), (300, 300)]
    assert json.loads((tmp_path / "a" / "benchmark_command.json").read_text())["peer"]["version"] == "1.2.0"
    assert list((tmp_path / "a" / "runs").iterdir())  # CleanRL's own TensorBoard events
    assert run(tmp_path / "b", 1000) == trained and len(trained) == 1  # one 200-step episode ended
    assert evaluations(tmp_path / "b") == evaluations(tmp_path / "a")[-1:]


@needs_d3rlpy
@pytest.mark.parametrize("peer,config", [("d3rlpy-bc", "shared"), ("d3rlpy-bc", "like-ours"),
                                         ("d3rlpy-cql", "shared"), ("d3rlpy-cql", "like-ours")])
def test_d3rlpy_runs(tmp_path, peer, config):
    out = tmp_path / "run"
    assert peers.main([peer, "--data", str(EXPERT), "--steps", "20", "--eval-interval", "10", "--eval-episodes", "1",
                       "--config", config, "--out", str(out)]) == 0
    lines = evaluations(out)
    assert [(e["iteration"], e["env_steps"]) for e in lines] == [(10, 0), (20, 0)]
    assert all(-2000 < e["return_mean"] < 0 and e["normalized_score"] is not None for e in lines)
