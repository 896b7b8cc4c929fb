"""The benchmark suites, as a table: per task its groups of experiments (one script, its flags, one dataset, an
iteration budget), what each group asks, and the published points its table is read against.

learning.py runs a suite (each experiment once per seed, through runner.py) and report.py writes its learning.md.
Pendulum-v1's suite uses the two shipped buffers and two made here; a MuJoCo task's, mujoco_datasets.py's datasets.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from runner import PEERS_SCRIPT, ROOT, rel

sys.path.insert(0, str(ROOT))
import offline_cql  # noqa: E402  (each task's CQL weight)

BENCH = ROOT / "benchmarks"
RUNS, DATASETS = BENCH / "runs", BENCH / "datasets"
EVAL_EPISODES = 10
EVAL_EVERY = 250  # Pendulum's; a MuJoCo task's: MUJOCO_EVAL_EVERY
# RLPD (Ball et al. 2023): several updates per env step, an ensemble of 10 LayerNorm critics whose TD target
# takes the minimum over 2 drawn at random; the online part trains from 100 online rows on (the offline part
# from iteration 0)
RLPD_FLAGS = ("--utd-ratio", "4", "--num-critics", "10", "--num-min-critics", "2", "--learning-starts", "100",
              "--critic-layer-norm")
# a peer's flag for our --num-iterations (benchmarks/peers.py): env steps for CleanRL's SAC, gradient steps for d3rlpy
PEER_BUDGET_FLAG = {"cleanrl-sac": "--total-timesteps", "d3rlpy-bc": "--steps", "d3rlpy-cql": "--steps"}


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path  # what --offline-buffer-dir gets
    make: Optional[list] = None  # the command that writes it (None: shipped, or made by mujoco_datasets.py)
    made_file: Optional[Path] = None  # exists once `make` has finished


@dataclass(frozen=True)
class Experiment:
    question: str  # its group, as the path under RUNS: "offline", "mujoco/Hopper-v5/offline", ...
    name: str
    script: str  # one of ours, or PEERS_SCRIPT (a peer's own code): then flags begin with the peer's name
    flags: tuple
    dataset: Optional[Dataset]
    iterations: int
    switch: Optional[int] = None  # the iteration at which online training starts, when not at 0 or never
    eval_every: int = EVAL_EVERY

    def run_dir(self, seed) -> Path:
        return RUNS / self.question / self.name / f"seed{seed}"

    def eval_interval(self) -> int:
        """eval_every, or less in scaled smoke tests; always a divisor of the switch, so that it is evaluated."""
        base = self.switch or self.iterations
        interval = min(self.eval_every, max(1, base // 4))
        while base % interval:
            interval -= 1
        return interval

    @property
    def peer(self) -> Optional[str]:
        """The peer whose code the experiment runs (peers.py's name: cleanrl-sac, ...), None for ours."""
        return self.flags[0] if self.script == PEERS_SCRIPT else None

    def command(self, seed) -> list:
        evaluation = ["--eval-interval", str(self.eval_interval()), "--eval-episodes", str(EVAL_EPISODES),
                      "--seed", str(seed)]
        if self.peer:  # peers.py's flags (no checkpoint: an interrupted peer run is made again)
            data = ["--data", rel(self.dataset.path)] if self.dataset else []
            return [self.script, self.peer, *data, *self.flags[1:], PEER_BUDGET_FLAG[self.peer], str(self.iterations),
                    *evaluation, "--out", rel(self.run_dir(seed))]
        data = ["--offline-buffer-dir", rel(self.dataset.path)] if self.dataset else []
        return [self.script, *data, *self.flags, "--num-iterations", str(self.iterations), *evaluation,
                "--run-dir", rel(self.run_dir(seed))]


@dataclass
class Group:
    env_id: str
    text: str  # what the group asks, above its table
    experiments: list
    published: Optional[str] = None  # the published points its table is read against (MuJoCo)
    per_seed: bool = False  # columns per seed: when each first reached -200, and the lowest return after
    cpu_ratio_to: Optional[str] = None  # a column of each row's CPU time over this experiment's
    peer_text: Optional[str] = None  # what the peers' rows are, after text, where the table has one


@dataclass
class Suite:
    title: str
    header: list  # the paragraphs under the title: settings, how to read the tables
    groups: dict  # {group name: Group}
    # Pendulum's rows are read against a fixed return (-200: swung up and balancing); the others' against online
    # SAC's final return in its group, with the mean of all evaluations and the CPU time beside
    solved_return: Optional[float] = None
    settings: str = ""
    make_datasets: str = "python benchmarks/mujoco_datasets.py"  # the command that makes a missing dataset


# ---------------------------------------------------------------------------------------------
# Pendulum-v1

PENDULUM_MODES = {  # iterations of each kind of experiment
    "full": dict(seeds=(1, 2, 3), sac=10_000, bc=20_000, cql=10_000, cql_flags=(), rlpd=2_000, rlpd_reference=5_000),
    "quick": dict(seeds=(1,), sac=5_000, bc=5_000, cql=3_000, cql_flags=("--cql-n-actions", "4"), rlpd=2_000,
                  rlpd_reference=5_000)}
RLPD_EVAL_EVERY = 100  # the rlpd group's: its question is "within 1,000 iterations", 250 is too coarse


def pendulum_datasets(scaled=lambda iterations: iterations, alf_buffer: Optional[str] = None) -> dict:
    medium_file = DATASETS / "pendulum_medium" / "ckpt-10000-replay_buffer"
    replay_run, replay_iterations = DATASETS / "pendulum_replay_run", scaled(3000)
    datasets = [
        Dataset("expert", ROOT / "data" / "pendulum_expert"),
        Dataset("medium", medium_file.parent, made_file=medium_file, make=[
            "collect.py", "--env-id", "Pendulum-v1", "--source", "scripted", "--action-noise", "0.5",
            "--num-steps", "10000", "--seed", "3", "--output", rel(medium_file)]),
        Dataset("mixed", ROOT / "data" / "pendulum_mixed"),
        Dataset("replay", replay_run,
                made_file=replay_run / "train" / "algorithm" / f"ckpt-{replay_iterations}-replay_buffer",
                make=["hybrid_sac.py", "--num-iterations", str(replay_iterations), "--save-buffer",
                      "--checkpoint-interval", str(replay_iterations), "--seed", "7", "--run-dir", rel(replay_run)]),
    ]
    if alf_buffer:
        datasets.append(Dataset("alf", Path(os.path.abspath(alf_buffer))))
    return {d.name: d for d in datasets}


def pendulum(args, mode: str, b: dict, refs: dict) -> Suite:
    """b: the iterations of each kind (PENDULUM_MODES[mode], or the command line's), scaled by
    args.iterations_scale (smoke tests); refs: the reference returns of data/pendulum_expert."""
    scale, alf_buffer = args.iterations_scale, args.alf_buffer

    def scaled(iterations):
        return max(4, int(round(iterations * scale)))

    data = pendulum_datasets(scaled, alf_buffer)

    def e(group, name, script, flags, dataset, iterations, **options):
        return Experiment(group, name, script, flags, dataset and data[dataset], scaled(iterations), **options)
    alf = ["alf"] if alf_buffer else []
    o2o = scaled(2 * b["cql"])
    groups = {
        "online": ("Online SAC, no offline data.", [e("online", "sac", "hybrid_sac.py", (), None, b["sac"])]),
        "hybrid": ("Hybrid SAC: every iteration one update on an offline batch plus an online batch (ALF's loop); "
                   "sac-alf-utd2 makes two such updates per iteration (--utd-ratio 2).",
                   [e("hybrid", f"sac-{d}", "hybrid_sac.py", (), d, b["sac"]) for d in ["expert", "mixed", *alf]]
                   # RLPD's update-to-data ratio: with ALF's 600-row file, two updates per env step
                   + [e("hybrid", "sac-alf-utd2", "hybrid_sac.py", ("--utd-ratio", "2"), d, b["sac"]) for d in alf]),
        "offline": ("Pure offline training, no env step: behavior cloning and CQL on four datasets.",
                    [e("offline", f"{algo}-{d}", script, flags, d, iterations)
                     for algo, script, flags, iterations in [("bc", "offline_bc.py", (), b["bc"]),
                                                             ("cql", "offline_cql.py", b["cql_flags"], b["cql"])]
                     for d in ["expert", "medium", "mixed", "replay"]]),
        "offline_to_online": (
            "CQL pre-trained offline on the mixed data for half the iterations, then online (the CQL loss on offline "
            "batches continues). Does the score collapse when online training starts (dotted line)?",
            [Experiment("offline_to_online", "cql-mixed-then-online", "offline_cql.py",
                        (*b["cql_flags"], "--rl-train-after-update-steps", str(o2o // 2)), data["mixed"], o2o,
                        switch=o2o // 2)]),
        "rlpd": ("Does an RLPD-style configuration of hybrid SAC on the expert buffer (" + " ".join(RLPD_FLAGS)
                 + ") reach a return of -200 within 1,000 iterations? Against online SAC and default hybrid SAC "
                 "(sac-expert), all evaluated every 100 iterations. \"CPU s / 1,000 iterations\": the training "
                 "process's user + system CPU time (1 torch thread, evaluations and start-up included) per 1,000 "
                 "iterations, mean over seeds; \"× sac-expert\": that over sac-expert's.",
                 [e("rlpd", name, "hybrid_sac.py", flags, d, iterations, eval_every=RLPD_EVAL_EVERY)
                  for name, flags, d, iterations in [("sac", (), None, b["rlpd_reference"]),
                                                     ("sac-expert", (), "expert", b["rlpd_reference"]),
                                                     ("sac-expert-rlpd", RLPD_FLAGS, "expert", b["rlpd"])]]),
    }
    settings = (f"{mode} mode: online and hybrid SAC {b['sac']:,} iterations, BC {b['bc']:,}, CQL {b['cql']:,}"
                f"{' with ' + ' '.join(b['cql_flags']) if b['cql_flags'] else ''}, offline-to-online CQL "
                f"{2 * b['cql']:,} (online from {b['cql']:,}); evaluation every {EVAL_EVERY} iterations, "
                f"{EVAL_EPISODES} deterministic episodes")
    if "rlpd" in args.only:
        settings += (f"; rlpd: RLPD-style hybrid SAC {b['rlpd']:,} iterations, online and default hybrid SAC "
                     f"{b['rlpd_reference']:,}, evaluation every {RLPD_EVAL_EVERY}")
    if scale != 1:
        settings += f". ITERATIONS SCALED BY {scale} (a smoke test, not a result)"
    settings += f"; {args.threads} torch thread(s) per run"
    expert_file = data["expert"].path / "ckpt-10000-replay_buffer"
    return Suite(
        "Learning results on Pendulum-v1",
        [f"Settings: {settings}. Seeds: {' '.join(map(str, args.seeds))}.\n",
         "Final = the evaluation at the last iteration; ± is the standard deviation over seeds (numpy's, ddof 0). "
         f"Normalized score = 100 (R - R_random) / (R_expert - R_random) with R_random = {refs['random']:.1f} and "
         f"R_expert = {refs['expert']:.1f}, the reference returns of {rel(expert_file)}, for every run. \"first "
         "return ≥ -200 at\": the mean over the seeds that get there of the first evaluated iteration where the "
         "mean evaluation return is at least -200, and how many seeds do.\n"],
        {name: Group("Pendulum-v1", text, experiments, per_seed=name == "rlpd",
                     cpu_ratio_to="sac-expert" if name == "rlpd" else None)
         for name, (text, experiments) in groups.items()},
        solved_return=-200.0, settings=settings)


# ---------------------------------------------------------------------------------------------
# A MuJoCo task, with the datasets of mujoco_datasets.py

MUJOCO_ITERATIONS = dict(sac=100_000, rlpd=10_000, bc=100_000, cql=20_000, cql_long=60_000)
MUJOCO_EVAL_EVERY = 5_000  # 10 Hopper episodes take seconds: every 250 iterations would double a run's time


def mujoco_datasets(env_id: str, datasets_dir: Path) -> dict:
    return {kind: Dataset(kind, datasets_dir / env_id / kind) for kind in ("medium", "medium-replay", "expert")}


def mujoco(args, b: dict, refs: dict, source: str) -> Suite:
    """b: the iterations of each kind (MUJOCO_ITERATIONS, or the command line's); refs: D4RL's reference returns
    (source: where they come from)."""
    env_id = args.env_id
    data, env = mujoco_datasets(env_id, args.datasets_dir), ("--env-id", env_id)

    def e(group, name, script, flags, dataset, iterations, switch=None):
        return Experiment(f"mujoco/{env_id}/{group}", name, script, (*env, *flags), dataset and data[dataset],
                          iterations, switch=switch, eval_every=MUJOCO_EVAL_EVERY)

    def peer(group, name, flags, dataset, iterations):  # a peer's own code through peers.py (the env: the data's)
        return Experiment(f"mujoco/{env_id}/{group}", name, PEERS_SCRIPT, flags, dataset and data[dataset],
                          iterations, eval_every=MUJOCO_EVAL_EVERY)
    # the cql_weight group and the offline-to-online group's second row: the other of the two weights compared, 0.2
    # where the task's default weight (offline_cql.TASK_SETTINGS) is CORL's 10, 10 where it is 0.2
    cql, other = b["cql"], "0.2" if offline_cql.parse_args(["--env-id", env_id]).cql_alpha == 10 else "10"
    other_flags, alpha = ("--cql-alpha", other), f"alpha{other}"
    groups = {
        "online_hybrid": [e("online_hybrid", f"sac{'-' + d if d else ''}", "hybrid_sac.py", (), d, b["sac"])
                          for d in (None, "medium-replay", "expert")]
        + [e("online_hybrid", "sac-medium-replay-rlpd", "hybrid_sac.py", RLPD_FLAGS, "medium-replay", b["rlpd"])]
        + [peer("online_hybrid", "cleanrl-sac", ("cleanrl-sac", *env), None, b["sac"])],
        "offline": [e("offline", f"bc-{d}", "offline_bc.py", (), d, b["bc"])
                    for d in ("expert", "medium", "medium-replay")]
        + [e("offline", f"cql-{d}", "offline_cql.py", (), d, cql) for d in ("medium", "medium-replay")]
        + [peer("offline", f"d3rlpy-{algo}-{d}", (f"d3rlpy-{algo}", *D3RLPY_CONFIG), d, iterations)
           for algo, d, iterations in [("bc", "medium", b["bc"]), ("bc", "medium-replay", b["bc"]),
                                       ("cql", "medium", cql), ("cql", "medium-replay", cql)]],
        "offline_to_online": [e("offline_to_online", f"cql-medium-replay{w}-then-online", "offline_cql.py",
                                ("--rl-train-after-update-steps", str(cql), *flags), "medium-replay", 2 * cql,
                                switch=cql) for w, flags in (("", ()), (f"-{alpha}", other_flags))],
        "cql_weight": [e("cql_weight", f"cql-{d}-{alpha}", "offline_cql.py", other_flags, d, cql)
                       for d in ("medium", "medium-replay")]
        + [e("cql_weight", "cql-medium-replay-long", "offline_cql.py", (), "medium-replay", b["cql_long"])],
    }
    published = PUBLISHED.get(env_id.split("-v")[0], {})
    settings = (f"online and hybrid SAC {b['sac']:,} iterations, RLPD-style {b['rlpd']:,}, BC {b['bc']:,}, CQL "
                f"{cql:,} (-long: {b['cql_long']:,}; offline-to-online: {2 * cql:,}, online from {cql:,}); "
                f"evaluation every {MUJOCO_EVAL_EVERY:,} iterations; {args.threads} torch thread(s) per run")
    return Suite(
        f"Learning results on {env_id}",
        [f"Settings: {settings}. Seeds: {' '.join(map(str, args.seeds))}. Datasets: benchmarks/mujoco_datasets.py "
         f"(`python buffer.py info benchmarks/datasets/{env_id}/<kind>` says how each was made).\n",
         COUNTED_SEEDS.format(evaluation=f"the evaluation ({EVAL_EPISODES} deterministic episodes)")
         + f" Normalized score = 100 (R - R_random) / (R_expert - R_random), {source}: R_random = "
         f"{refs['random']:,.2f}, R_expert = {refs['expert']:,.2f}, for every run.\n"],
        {name: Group(env_id, MUJOCO_GROUPS[name], experiments, published.get(name, "none recorded yet."),
                     peer_text=MUJOCO_PEERS.get(name)) for name, experiments in groups.items()},
        settings=settings,
        make_datasets=f"python benchmarks/mujoco_datasets.py --env-id {env_id} (or choose --only/--experiments)")


COUNTED_SEEDS = ("Final = {evaluation} at the last iteration. A row counts the finished seeds and names the "
                 "unfinished ones; where none is finished, it counts them at their last evaluation and the iterations "
                 "column says which; ± is the standard deviation over the counted seeds (ddof 0).")
MUJOCO_GROUPS = {
    "online_hybrid": "Online SAC against hybrid SAC (ALF's loop: every iteration one env step, one update on an "
                     "online batch and one on an offline batch) with two datasets, and RLPD-style hybrid SAC. "
                     "\"first ≥ online's final at\": the mean over the seeds that get there of the first evaluated "
                     "iteration whose return reaches the online run's final return (mean over its counted seeds), "
                     "and how many seeds do; \"mean of all evaluations\": the return averaged over every evaluation "
                     "of a run (the area under its curve per iteration), mean ± std over the seeds.",
    "offline": "Pure offline training, no env step: behavior cloning and CQL. Iterations are gradient steps.",
    "offline_to_online": "CQL pre-trained offline on medium-replay, then trained online with it as the offline "
                         "part (dotted line: online training starts); a row named -alpha<w> uses the other CQL "
                         "weight, as in cql_weight.",
    "cql_weight": "Pure offline CQL as in offline, with the other of the two CQL weights compared here: 0.2 where the "
                  "task's default (offline_cql.py's TASK_SETTINGS) is CORL's 10, 10 where it is 0.2. Does the "
                  "weight that the task's default does not use do better? The row named -long trains medium-replay "
                  "with the default weight for --cql-long-iterations: does a larger budget close the rest of the gap?",
}

# The peers' rows: their own code (benchmarks/peers.py, in their own venvs: bash benchmarks/peer_venvs.sh) on the same
# task, data, budget, seeds and evaluation as the rows above them. d3rlpy's --config like-ours: our defaults where
# d3rlpy can set them, so that the rows differ by implementation, not by settings
D3RLPY_CONFIG = ("--config", "like-ours")
MUJOCO_PEERS = {
    "online_hybrid": "The row cleanrl-sac is a peer's: CleanRL 1.2.0's own sac_continuous_action.py, unchanged, run by "
                     "benchmarks/peers.py in .venv-cleanrl on the same task for the same env steps and evaluated as "
                     "ours (deterministic episodes from outside its loop, every 5,000 steps); its settings are "
                     "CleanRL's (2 critics without LayerNorm, the actor updated twice every second step, learning "
                     "from 5,000 steps as ours), so it is read against online SAC, the row sac.",
    "offline": "The rows named d3rlpy-... are a peer's: d3rlpy 2.8.0's BCConfig and CQLConfig, run by "
               "benchmarks/peers.py in .venv-d3rlpy on the same datasets for the same gradient steps as the bc- and "
               "cql- rows of the same dataset, with batch 256 and two hidden layers of 256 as ours, and --config "
               "like-ours: d3rlpy's algorithm with our scripts' defaults wherever d3rlpy can set them (CQL: our "
               "learning rates and initial entropy coefficient, our CQL weight, fixed, SAC's backup, LayerNorm "
               "in the critics, our number of sampled actions; BC: a stochastic policy at our learning rate; both on "
               "observations standardized with the buffer's statistics). So a gap between a peer's row and ours is "
               "the implementations', not the settings'; --config shared (d3rlpy's own defaults: a CQL weight tuned "
               "from 5, other learning rates, no LayerNorm, raw observations, a deterministic BC) would change "
               "all of them at once.",
}

# The published points each group's table is read against, with their sources and how they differ. Every
# dataset here is made by mujoco_datasets.py, not D4RL's: same kinds and sizes, other policies (ours are
# weaker where SAC trained for fewer steps), other env version (v5; D4RL is v2 or v0).
_OURS = ("Our datasets are made here (benchmarks/mujoco_datasets.py), not D4RL's: v5 envs, our own SAC policies "
         "(their returns: `buffer.py info`), so only the order of magnitude of the normalized scores compares.")
_CORL = ("CORL (corl-team/CORL README, D4RL -v2, 1M gradient steps, 4 seeds, normalized score of the last "
         "evaluation, mean ± std over seeds)")
_D3RLPY = "d3rlpy (takuseno/d3rlpy-benchmarks d4rl_table.csv, D4RL -v0, 500k gradient steps, 10 seeds, final)"
_CQL_SETTINGS = ("Besides the steps, our CQL's defaults differ from CORL's cql.py (its TrainConfig): CQL weight "
                 "CORL's 10 but on HalfCheetah 0.2 (offline_cql.py's TASK_SETTINGS; d3rlpy's D4RL script: 5; "
                 "the cql_weight group tries the other), critic learning rate 1e-3 "
                 "(CORL 3e-4), actor 3e-4 (3e-5), critics of 2 hidden layers with LayerNorm (CORL 3, no LayerNorm).")
_RLPD = ("RLPD (Ball et al. 2023, ikostrikov/rlpd): 10 LayerNorm critics, minimum over 2, utd 20, half of every "
         "batch offline, 250k env steps on D4RL -v2 data; its locomotion numbers were not found in any "
         "source we could read, so none is quoted. Our RLPD-style run uses utd 4 (CPU time).")


def _cleanrl_sac(env_v2: str, final_return: str) -> str:
    return (f"CleanRL's sac_continuous_action.py on {env_v2} (docs.cleanrl.dev, rl-algorithms/sac): {final_return}, "
            "the training episodic return after 1M env steps, 3 seeds (learning starts at 5,000 steps, no LayerNorm, "
            "actor updated twice every second step); ours are deterministic evaluation returns on the v5 env after "
            "--sac-iterations env steps.")


PUBLISHED = {
    "Hopper": {
        "online_hybrid": _cleanrl_sac("Hopper-v2", "2,310.46 ± 342.82"),
        "offline": f"{_CORL}: BC hopper-medium 53.51 ± 1.76; CQL hopper-medium 59.08 ± 3.77, hopper-medium-replay "
                   f"95.11 ± 5.27 (hopper-expert: no published CORL score). {_D3RLPY}: CQL hopper-medium 50.1 ± "
                   f"19.9, hopper-medium-replay 31.1 ± 3.4. Ours train far fewer steps (--cql-iterations). "
                   f"{_CQL_SETTINGS} {_OURS}",
    },
    "HalfCheetah": {
        "online_hybrid": _cleanrl_sac("HalfCheetah-v2", "9,634.89 ± 1,423.73"),
        "offline": f"{_CORL}: BC halfcheetah-medium 42.40 ± 0.19; CQL halfcheetah-medium 47.04 ± 0.22, "
                   f"halfcheetah-medium-replay 45.04 ± 0.27 (halfcheetah-expert: none published). {_D3RLPY}: CQL "
                   f"halfcheetah-medium 41.7 ± 0.2, halfcheetah-medium-replay 43.6 ± 3.0. {_CQL_SETTINGS} {_OURS}",
    },
    "Walker2d": {
        "online_hybrid": _cleanrl_sac("Walker2d-v2", "3,591.45 ± 911.33"),
        "offline": f"{_CORL}: BC walker2d-medium 63.23 ± 16.24; CQL walker2d-medium 80.75 ± 3.28, "
                   f"walker2d-medium-replay 73.09 ± 13.22. {_CQL_SETTINGS} {_OURS}",
    },
}
# on every env, hybrid SAC is also read against RLPD's setting, CQL with the other weight against the same CQL points,
# and offline-to-online against none
for _family in PUBLISHED.values():
    _family["online_hybrid"] += " " + _RLPD
    _family["cql_weight"] = _family["offline"]
    _family["offline_to_online"] = ("None: CORL's offline-to-online tables (CQL, Cal-QL) cover AntMaze and Adroit "
                                    f"only. {_OURS}")
