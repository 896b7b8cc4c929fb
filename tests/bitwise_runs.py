"""Short seeded runs of the three scripts in every training mode, and a SHA-256 of each run's final
weights and evaluations: what a change that must not change learning (a refactor) compares before and
after. test_bitwise.py runs it on the code of now and compares with digests recorded from the code
before such a change (or, on a CPU they were not recorded on, made here from that commit's files).

    python tests/bitwise_runs.py [CODE_DIR]     # prints {case: digest} as JSON; CODE_DIR: the scripts' folder
"""
import contextlib
import hashlib
import importlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERT = str(ROOT / "data" / "pendulum_expert")
SMALL = ["--num-iterations", "200", "--eval-interval", "100", "--eval-episodes", "1", "--batch-size", "16",
         "--hidden-dim", "16", "--checkpoint-interval", "100", "--torch-threads", "1",
         "--no-cuda", "--learning-starts", "50"]
OFFLINE_THEN_ONLINE = ["--offline-buffer-dir", EXPERT, "--rl-train-after-update-steps", "100"]
PURE_OFFLINE = ["--offline-buffer-dir", EXPERT, "--rl-train-after-update-steps", "1000000"]
# case: (script, flags); a case with a second list is a run of the first flags resumed with the second
CASES = {
    "sac-online": ("hybrid_sac", ["--num-envs", "2"]),
    "sac-hybrid": ("hybrid_sac", ["--offline-buffer-dir", EXPERT, "--normalize-observations"]),
    "sac-offline": ("hybrid_sac", PURE_OFFLINE),
    "sac-offline-then-hybrid-every-2": ("hybrid_sac", OFFLINE_THEN_ONLINE + ["--rl-train-every-update-steps", "2"]),
    "sac-rlpd": ("hybrid_sac", ["--offline-buffer-dir", EXPERT, "--utd-ratio", "2", "--num-critics", "4",
                                "--num-min-critics", "2", "--no-critic-layer-norm"]),
    "sac-online-resumed": ("hybrid_sac", ["--num-iterations", "100"], ["--num-iterations", "200"]),
    "bc-offline": ("offline_bc", PURE_OFFLINE),
    "bc-offline-mse": ("offline_bc", PURE_OFFLINE + ["--bc-loss", "mse"]),
    "bc-then-online": ("offline_bc", OFFLINE_THEN_ONLINE),
    "cql-offline": ("offline_cql", PURE_OFFLINE),
    "cql-offline-lagrange": ("offline_cql", PURE_OFFLINE + ["--cql-target-action-gap", "1.0", "--cql-n-actions", "3"]),
    "cql-then-online": ("offline_cql", OFFLINE_THEN_ONLINE),
    "cql-offline-resumed": ("offline_cql", PURE_OFFLINE + ["--num-iterations", "100"], ["--num-iterations", "200"]),
}


def digest(agent, run_dir: Path) -> str:
    """SHA-256 of every weight and buffer of the agent and of every evaluation written."""
    h = hashlib.sha256()
    for name, tensor in sorted(agent.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for line in (run_dir / "eval.jsonl").read_text().splitlines():
        e = json.loads(line)
        h.update(repr((e["iteration"], e["env_steps"], e["return_mean"], e["return_std"])).encode())
    return h.hexdigest()


def run_cases(code_dir: Path) -> dict:
    sys.path.insert(0, str(code_dir))
    digests = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, (script, flags, *resumed) in CASES.items():
            module = importlib.import_module(script)
            run_dir = str(Path(tmp) / case)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                agent, _ = module.train(module.parse_args(SMALL + flags + ["--run-dir", run_dir]))
                if resumed:
                    agent, _ = module.train(module.parse_args(["--resume", run_dir] + resumed[0]))
            digests[case] = digest(agent, Path(run_dir))
    return digests


if __name__ == "__main__":
    os.chdir(ROOT)
    print(json.dumps(run_cases(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT), indent=1))
