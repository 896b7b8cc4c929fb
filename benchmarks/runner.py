"""The benchmarks' runner: every run of a grid (one script, its flags, one dataset, one seed) is a Ray task asking
for one CPU (and a GPU where the run passes --cuda and the cluster has one).

With no address Ray starts embedded on this machine, on its loopback address, with `jobs` CPUs; `--address auto`
or `--address HOST:PORT` joins a running cluster (benchmarks/README.md says how to start one). No shared filesystem
is assumed: the code travels as Ray's working_dir, a run's dataset through the object store (cached per node by
its SHA-256), and the task returns the run's outputs (eval.jsonl, or the file a dataset's command makes), its
timing and stamp to the driver, which writes them under the run's directory, each to a temporary name and renamed.
A task whose worker or node dies is retried by Ray (the run made again from the start: bitwise the same result).
"""

import ctypes
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent  # the repository: the scripts run from here (or its copy on a worker)
STAMP_FILE = "benchmark_command.json"  # a run's command and the hashes of the code and data it read
TIMING_FILE = "benchmark_time.json"  # a finished run's wall and CPU (user + system) seconds
LOG_FILE = "benchmark.log"
# what a node's Python must import to run the scripts (requirements.txt); checked before a task runs anything
NEEDED_MODULES = ("torch", "gymnasium", "mujoco", "numpy", "tyro", "tensorboard", "tqdm")
NO_THREADS_FLAG = ("collect.py",)  # scripts without --torch-threads (OMP_NUM_THREADS alone sets their threads)
# glibc keeps freed blocks for reuse: CQL's large temporaries are not faulted in again at every update
# (26% less CPU, benchmarks/investigations/cql_malloc.md); the same results
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
TASK_RETRIES = 3  # a task whose worker process or node dies is started again this many times
# a peer's own code (CleanRL's, d3rlpy's) runs through this script, in the peer's venv: `benchmarks/peers.py <peer>
# ... --data <dataset> ... --out <run dir>`; it has no checkpoint, so an interrupted peer run starts again
PEERS_SCRIPT = "benchmarks/peers.py"


class RunFailed(Exception):
    """A run or the cluster failed: the message, one line, names the run and says why."""


def rel(path: Path) -> str:
    """A path as the commands show it: relative to the repository when inside it."""
    path = Path(os.path.abspath(path))
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT.parent) else str(path)


def sha256(*contents: bytes) -> str:
    return hashlib.sha256(b"".join(contents)).hexdigest()


def file_sha256(*paths) -> str:
    return sha256(*(Path(path).read_bytes() for path in paths))


_hashed = {}  # (path, size, mtime) -> SHA-256: a dataset of a GB is hashed once per process, not once per run


def dataset_sha256(path: Path) -> str:
    info = Path(path).stat()
    key = (str(os.path.abspath(path)), info.st_size, info.st_mtime_ns)
    if key not in _hashed:
        _hashed[key] = file_sha256(path)
    return _hashed[key]


def peers_module():
    """benchmarks/peers.py (the peers, their venvs and the code their runs read), imported on the driver only."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers
    return peers


def code_sha256(command: list) -> str:
    """The code a run reads: the script it runs and buffer.py, which every script imports; a peer's run, the files
    of ours that peers.py's code_files names (the peer's own file is in its venv, hashed in its stamp's "peer")."""
    if command[0] == PEERS_SCRIPT:
        return file_sha256(*peers_module().code_files(command[1]))
    return file_sha256(ROOT / command[0], ROOT / "buffer.py")


def data_flag(command: list) -> str:
    """The flag that names a command's dataset: peers.py's --data, our scripts' --offline-buffer-dir."""
    return "--data" if command[0] == PEERS_SCRIPT else "--offline-buffer-dir"


def data_file(command: list) -> Optional[Path]:
    """The buffer file of a command's dataset (None without one)."""
    if data_flag(command) not in command:
        return None
    sys.path.insert(0, str(ROOT))
    import buffer  # here, not at the top: a worker runs this module without needing the project's packages
    return buffer.find_buffer_file(ROOT / command[command.index(data_flag(command)) + 1])


def compare_stamps(run_dir: Path, stamp: dict, rerun_older_code: bool) -> tuple:
    """(same, older): whether run_dir holds a run of stamp's command and data (one made by older code counts only
    without rerun_older_code), and whether its code was another than stamp's."""
    stamp_path = run_dir / STAMP_FILE
    saved = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    older = saved.get("code_sha256") != stamp["code_sha256"]
    same = all(saved.get(key) == stamp[key] for key in ("command", "data_sha256")) and not (older and rerun_older_code)
    return same, older


@dataclass(frozen=True)
class Run:
    """One run as the driver hands it to a task. `command` is what is recorded and shown (`python <command>` from
    the repository root); on the worker its run directory and dataset are those of the worker."""
    label: str
    command: list
    run_dir: Path  # the driver's; the worker uses the same path where it can make it, else a temporary one
    outputs: tuple  # the files of run_dir that the task sends back
    stamp: dict = field(default_factory=dict)
    data: Optional[Path] = None  # the dataset file, sent through the object store
    unrecorded: tuple = ()  # flags the run gets that its command and stamp leave out (a peer's venv)

    @classmethod
    def of(cls, label: str, command: list, run_dir: Path, outputs=("eval.jsonl",)) -> "Run":
        data = data_file(command)  # the stamp hashes what a run reads: its code and its data
        stamp = {"command": list(command), "code_sha256": code_sha256(command),
                 "data_sha256": data and dataset_sha256(data)}
        # a peer's venv is not in the repository that travels to the workers: this machine's, at the same path there
        unrecorded = ("--venv", str(peer_venv(command).parent.parent)) if command[0] == PEERS_SCRIPT else ()
        return cls(label, list(command), Path(os.path.abspath(run_dir)), tuple(outputs), stamp, data, unrecorded)


def peer_venv(command: list) -> Path:
    """The python of the venv that a peer's command runs in."""
    return peers_module().venv_python(command[1])


def check_peer_venvs(runs: list):
    """RunFailed, one line, where a peer run is to be made and its venv is not there."""
    missing = {}
    for run in runs:
        if run.command[0] == PEERS_SCRIPT and not peer_venv(run.command).exists():
            missing.setdefault(rel(peer_venv(run.command).parent.parent), []).append(run.command[1])
    if missing:
        venvs = "; ".join(f"{venv} (for {', '.join(sorted(set(peers)))})" for venv, peers in missing.items())
        raise RunFailed(f"no peer venv {venvs}: make it with `bash benchmarks/peer_venvs.sh` (or leave the peer "
                        f"rows out with --experiments)")


# ---------------------------------------------------------------------------------------------
# On the worker


def die_with_parent():
    """A training's process is killed when its Ray worker dies (a node lost): else it would run on, orphaned,
    beside the retry of its task."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: an orphan finishes its run and is ignored
        pass


def local_command(run: Run, out_dir: Path, data: Optional[bytes]) -> list:
    """run.command with the paths of this node: its run directory (written relative or absolute) and dataset, its
    bytes written to a file once per node and dataset."""
    def local(arg: str) -> str:
        for shown in (rel(run.run_dir), str(run.run_dir)):
            if arg == shown or arg.startswith(shown + "/"):
                return str(out_dir) + arg[len(shown):]
        return arg
    command = [local(arg) for arg in run.command]
    if run.data is not None:
        dataset = Path(tempfile.gettempdir()) / "hybrid-offline-rl-datasets" / run.stamp["data_sha256"] / run.data.name
        if not dataset.exists():
            dataset.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(dataset, data)
        command[command.index(data_flag(command)) + 1] = str(dataset)
    return command


@contextmanager
def cancellable():
    """Ray cancels a running task (run_all, on Ctrl-C or SIGTERM at the driver) by raising KeyboardInterrupt in its
    worker's main thread as SIGINT would (_thread.interrupt_main), which does nothing where SIGINT is ignored: in
    the workers of a driver started in the background by a non-interactive shell, which inherit that. So SIGINT is
    handled while a task runs (as it is in an interactive shell's workers), and put back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def execute(run: Run, data: Optional[bytes], threads: int, rerun_older_code: bool) -> dict:
    """A Ray task: run.command in run's directory on this node, unless a run of this very command and data is
    there unfinished with a checkpoint, which continues (--resume). Returns what the driver records, or why not."""
    with cancellable():
        return execute_here(run, data, threads, rerun_older_code)


def execute_here(run: Run, data: Optional[bytes], threads: int, rerun_older_code: bool) -> dict:
    host = socket.gethostname()
    if missing := [name for name in NEEDED_MODULES if importlib.util.find_spec(name) is None]:
        return {"error": f"node {host} lacks the Python package(s) {', '.join(missing)} that the scripts need "
                         f"({sys.executable}; pip install -r requirements.txt there)"}
    out_dir = run.run_dir  # the driver's, where this node can make it: on its machine an interrupted run continues
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # else one named by the driver's path: the same run lands in the same directory again
        out_dir = Path(tempfile.gettempdir()) / "hybrid-offline-rl-runs" / sha256(str(run.run_dir).encode())
    stamp_path = out_dir / STAMP_FILE
    same, older = compare_stamps(out_dir, run.stamp, rerun_older_code)
    resume = same and any((out_dir / "train" / "algorithm").glob("ckpt-*"))
    if resume:  # the stamp stays: a run made by older code stays marked so
        command = [run.command[0], "--resume", str(out_dir)]
    else:
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        stamp_path.write_text(json.dumps(run.stamp))
        command = local_command(run, out_dir, data)
    # every child gets its thread count explicitly; not part of the recorded command (nor was OMP_NUM_THREADS),
    # as a run is bitwise the same at a given count
    if Path(command[0]).name not in NO_THREADS_FLAG:
        command += ["--torch-threads", str(threads)]
    command += run.unrecorded
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), **MALLOC_TUNING}
    start = time.time()
    with open(out_dir / LOG_FILE, "a" if resume else "w") as log:
        process = subprocess.Popen([sys.executable, *command], cwd=os.getcwd(), env=env, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        try:  # polled: a cancelled task gets its KeyboardInterrupt between two polls, not when the run ends
            while not (ended := os.wait4(process.pid, os.WNOHANG))[0]:
                time.sleep(0.2)
        except BaseException:  # the task cancelled (Ctrl-C at the driver): the run checkpoints on SIGTERM and ends
            process.terminate()
            process.wait()
            raise
    _, status, usage = ended  # usage: the child's own CPU time
    returncode = os.waitstatus_to_exitcode(status)
    missing = [name for name in run.outputs if not (out_dir / name).exists()]
    if returncode != 0 or missing:
        lines = (out_dir / LOG_FILE).read_text(errors="replace").splitlines() or [""]
        why = f"exit code {returncode}" if returncode else f"no {', '.join(missing)} written"
        hint = "; it was made by older code: --rerun-older-code starts it again" if older and resume else ""
        return {"error": f"failed ({why}) on {host}{hint}; its last line: {lines[-1].strip()[:300]!r}; "
                         f"the log: {out_dir / LOG_FILE}"}
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    if not resume:  # peers.py writes its own stamp: ours (the recorded command) with what it adds (the peer's version)
        stamp = {**stamp, **run.stamp}
        stamp_path.write_text(json.dumps(stamp))
    return {"host": host, "outputs": {name: (out_dir / name).read_bytes() for name in run.outputs},
            "stamp": stamp,
            # a resumed run's times are its last part's only: marked, and left out of the CPU-time columns
            "timing": {"wall_seconds": time.time() - start, "resumed": resume,
                       "cpu_seconds": usage.ru_utime + usage.ru_stime}}


# ---------------------------------------------------------------------------------------------
# On the driver


def write_atomically(path: Path, data: bytes):
    """A file is either absent or whole: written to a temporary name beside it, then renamed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM handled as Ctrl-C is, for the with-block: a KeyboardInterrupt, on which run_all stops the running runs
    so that they write their checkpoints. A runner started in the background from a non-interactive shell ignores
    SIGINT, so SIGTERM is how to stop it; by default (and with the handler ray.init sets) it ended the driver and its
    runs without a checkpoint. Signal handlers are the main thread's: elsewhere, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextmanager
def ray_cluster(address: Optional[str], jobs: int):
    """Ray embedded on this machine (address None: `jobs` CPUs) or the cluster at address, for the with-block
    (SIGTERM handled as Ctrl-C: sigterm_as_interrupt, set again after ray.init has set its own)."""
    host = None if address in (None, "auto") else address.rsplit(":", 1)[0]
    on_loopback = address is None or host in ("127.0.0.1", "localhost")
    if on_loopback:
        # a cluster of this machine only: Ray would otherwise advertise the machine's network address (read at
        # import by Ray's processes, hence the environment; by this one's, in case it has imported Ray already)
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
        from ray._private import ray_constants
    except ImportError:
        raise RunFailed("ray is not installed: pip install -r benchmarks/requirements.txt") from None
    if on_loopback:
        ray_constants.ENABLE_RAY_CLUSTER = False
    if host is not None:  # fail at once, not after Ray's minute of retries
        try:
            socket.create_connection((host, int(address.rsplit(":", 1)[1])), timeout=10).close()
        except (OSError, ValueError, IndexError) as e:
            raise RunFailed(f"--address {address}: no Ray cluster answers there ({e})") from None
    # the code travels to the workers (no shared filesystem), and this module's functions by value with it
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    options = dict(runtime_env={"working_dir": str(ROOT), "excludes": ["benchmarks/results/"]},
                   log_to_driver=False, logging_level="error")
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        try:
            if address is None:  # "local": a new instance, whatever RAY_ADDRESS or an earlier cluster says
                ray.init(address="local", num_cpus=jobs, include_dashboard=False, **options)
            else:
                ray.init(address=address, **options)
        except Exception as e:  # no cluster at auto, another Ray version, ...
            where = "cannot start Ray on this machine" if address is None else f"--address {address}: cannot join it"
            raise RunFailed(f"{where}: {one_line(e)}") from None
        try:
            with sigterm_as_interrupt():
                yield ray
        finally:
            ray.shutdown()
    finally:  # ray.init's handler (sys.exit) gone with its cluster
        if threading.current_thread() is threading.main_thread() and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)


def store(run: Run, result: dict):
    """Write what execute returned under run.run_dir (stamp and timing before the outputs that mark a run
    finished), or raise RunFailed naming the run and why it failed."""
    if "error" in result:
        raise RunFailed(f"{run.label}: {result['error']}")
    for name, data in [(STAMP_FILE, json.dumps(result["stamp"]).encode()),
                       (TIMING_FILE, json.dumps(result["timing"]).encode()), *result["outputs"].items()]:
        (run.run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(run.run_dir / name, data)


def run_all(ray, runs: list, threads: int, rerun_older_code: bool = False, on_finished=lambda run: None):
    """Every run as a task of the cluster `ray`, each one stored and on_finished(run) called as soon as it finishes
    (the session may end before the others do). Failed runs do not stop the others; then RunFailed names the first."""
    datasets = {run.data: ray.put(run.data.read_bytes()) for run in runs if run.data}
    gpus = ray.cluster_resources().get("GPU", 0)
    pending = {}
    for run in runs:
        print(f"{run.label}: python {shlex.join(run.command)}", flush=True)
        task = ray.remote(execute).options(num_cpus=1, num_gpus=1 if gpus and "--cuda" in run.command else 0,
                                           max_retries=TASK_RETRIES, name=run.label)
        pending[task.remote(run, datasets.get(run.data), threads, rerun_older_code)] = run
    failures = []
    try:
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(done)
            try:
                result = ray.get(done)
            except ray.exceptions.RayError as e:  # its node lost more often than retried, the task broken, ...
                result = {"error": one_line(e)}
            try:
                store(run, result)
            except RunFailed as e:
                failures.append(str(e))
                continue
            resumed = " (continued from its checkpoint)" if result["timing"]["resumed"] else ""
            print(f"{run.label}: finished in {result['timing']['wall_seconds']:.0f} s on {result['host']}{resumed}",
                  flush=True)
            on_finished(run)
    except KeyboardInterrupt:  # Ctrl-C: every running run writes its checkpoint before the cluster goes
        for ref in pending:
            ray.cancel(ref)
        ray.wait(list(pending), num_returns=len(pending), timeout=120)
        raise
    if failures:
        others = [failure.split(": ")[0] for failure in failures[1:]]
        raise RunFailed(failures[0] + (f" (failed too: {', '.join(others)})" if others else ""))


# ---------------------------------------------------------------------------------------------
# A grid: a suite's experiments (suites.Experiment) x seeds, each finished run recorded beside its report


def last_iteration(run_dir: Path) -> int:
    path = run_dir / "eval.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    try:
        return json.loads(lines[-1])["iteration"] if lines else 0
    except (json.JSONDecodeError, KeyError):  # cut off mid-line: unfinished
        return 0


def to_run(command: list, out_dir: Path, finished: bool, label: str, rerun_older_code: bool,
           outputs=("eval.jsonl",)) -> Optional[Run]:
    """The task that makes out_dir, or None where out_dir holds a finished run of this command and data already.
    A run made by older code (an edit of the script or of buffer.py since) is kept, or continued from its checkpoint
    with the code of now, and reports list it; with rerun_older_code it is made again."""
    run = Run.of(label, command, out_dir, outputs)
    same, older = compare_stamps(out_dir, run.stamp, rerun_older_code)
    if same and finished:
        print(f"{label}: done already{' (by older code: kept)' if older else ''}, skipped", flush=True)
        return None
    return run


# A finished run's small files, copied beside its report: benchmarks/results is committed, benchmarks/runs is not,
# and a new machine starts without benchmarks/runs (its reports and the skipping of finished runs would too).
RECORD_FILES = ("eval.jsonl", TIMING_FILE, STAMP_FILE)


def record_dir(results_dir: Path, e, seed: int) -> Path:
    return results_dir / "records" / e.question.split("/")[-1] / e.name / f"seed{seed}"


def read_stamp(directory: Path) -> Optional[dict]:
    try:
        return json.loads((directory / STAMP_FILE).read_text())
    except (OSError, ValueError):  # none there (or cut off)
        return None


def holds_run_of(directory: Path, command: list, record: Path) -> bool:
    """Whether directory holds a run of command and its data, by its stamp: the data being the dataset file on
    this machine now or, where that is not here, the one record's stamp names. A run directory can hold another
    run under the same name (a stand-in timing grid's, one of an older command or dataset): not this one."""
    stamp = read_stamp(directory)
    if stamp is None or stamp.get("command") != list(command):
        return False
    sys.path.insert(0, str(ROOT))
    import buffer
    try:
        data = data_file(command)
    except buffer.BufferError:  # the dataset is not on this machine
        return stamp.get("data_sha256") == (read_stamp(record) or stamp).get("data_sha256")
    return stamp.get("data_sha256") == (data and dataset_sha256(data))


def report_dir(e, seed: int, results_dir: Path) -> Optional[Path]:
    """Where a report reads run (e, seed): its run directory where that holds a run of e's command and data, else
    its record (None where there is none)."""
    run, record = e.run_dir(seed), record_dir(results_dir, e, seed)
    if holds_run_of(run, e.command(seed), record):
        return run
    return record if (record / "eval.jsonl").exists() else None


def sync_records(experiments: list, seeds: list, results_dir: Path, replace_other_runs: bool = False):
    """Copy each finished run's RECORD_FILES to its record_dir where its run directory holds a run of the
    experiment's command and data (holds_run_of), and a record back where its run directory is missing (a new
    machine): reports, and the skipping of finished runs, then go on as before. With replace_other_runs (a grid
    about to run), a run directory that holds another run is replaced by a record of this command and data,
    which the grid then skips (else it would make the run again, deleting that directory all the same). A
    restored run has no checkpoint: where its command or data differs now, it is made again from the start."""
    for e in experiments:
        for seed in seeds:
            run, record, command = e.run_dir(seed), record_dir(results_dir, e, seed), e.command(seed)
            if holds_run_of(run, command, record):
                if last_iteration(run) < e.iterations:
                    continue
                source, target = run, record
            elif not (record / "eval.jsonl").exists():
                continue
            elif not run.exists():
                source, target = record, run
                print(f"{e.name} seed {seed}: restored from {rel(record)} (evaluations only)", flush=True)
            elif replace_other_runs and holds_run_of(record, command, record):
                shutil.rmtree(run)
                source, target = record, run
                print(f"{e.name} seed {seed}: {rel(run)} held another run (another command or data): replaced by "
                      f"{rel(record)} (evaluations only)", flush=True)
            else:
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name in RECORD_FILES:
                if (source / name).exists():
                    write_atomically(target / name, (source / name).read_bytes())


def run_grid(experiments: list, seeds: list, jobs: int, threads: int, rerun_older_code: bool = False,
             results_dir: Optional[Path] = None, address: Optional[str] = None):
    """Make the datasets the experiments need, then every (experiment, seed) run not finished yet, on Ray (embedded
    with `jobs` CPUs, or the cluster at address), each one's record copied to results_dir as soon as it finishes."""
    datasets = {e.dataset.name: e.dataset for e in experiments if e.dataset is not None and e.dataset.make}
    grid = {e.run_dir(seed): (e, seed) for e in experiments for seed in seeds}
    if results_dir is not None:
        sync_records(experiments, seeds, results_dir, replace_other_runs=True)

    def record(run):
        if results_dir is not None:
            e, seed = grid[run.run_dir]
            sync_records([e], [seed], results_dir)

    def unfinished_runs():  # their stamps hash the datasets: only once those are made
        return [run for i, (e, seed) in enumerate(grid.values(), 1)
                if (run := to_run(e.command(seed), e.run_dir(seed), last_iteration(e.run_dir(seed)) >= e.iterations,
                                  f"[{i}/{len(grid)}] {e.question}/{e.name} seed {seed}", rerun_older_code))]
    made = [run for d in datasets.values()
            if (run := to_run(d.make, d.path, d.made_file.exists(), f"dataset {d.name}", rerun_older_code,
                              outputs=[str(d.made_file.relative_to(d.path))]))]
    runs = [] if made else unfinished_runs()
    if not made and not runs:  # all done: no cluster to start or join
        return
    check_peer_venvs(runs)
    with ray_cluster(address, jobs) as ray:
        run_all(ray, made, threads, rerun_older_code)
        if not runs:
            check_peer_venvs(runs := unfinished_runs())
        run_all(ray, runs, threads, rerun_older_code, on_finished=record)
