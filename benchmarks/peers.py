"""The peer harness: runs a peer's own code, installed from PyPI in its own virtual environment (never in
requirements.txt), on our tasks and data with our budget, seed, batch size, network sizes and evaluation, and
records the run as benchmarks/learning.py records ours, so that a table can set a measured peer row beside ours.

    python benchmarks/peers.py cleanrl-sac --env-id Hopper-v5 --seed 1 --total-timesteps 100000 --out DIR
    python benchmarks/peers.py d3rlpy-cql --data benchmarks/datasets/Hopper-v5/medium --steps 20000 --seed 1 --out DIR
    python benchmarks/peers.py d3rlpy-bc --data data/pendulum_expert --steps 20000 --eval-interval 1000 --out DIR

Peers (make their venvs first: `bash benchmarks/peer_venvs.sh`):
  cleanrl-sac  CleanRL 1.2.0's sac_continuous_action.py, unchanged, in .venv-cleanrl, on Gymnasium's task
               (-v5 as our scripts see it, or -v4) through an adapter to the gym 0.23.1 API the file is written
               for; evaluated from outside its loop with its own actor (benchmarks/peer_runs/cleanrl_sac.py says
               how and why). Its settings are CleanRL's: batch 256, two hidden layers of 256, 2 critics without
               LayerNorm, one update per env step, the actor updated twice every second step; learning starts
               after 5 episodes of random actions as ours does (5,000 steps on MuJoCo: CleanRL's own default).
  d3rlpy-bc, d3rlpy-cql
               d3rlpy 2.8.0's BCConfig / CQLConfig in .venv-d3rlpy on one of our offline buffers, batch 256, two
               hidden layers of 256, the same gradient steps; --config shared (d3rlpy's defaults otherwise) or
               like-ours (benchmarks/peer_runs/d3rlpy_offline.py lists both).

Every peer is evaluated as our scripts are: --eval-episodes (10) deterministic episodes every --eval-interval
iterations and at the end, seeds seed + 1,000,000 + episode, normalized with the buffer's reference returns
(D4RL's for an online MuJoCo task). OUT gets eval.jsonl (one line per evaluation: iteration, env_steps,
return_mean, return_std, normalized_score), benchmark_command.json (this command, the SHA-256 of our code it
ran (code_files) and of the data; the peer's package, version and the SHA-256 of its file) and
benchmark_time.json (wall and CPU seconds), the files learning.py keeps in records/<group>/<experiment>/seed<k>/.
learning.py runs the MuJoCo suite's peer rows through this command (suites.py). Bad input (no venv, no dataset,
an unknown env, a finished run without --overwrite) is one line `error: ...` and exit 2.
"""
import argparse
import ctypes
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STAMP_FILE, TIMING_FILE = "benchmark_command.json", "benchmark_time.json"  # as runner.py names them
PEERS = {  # name: (package, its venv, the runner the venv's python runs)
    "cleanrl-sac": ("cleanrl", ".venv-cleanrl", "benchmarks/peer_runs/cleanrl_sac.py"),
    "d3rlpy-bc": ("d3rlpy", ".venv-d3rlpy", "benchmarks/peer_runs/d3rlpy_offline.py"),
    "d3rlpy-cql": ("d3rlpy", ".venv-d3rlpy", "benchmarks/peer_runs/d3rlpy_offline.py"),
}
# the peer's own file that the run executes, hashed into the stamp's "peer" (its version is stamped too)
PEER_FILES = {"cleanrl": "cleanrl/sac_continuous_action.py", "d3rlpy": "d3rlpy/algos/qlearning/cql.py"}
# our code that a peer's run reads besides this file and its runner: d3rlpy_offline.py evaluates with offline_cql.py
# and takes --config like-ours from offline_cql.py's and offline_bc.py's defaults
OUR_FILES = {"cleanrl": ("buffer.py",), "d3rlpy": ("buffer.py", "collect.py", "offline_bc.py", "offline_cql.py")}


def code_files(peer: str) -> list:
    """The files of this repository a peer's run executes: the stamp's code_sha256 hashes them (runner.py's
    code_sha256 too, so that a report tells a run made by older code without the peer's venv). The peer's own
    file, in its venv, is hashed apart (stamp["peer"]["file_sha256"])."""
    package, _, runner = PEERS[peer]
    return [Path(__file__).resolve(), ROOT / runner, *(ROOT / name for name in OUR_FILES[package])]


def venv_python(peer: str, venv=None) -> Path:
    """The python of the peer's venv: venv's, or by default .venv-<package> in the repository's."""
    return (Path(venv) if venv else ROOT / PEERS[peer][1]) / "bin" / "python"


class UsageError(Exception):
    """Input that cannot work; main() prints it as one line `error: ...` and exits 2."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__[
                                         __doc__.index("Peers"):])
    peers = parser.add_subparsers(dest="peer", required=True, metavar="PEER")

    def common(sub):
        sub.add_argument("--seed", type=int, default=1)
        sub.add_argument("--out", required=True, help="the run's directory: eval.jsonl and the stamps")
        sub.add_argument("--eval-interval", type=int, default=5000, help="iterations between evaluations")
        sub.add_argument("--eval-episodes", type=int, default=10)
        sub.add_argument("--torch-threads", type=int, default=1)
        sub.add_argument("--venv", help="the peer's venv (default: .venv-<package> in the repository)")
        sub.add_argument("--overwrite", action="store_true", help="replace a run already in --out")

    sac = peers.add_parser("cleanrl-sac", help="CleanRL's SAC, online")
    sac.add_argument("--env-id", required=True, help="a Gymnasium task, e.g. Hopper-v5 or Hopper-v4")
    sac.add_argument("--total-timesteps", type=int, required=True, help="env steps (our --num-iterations)")
    sac.add_argument("--learning-starts", type=int, default=None,
                     help="env steps before updates; default as ours, 5 episodes: 5,000 on MuJoCo (CleanRL's own "
                          "default), 1,000 on Pendulum-v1")
    sac.add_argument("extra", nargs="*", help="after --: more flags for CleanRL's script, as it spells them")
    common(sac)
    for name in ("d3rlpy-bc", "d3rlpy-cql"):
        sub = peers.add_parser(name, help=f"d3rlpy's {name[7:].upper()}, pure offline")
        sub.add_argument("--data", required=True, help="an offline buffer file or a directory holding one")
        sub.add_argument("--steps", type=int, required=True, help="gradient steps (our --num-iterations)")
        sub.add_argument("--config", choices=("shared", "like-ours"), default="shared")
        sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="one field of d3rlpy's config, a JSON value (repeatable)")
        common(sub)
    return parser.parse_args(argv)


def sha256_files(*paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def check_env(env_id: str) -> int:
    """A Gymnasium task with Box observations and actions (its max episode steps, or 1,000), else a UsageError."""
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except Exception as e:  # unknown id, a missing dependency, a bad version
        raise UsageError(f"--env-id {env_id}: cannot make this env ({type(e).__name__}: {e})") from None
    spaces, max_steps = (env.observation_space, env.action_space), env.spec.max_episode_steps or 1000
    env.close()
    if not all(isinstance(space, gym.spaces.Box) for space in spaces):
        raise UsageError(f"--env-id {env_id}: needs Box observations and actions, has {spaces[0]} and {spaces[1]}")
    return max_steps


def prepare(args) -> tuple:
    """(the venv's python, the inner command, the stamp); a UsageError for input that cannot work."""
    package, _, runner = PEERS[args.peer]
    python = venv_python(args.peer, args.venv)
    venv = python.parent.parent
    if not python.exists():
        raise UsageError(f"{venv}: no peer venv for {args.peer} ({python} missing); make it with "
                         f"`bash benchmarks/peer_venvs.sh {package}`")
    for name in ("eval_interval", "eval_episodes", "torch_threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    out = Path(args.out)
    if (out / "eval.jsonl").exists() and not args.overwrite:
        raise UsageError(f"{out}: holds a run already (eval.jsonl); --overwrite replaces it")
    common = ["--seed", str(args.seed), "--eval-interval", str(args.eval_interval), "--eval-episodes",
              str(args.eval_episodes), "--torch-threads", str(args.torch_threads), "--out", str(out.resolve())]
    data = None
    if args.peer == "cleanrl-sac":
        if args.total_timesteps < 1:
            raise UsageError(f"--total-timesteps must be at least 1 (got {args.total_timesteps})")
        max_steps = check_env(args.env_id)
        learning_starts = 5 * max_steps if args.learning_starts is None else args.learning_starts  # hybrid_sac.py's
        inner = ["--env-id", args.env_id, "--total-timesteps", str(args.total_timesteps),
                 "--learning-starts", str(learning_starts), *common, "--extra", *args.extra]
    else:
        import buffer

        try:
            offline = buffer.load_offline_buffer(args.data)
        except buffer.BufferError as e:
            raise UsageError(f"--data {e}") from None
        env_id = (offline.meta or {}).get("env_id")
        if not env_id:
            raise UsageError(f"--data {args.data}: the buffer names no env id (an ALF file without meta)")
        check_env(env_id)
        if args.steps < args.eval_interval or args.steps % args.eval_interval:
            raise UsageError(f"--steps {args.steps} must be a multiple of --eval-interval {args.eval_interval} "
                             f"(d3rlpy's fitter evaluates after whole epochs of --eval-interval steps)")
        data = offline.files[0].path
        inner = ["--algo", args.peer[7:], "--data", str(Path(args.data).resolve()), "--env-id", env_id,
                 "--steps", str(args.steps), "--config", args.config,
                 *[x for item in args.set for x in ("--set", item)], *common]
    probe = (f"import importlib.metadata as m, importlib.util as u; print(m.version('{package}')); "
             f"print(u.find_spec('{package}').submodule_search_locations[0])")
    version = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    if version.returncode:
        raise UsageError(f"{venv}: {package} does not import there ({version.stderr.strip().splitlines()[-1:]}); "
                         f"make the venv again with `bash benchmarks/peer_venvs.sh {package}`")
    peer_version, peer_dir = version.stdout.split("\n")[:2]
    peer_file = Path(peer_dir).parent / PEER_FILES[package]
    stamp = {"command": ["benchmarks/peers.py", *sys.argv[1:]],
             "code_sha256": sha256_files(*code_files(args.peer)),
             "data_sha256": data and sha256_files(data),
             "peer": {"package": package, "version": peer_version, "file": PEER_FILES[package],
                      "file_sha256": sha256_files(peer_file)}}
    return [str(python), str(ROOT / runner), *inner], stamp


def die_with_parent():
    """The peer's process gets SIGTERM when this one dies (runner.py stops a run with SIGTERM, which ends this
    process at once): else it would train on, orphaned, into a run directory that the next run takes over."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux
        pass


def write_json(path: Path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        command, stamp = prepare(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("eval.jsonl", STAMP_FILE, TIMING_FILE):
        (out / name).unlink(missing_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.torch_threads), MKL_NUM_THREADS=str(args.torch_threads))
    env.pop("PYTHONPATH", None)  # the project venv's packages must not leak into the peer's
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    status = subprocess.run(command, cwd=ROOT, env=env, preexec_fn=die_with_parent).returncode
    wall, after = time.time() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if status:
        print(f"error: {args.peer}: the peer's run failed (exit status {status}); its output is above",
              file=sys.stderr)
        return 2
    if not (out / "eval.jsonl").exists():
        print(f"error: {args.peer}: the run wrote no {out / 'eval.jsonl'}", file=sys.stderr)
        return 2
    write_json(out / STAMP_FILE, stamp)
    write_json(out / TIMING_FILE, {"wall_seconds": wall, "resumed": False, "cpu_seconds":
                                   after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime})
    last = json.loads((out / "eval.jsonl").read_text().splitlines()[-1])
    score = "—" if last["normalized_score"] is None else f"{last['normalized_score']:.1f}"
    print(f"{args.peer}: final return {last['return_mean']:.1f} (normalized {score}) at "
          f"iteration {last['iteration']:,}; {wall:.0f} s; recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
