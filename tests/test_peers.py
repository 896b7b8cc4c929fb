"""benchmarks/peers.py: bad input is one `error:` line and exit 2; a finished peer run is recorded as learning.py
records ours (eval.jsonl, benchmark_command.json, benchmark_time.json), a failed one is not. These run without the
peers' venvs, with a stand-in for the venv's python. With the venvs (bash benchmarks/peer_venvs.sh; CI does not make
them) short real runs of CleanRL's SAC and d3rlpy's BC and CQL; skipped without."""
import contextlib
import json
import stat
import sys
import textwrap
from types import SimpleNamespace

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


# ---------------------------------------------------------------------------------------------
# The peers' rows of the MuJoCo suite, run by benchmarks/runner.py as ours are (a stand-in for the venv's python)

sys.path.insert(0, str(ROOT / "benchmarks"))
import learning  # noqa: E402
import runner  # noqa: E402
import suites  # noqa: E402


def mujoco_suite(tmp_path, env_id="Hopper-v5"):
    args = SimpleNamespace(env_id=env_id, datasets_dir=tmp_path / "datasets", threads=1, seeds=[1])
    return suites.mujoco(args, dict(suites.MUJOCO_ITERATIONS), *buffer.reference_returns(env_id, None))


def test_the_mujoco_suite_runs_the_peers_through_peers_py_with_our_budgets(tmp_path):
    groups = mujoco_suite(tmp_path).groups
    ours = {e.name: e for group in groups.values() for e in group.experiments if not e.peer}
    peer_rows = {e.name: e for group in groups.values() for e in group.experiments if e.peer}
    assert {name: e.question.split("/")[-1] for name, e in peer_rows.items()} == {
        "cleanrl-sac": "online_hybrid", "d3rlpy-bc-medium": "offline", "d3rlpy-bc-medium-replay": "offline",
        "d3rlpy-cql-medium": "offline", "d3rlpy-cql-medium-replay": "offline"}
    run_dir = "benchmarks/runs/mujoco/Hopper-v5/online_hybrid/cleanrl-sac/seed3"
    assert peer_rows["cleanrl-sac"].command(3) == [
        "benchmarks/peers.py", "cleanrl-sac", "--env-id", "Hopper-v5", "--total-timesteps", "100000",
        "--eval-interval", "5000", "--eval-episodes", "10", "--seed", "3", "--out", run_dir]
    for name, like in [("d3rlpy-bc-medium", "bc-medium"), ("d3rlpy-bc-medium-replay", "bc-medium-replay"),
                       ("d3rlpy-cql-medium", "cql-medium"), ("d3rlpy-cql-medium-replay", "cql-medium-replay")]:
        command, our_command = peer_rows[name].command(1), ours[like].command(1)
        assert command[:3] == ["benchmarks/peers.py", name[:10].rstrip("-"), "--data"]
        assert command[3] == our_command[our_command.index("--offline-buffer-dir") + 1]
        assert command[command.index("--config") + 1] == "like-ours"
        assert command[command.index("--steps") + 1] == our_command[our_command.index("--num-iterations") + 1]
        for flag in ("--eval-interval", "--eval-episodes", "--seed"):
            assert command[command.index(flag) + 1] == our_command[our_command.index(flag) + 1]
    # peers.py reads them as they are meant: the same budget, evaluation, seed and run directory
    args = peers.parse_args(peer_rows["d3rlpy-cql-medium"].command(2)[1:])
    assert (args.steps, args.eval_interval, args.eval_episodes, args.seed, args.config) == (
        20000, 5000, 10, 2, "like-ours")
    assert args.out.endswith("offline/d3rlpy-cql-medium/seed2")
    assert not any(e.peer for group in pendulum_suite().groups.values() for e in group.experiments)


def pendulum_suite():
    args = SimpleNamespace(iterations_scale=1, alf_buffer=None, only=["online", "hybrid", "offline"], threads=1,
                           seeds=[1])
    return suites.pendulum(args, "full", suites.PENDULUM_MODES["full"], buffer.PENDULUM_REFERENCE_RETURNS)


def test_adding_the_peers_leaves_the_commands_of_every_recorded_run_of_ours_as_they_were():
    """Every record in benchmarks/results/mujoco_*/ is of its experiment's command now: still skipped, not made
    again, by the same command."""
    checked = 0
    for results in sorted((ROOT / "benchmarks" / "results").glob("mujoco_*")):
        suite = mujoco_suite(ROOT / "benchmarks", results.name[len("mujoco_"):])
        experiments = {(e.question.split("/")[-1], e.name): e for g in suite.groups.values() for e in g.experiments}
        for stamp in sorted(results.glob(f"records/*/*/seed*/{runner.STAMP_FILE}")):
            group, name, seed = stamp.parts[-4], stamp.parts[-3], int(stamp.parts[-2][len("seed"):])
            assert json.loads(stamp.read_text())["command"] == experiments[(group, name)].command(seed), stamp
            checked += 1
    assert checked > 0


def peer_experiment(tmp_path, monkeypatch, venv):
    """cleanrl-sac on Pendulum-v1 for the fake venv's 10 iterations, its venv the fake one (or none)."""
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    monkeypatch.setitem(peers.PEERS, "cleanrl-sac", ("cleanrl", str(venv), peers.PEERS["cleanrl-sac"][2]))
    return suites.Experiment("q/online_hybrid", "cleanrl-sac", runner.PEERS_SCRIPT,
                             ("cleanrl-sac", "--env-id", "Pendulum-v1"), None, 10)


def test_the_runner_records_a_peer_run_as_ours_skips_it_finished_and_makes_a_killed_one_again(
        tmp_path, monkeypatch, capsys):
    venv = fake_venv(tmp_path, runner_body="open(out.parent / 'made', 'a').write(' '.join(sys.argv[1:]) + '\\n')")
    e, results = peer_experiment(tmp_path, monkeypatch, venv), tmp_path / "results"
    runner.run_grid([e], [1], jobs=1, threads=1, results_dir=results)
    made = (e.run_dir(1).parent / "made").read_text().splitlines()
    assert len(made) == 1 and "--torch-threads 1" in made[0]  # the runner's thread count reached the peer's code
    record = runner.record_dir(results, e, 1)
    stamp = json.loads((record / runner.STAMP_FILE).read_text())
    # the recorded command is the experiment's (no --torch-threads, no --venv), with what peers.py adds
    assert stamp["command"] == e.command(1) and stamp["peer"]["version"] == "9.9.9"
    assert stamp["code_sha256"] == runner.code_sha256(e.command(1))
    assert stamp["code_sha256"] == peers.sha256_files(*peers.code_files("cleanrl-sac"))  # peers.py's own, the same
    assert (record / "eval.jsonl").read_bytes() == (e.run_dir(1) / "eval.jsonl").read_bytes()
    assert json.loads((record / runner.TIMING_FILE).read_text())["resumed"] is False
    capsys.readouterr()
    runner.run_grid([e], [1], jobs=1, threads=1, results_dir=results)
    assert "done already, skipped" in capsys.readouterr().out
    # killed mid-run (peers have no checkpoint): its stamp there, its evaluations so far; peers.py would refuse the
    # directory without --overwrite, the runner makes the run again from the start
    (e.run_dir(1) / "eval.jsonl").write_text(json.dumps({"iteration": 4, "return_mean": -9.0}) + "\n")
    runner.run_grid([e], [1], jobs=1, threads=1, results_dir=results)
    assert len((e.run_dir(1).parent / "made").read_text().splitlines()) == 2
    assert runner.last_iteration(e.run_dir(1)) == 10 and runner.last_iteration(record) == 10


def test_a_missing_peer_venv_is_one_error_line_and_only_the_peers_rows_need_one(tmp_path, monkeypatch, capsys):
    peer_experiment(tmp_path, monkeypatch, tmp_path / "no_venv")
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    started = []  # no cluster here: what the grid would run
    monkeypatch.setattr(runner, "ray_cluster", lambda address, jobs: contextlib.nullcontext(None))
    monkeypatch.setattr(runner, "run_all", lambda ray, runs, *args, **kwargs: started.extend(runs))

    def learning_main(*names):
        monkeypatch.setattr(sys, "argv", ["learning.py", "--env-id", "Hopper-v5", "--only", "online_hybrid",
                                          "--seeds", "1", "--datasets-dir", str(tmp_path / "datasets"),
                                          "--results-dir", str(tmp_path / "results"), "--experiments", *names])
        learning.main()

    with pytest.raises(SystemExit) as exit_:
        learning_main("sac", "cleanrl-sac")
    assert exit_.value.code == 2 and not started
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no peer venv ") and "bash benchmarks/peer_venvs.sh" in err
    assert "cleanrl-sac" in err
    learning_main("sac")  # ours alone: no venv needed
    assert [run.command[0] for run in started] == ["hybrid_sac.py"]
