"""benchmarks/runner.py on a real Ray cluster of two nodes on this machine (loopback only): a grid whose worker node
is killed mid-grid completes, with evaluations bitwise those of the same runs made without Ray; a cluster that lacks
a package, an address with no cluster and a failing run are one `error:` line each, exit status 2."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT

ray = pytest.importorskip("ray", reason="Ray is in benchmarks/requirements.txt")
sys.path.insert(0, str(ROOT / "benchmarks"))
import learning  # noqa: E402
import runner  # noqa: E402
import suites  # noqa: E402

# two experiments x two seeds, 400 iterations each (--quick's 5,000 scaled), one evaluation episode every 100
GRID = ["--quick", "--only", "hybrid", "offline", "--experiments", "sac-expert", "bc-expert", "--seeds", "1", "2",
        "--iterations-scale", "0.08", "--threads", "1"]


def loopback(address_hex: str) -> bool:
    """An address of /proc/net/tcp{,6} (hex) on the loopback: 127.x.x.x, ::1 or ::ffff:127.x.x.x."""
    return address_hex.endswith("7F") or address_hex == "0" * 31 + "1" or address_hex.endswith("0100007F")


def listening() -> set:
    """(address, port) of every listening TCP socket of this machine."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":
                found.add(tuple(local.split(":")))
    return found


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node, one CPU each, on 127.0.0.1; no dashboard."""
    from ray.cluster_utils import Cluster
    before, environment = listening(), dict(os.environ)
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray's processes: stay on the loopback (runner.py)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1",
                                                            "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    try:
        cluster.wait_for_nodes()
        opened = listening() - before
        assert opened and all(loopback(address) for address, port in opened), opened
        yield cluster, worker
    finally:
        cluster.shutdown()
        os.environ.clear()
        os.environ.update(environment)


def descendants_running_a_run(pid: int) -> list:
    """The processes below pid (a raylet) whose command line is a training run's (--run-dir)."""
    parents, found = {}, []
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    for child in parents:
        ancestor = child
        while ancestor in parents and ancestor != pid:
            ancestor = parents[ancestor]
        try:
            if ancestor == pid and b"--run-dir" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found


def kill_node_once_it_trains(cluster, node, killed: list, deadline_s=60):
    """Remove node (its raylet and workers killed, no grace) as soon as a run trains on it."""
    raylet = node.all_processes["raylet"][0].process.pid
    end = time.time() + deadline_s
    while time.time() < end:
        training = descendants_running_a_run(raylet)
        if training:
            time.sleep(1)  # mid-run: started, not finished (a run here takes several seconds)
            cluster.remove_node(node, allow_graceful=False)
            killed.extend(training)
            return
        time.sleep(0.1)


def without_ray(tmp_path, experiments_and_seeds) -> dict:
    """Each run's eval.jsonl made by its script directly, the same command and --torch-threads 1, two at a time."""
    outputs, processes = {}, []
    for e, seed in experiments_and_seeds:
        command = e.command(seed)
        run_dir = tmp_path / "without_ray" / e.name / f"seed{seed}"
        command[command.index("--run-dir") + 1] = str(run_dir)
        processes.append(subprocess.Popen([sys.executable, *command, "--torch-threads", "1"], cwd=ROOT,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        outputs[(e.name, seed)] = run_dir / "eval.jsonl"
        if len(processes) == 2:
            assert all(p.wait() == 0 for p in processes), [p.stderr.read()[-2000:] for p in processes]
            processes = []
    return {key: path.read_bytes() for key, path in outputs.items()}


def test_a_grid_survives_a_killed_node_with_the_evaluations_of_runs_made_without_ray(cluster, tmp_path, monkeypatch):
    ray_cluster, worker = cluster
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(suites, "EVAL_EPISODES", 1)
    results = tmp_path / "results"
    killed = []
    killer = threading.Thread(target=kill_node_once_it_trains, args=(ray_cluster, worker, killed))
    killer.start()
    monkeypatch.setattr(sys, "argv", ["learning.py", *GRID, "--results-dir", str(results),
                                      "--address", ray_cluster.address])
    learning.main()
    killer.join()
    assert killed, "no run trained on the worker node: nothing was killed mid-grid"
    time.sleep(0.5)
    assert not any(Path(f"/proc/{pid}").exists() for pid in killed)  # its training died with its worker

    args = SimpleNamespace(iterations_scale=0.08, alf_buffer=None, only=["hybrid", "offline"], threads=1, seeds=[1])
    groups = suites.pendulum(args, "quick", suites.PENDULUM_MODES["quick"], {"random": -1, "expert": 0}).groups
    grid = [(e, seed) for g in ("hybrid", "offline") for e in groups[g].experiments
            if e.name in ("sac-expert", "bc-expert") for seed in (1, 2)]
    assert len(grid) == 4 and {e.iterations for e, seed in grid} == {400}
    for (name, seed), evaluations in without_ray(tmp_path, grid).items():
        e = next(e for e, s in grid if e.name == name)
        record = runner.record_dir(results, e, seed) / "eval.jsonl"
        assert record.read_bytes() == evaluations, (name, seed)
        assert len(evaluations.splitlines()) == 4  # evaluated at 100, 200, 300 and 400
    assert "| sac-expert |" in (results / "learning.md").read_text()


def test_a_cluster_without_a_needed_package_is_one_error_line(cluster, tmp_path, monkeypatch, capsys):
    ray_cluster, _ = cluster
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(runner, "NEEDED_MODULES", (*runner.NEEDED_MODULES, "no_such_package_here"))
    monkeypatch.setattr(sys, "argv", ["learning.py", *GRID, "--experiments", "bc-expert", "--seeds", "1",
                                      "--results-dir", str(tmp_path / "results"), "--address", ray_cluster.address])
    with pytest.raises(SystemExit) as exit_:
        learning.main()
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: [1/1] offline/bc-expert seed 1: node ") and error.count("\n") == 1
    assert "lacks the Python package(s) no_such_package_here" in error
    assert not (tmp_path / "results" / "records").exists()


@pytest.mark.parametrize("address", ["127.0.0.1:9", "127.0.0.2:9"])  # the second as another host's (still loopback)
def test_an_address_with_no_cluster_behind_it_is_one_error_line(tmp_path, address):
    result = subprocess.run([sys.executable, "benchmarks/learning.py", *GRID, "--results-dir", str(tmp_path),
                             "--address", address], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: --address {address}: no Ray cluster answers there")
    assert result.stderr.count("\n") == 1


def test_a_sweep_runs_a_flag_over_its_values_and_writes_its_table(tmp_path, monkeypatch, capsys):
    """benchmarks/sweep.py end to end at a tiny scale on Ray embedded here: two values of BC's batch size."""
    import sweep
    monkeypatch.setattr(suites, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(suites, "EVAL_EPISODES", 1)
    results = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["sweep.py", "--script", "offline_bc.py", "--flag", "batch-size", "--values",
                                      "32", "64", "--datasets", "expert", "--iterations", "20", "--eval-interval",
                                      "10", "--seeds", "1", "--results-dir", str(results)])
    sweep.main()
    text = (results / "learning.md").read_text()
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| bc-expert-batch-size")]
    assert [row[0] for row in rows] == ["| bc-expert-batch-size32", "| bc-expert-batch-size64"]
    assert all(row[2] == "20" and "nan" not in " ".join(row) for row in rows)
    assert "--env-id Pendulum-v1 --batch-size 32 --num-iterations 20" in text
    assert (results / "learning_Pendulum-v1.png").stat().st_size > 0
    for value in ("32", "64"):
        assert (results / "records" / "Pendulum-v1" / f"bc-expert-batch-size{value}" / "seed1" / "eval.jsonl").exists()
    capsys.readouterr()
    sweep.main()  # finished: both skipped, the same table
    assert capsys.readouterr().out.count("done already, skipped") == 2
    assert (results / "learning.md").read_text() == text


def test_a_sweep_runs_online_without_a_dataset_and_a_boolean_flag_as_tyro_reads_it(tmp_path):
    import hybrid_sac
    import sweep
    args = SimpleNamespace(script="hybrid_sac.py", flag="critic-layer-norm", values=["True", "False"],
                           env_ids=["Hopper-v5"], datasets=["none"], iterations=100, eval_interval=50,
                           extra_flags="", datasets_dir=tmp_path, seeds=[1], threads=1)
    experiments = sweep.sweep(args).groups["Hopper-v5"].experiments
    assert [e.name for e in experiments] == ["sac-critic-layer-normTrue", "sac-critic-layer-normFalse"]
    commands = [e.command(1) for e in experiments]
    assert all("--offline-buffer-dir" not in command for command in commands)
    assert "--critic-layer-norm" in commands[0] and "--no-critic-layer-norm" in commands[1]
    for command in commands:  # hybrid_sac.py takes them
        parsed = hybrid_sac.parse_args(command[1:])
        assert parsed.offline_buffer_dir is None and parsed.critic_layer_norm == (command is commands[0])


def test_extra_flags_may_begin_with_a_dash_as_one_value(tmp_path):
    import sweep
    _, args = sweep.parse_args(["--script", "hybrid_sac.py", "--flag", "alpha", "--values", "1.0", "--env-ids",
                                "Hopper-v5", "--datasets", "none", "--extra-flags", "--no-critic-layer-norm",
                                "--datasets-dir", str(tmp_path)])
    assert args.extra_flags == "--no-critic-layer-norm" and args.datasets == ["none"]
    command = sweep.sweep(args).groups["Hopper-v5"].experiments[0].command(1)
    i = command.index("--alpha")
    assert command[i:i + 3] == ["--alpha", "1.0", "--no-critic-layer-norm"]


def test_a_worker_without_the_drivers_directories_runs_in_its_own_and_returns_the_record(tmp_path, monkeypatch):
    """No shared filesystem: where a node cannot make the driver's run directory, the task runs in one of its own
    (named by the driver's path, so that a retry there finds its checkpoint), with its dataset from the bytes it was
    sent, and returns the evaluations; the stamp keeps the driver's command."""
    monkeypatch.chdir(ROOT)  # a Ray worker's directory: its copy of the repository
    unreachable = tmp_path / "a_file" / "run"  # below a file: no directory can be made there
    unreachable.parent.write_text("")
    command = ["offline_bc.py", "--offline-buffer-dir", "data/pendulum_expert", "--num-iterations", "4",
               "--eval-interval", "2", "--eval-episodes", "1", "--hidden-dim", "16", "--batch-size", "16",
               "--run-dir", str(unreachable)]
    run = runner.Run.of("bc", command, unreachable)
    result = runner.execute(run, run.data.read_bytes(), threads=1, rerun_older_code=False)
    evaluations = result["outputs"]["eval.jsonl"]
    assert [json.loads(line)["iteration"] for line in evaluations.splitlines()] == [2, 4]
    local = Path(tempfile.gettempdir()) / "hybrid-offline-rl-runs" / runner.sha256(str(unreachable).encode())
    assert (local / "eval.jsonl").read_bytes() == evaluations and result["stamp"]["command"] == command
    sent = Path(tempfile.gettempdir()) / "hybrid-offline-rl-datasets" / run.stamp["data_sha256"] / run.data.name
    assert sent.read_bytes() == run.data.read_bytes()
