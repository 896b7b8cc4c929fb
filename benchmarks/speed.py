"""How fast the scripts' updates and hybrid_sac.py's training loop run on this machine (CPU, or its GPU).

    python benchmarks/speed.py                # about 9 minutes with d3rlpy installed (2 more the first time)
    python benchmarks/speed.py --quick        # fewer and shorter repetitions
    python benchmarks/speed.py --no-compile   # without the torch.compile measurements
    python benchmarks/speed.py --threads 1    # on a busy machine: see below
    python benchmarks/speed.py --device cuda  # on the GPU: writes speed_cuda.md (benchmarks/gpu_check.sh runs it)

With torch's default thread count (all cores), every parallel region waits for a thread that another process holds
off its core: on a machine whose cores are all busy, the figures drop tens of times.

Measures, at the networks' shapes (batch 256, hidden 256, Pendulum's obs_dim 3 and act_dim 1), with torch's default
thread count (or --threads):

- dense matmul throughput, GFLOP/s: torch.bmm [2,256,256] x [2,256,256] (one layer of the critic ensemble) and
  torch.mm [256,256] x [256,256];
- updates per second of each script's update on a fixed random batch, agent and optimizer built as the script's
  train() builds them: hybrid_sac.py's online SAC update, offline_bc.py's BC update (no soft update: BC trains no
  critic) and offline_cql.py's CQL update with 10 sampled actions;
- FLOPs per update (FlopCounterMode: matmul-type operations of forward, backward and the rest; elementwise work is
  not counted) and the achieved fraction of the bmm throughput, the bmm timed in blocks alternating with the
  update's (the machine's speed drifts by tens of percent within minutes: a reference measured apart gave
  fractions above 100%);
- the same updates under torch.compile, as the scripts' --compile: the speed-up, the fraction of the bmm
  throughput (FLOPs counted eagerly) and the seconds the first call takes (compiling; less with inductor's cache);
- hybrid_sac.train()'s online iterations per second in steady state (env step included): the median over the
  blocks of 100 iterations after the first 400 (learning starts at 256; start-up, first calls, compiling and the
  final evaluation and checkpoint lie outside every block) of several runs, and the fraction of it spent in the
  SAC update (timed again right after the loops, as the machine's speed drifts);
- on the CPU, the same loop without the critics' LayerNorm and, unless --no-compile, with --compile, the runs
  alternating (one of each, then again) so that a drift of the machine's speed touches all alike. CleanRL's SAC
  is timed beside ours from its own code by investigations/peer_sac_speed.py (benchmarks/peer_venvs.sh);
- when d3rlpy is installed (`pip install d3rlpy`; never a requirement of this project), d3rlpy's SAC,
  BC and CQL updates configured alike, timed in blocks alternating with the scripts', and the ratios.

offline_cql.py sets glibc's malloc to keep freed blocks when it is imported (see there); in this process that holds
for every measurement, SAC's, BC's and d3rlpy's too (for SAC and BC it made no difference beyond the noise; CQL's
update it makes about a fifth faster). Times are medians over repetitions. Prints the tables and writes
benchmarks/results/speed.md (or --results-dir).

--device cuda (default cpu): the agents, their optimizers, the fixed batches, the bmm and mm references and
hybrid_sac.train() (its --cuda) on the GPU; every timed block ends with torch.cuda.synchronize(), so the times are
the GPU's work done, not the CPU's launches; FLOPs are counted the same way (FlopCounterMode counts operations on any
device); the d3rlpy comparison is skipped (it is a CPU comparison). Writes speed_cuda.md instead of speed.md.
Without a GPU: one error line, exit status 2.
"""

import argparse
import contextlib
import io
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402
import hybrid_sac  # noqa: E402
import offline_bc  # noqa: E402
import offline_cql  # noqa: E402
from report import table  # noqa: E402  (benchmarks/, this script's folder, is on the path)

OBS_DIM, ACT_DIM, BATCH, HIDDEN = 3, 1, 256, 256


@dataclass(frozen=True)
class Budget:
    block_seconds: float  # each timed block of calls lasts about this long
    repeats: int  # blocks; the median is reported
    loop_runs: tuple  # training loops: (iterations per run, runs of each program, iterations per timed block)


BUDGETS = {"full": Budget(0.5, 7, (1000, 3, 100)), "quick": Budget(0.15, 3, (600, 2, 100)),
           "smoke": Budget(0.01, 1, (300, 1, 10))}  # tests only: runs everything, measures nothing
LEARNING_STARTS = 256  # of every training loop timed here


def synchronize(device) -> None:
    """Wait for the work queued on device (a GPU runs it asynchronously); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def alternating_seconds_per_call(fns, budget: Budget, warmup: int = 5, device="cpu") -> list:
    """Per fn of fns, the median over budget.repeats blocks of the time per call, each block about block_seconds
    long, the fns' blocks alternating so that a drift in the machine's speed touches all alike. On a GPU each timed
    block starts and ends synchronized: it times the work done."""
    calls = []
    for fn in fns:
        for _ in range(warmup):
            fn()
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        calls.append(max(1, int(budget.block_seconds / (time.perf_counter() - start))))
    times = [[] for _ in fns]
    for _ in range(budget.repeats):
        for fn, n, out in zip(fns, calls, times):
            synchronize(device)
            start = time.perf_counter()
            for _ in range(n):
                fn()
            synchronize(device)
            out.append((time.perf_counter() - start) / n)
    return [statistics.median(t) for t in times]


def counted_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def random_batch(device="cpu") -> buffer.Batch:
    return buffer.Batch(observation=torch.randn(BATCH, OBS_DIM), action=torch.rand(BATCH, ACT_DIM) * 2 - 1,
                        reward=torch.randn(BATCH), next_observation=torch.randn(BATCH, OBS_DIM),
                        discount=torch.ones(BATCH)).to(torch.device(device))


@dataclass(frozen=True)
class Update:
    name: str
    module: object  # the script
    offline: bool  # the offline part's hooks (train_step_offline, calc_loss_offline), else the online part's
    overrides: dict

    def make(self, compiled=False, device="cpu"):
        """One update of the script (its make_update) on a fixed random batch, as a function of nothing, built as
        its train() builds it, with --compile (compiled), on device; with Pendulum-v1's TASK_SETTINGS (the shapes')."""
        task = self.module.TASK_SETTINGS.get("Pendulum-v1", {})
        args = self.module.Args(hidden_dim=HIDDEN, batch_size=BATCH, **{**task, **self.overrides})
        agent = self.module.Agent(OBS_DIM, ACT_DIM, args).to(torch.device(device))
        critic_group = list(agent.qf.parameters()) + [agent.log_alpha]
        if hasattr(agent, "log_cql_multiplier"):  # offline_cql.py's optimizer holds it too
            critic_group.append(agent.log_cql_multiplier)
        optimizer = torch.optim.Adam([{"params": agent.actor.parameters(), "lr": args.policy_lr},
                                      {"params": critic_group, "lr": args.q_lr}], fused=True)
        update = self.module.make_update(agent, optimizer, compiled)
        batches = (random_batch(device), None) if self.offline else (None, random_batch(device))
        return partial(update, *batches)


UPDATES = [Update("hybrid_sac.py SAC update (online)", hybrid_sac, offline=False, overrides={}),
           Update("offline_bc.py BC update (offline)", offline_bc, offline=True, overrides={}),
           Update("offline_cql.py CQL update (offline, 10 sampled actions)", offline_cql, offline=True,
                  overrides={"cql_n_actions": 10})]


def d3rlpy_updates():
    """[(name, update as a function of nothing)] of d3rlpy's SAC, BC and CQL, configured like the scripts', each
    on a fixed random batch through d3rlpy's public `update`; None when d3rlpy is not installed."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import d3rlpy  # imports gym, which prints a deprecation notice
    except ImportError:
        return None
    from d3rlpy.dataset import TransitionMiniBatch
    from d3rlpy.models.encoders import VectorEncoderFactory

    actor_encoder = VectorEncoderFactory([HIDDEN, HIDDEN])
    critic_encoder = VectorEncoderFactory([HIDDEN, HIDDEN], use_layer_norm=True)
    ours = random_batch()

    def columns(x):  # d3rlpy wants [B, 1] rewards and terminals
        return x.numpy().reshape(BATCH, -1)
    batch = TransitionMiniBatch(
        observations=columns(ours.observation), actions=columns(ours.action), rewards=columns(ours.reward),
        next_observations=columns(ours.next_observation), next_actions=columns(ours.action),
        terminals=columns(1 - ours.discount), intervals=np.ones((BATCH, 1), np.float32), transitions=[])
    configs = [
        (f"d3rlpy {d3rlpy.__version__} SAC", d3rlpy.algos.SACConfig(
            batch_size=BATCH, actor_encoder_factory=actor_encoder, critic_encoder_factory=critic_encoder, n_critics=2)),
        (f"d3rlpy {d3rlpy.__version__} BC", d3rlpy.algos.BCConfig(
            batch_size=BATCH, encoder_factory=actor_encoder, policy_type="stochastic")),
        (f"d3rlpy {d3rlpy.__version__} CQL", d3rlpy.algos.CQLConfig(
            batch_size=BATCH, actor_encoder_factory=actor_encoder, critic_encoder_factory=critic_encoder, n_critics=2,
            n_action_samples=10))]
    updates = []
    for name, config in configs:
        algo = config.create(device="cpu:0")
        algo.create_impl((OBS_DIM,), ACT_DIM)
        updates.append((name, partial(algo.update, batch)))
    return updates


BMM_A, BMM_B = torch.randn(2, HIDDEN, HIDDEN), torch.randn(2, HIDDEN, HIDDEN)
BMM_FLOPS = 2 * 2 * HIDDEN**3


def training_loop_stamps(iterations: int, block: int, device="cpu", compile=False, layer_norm=True) -> list:
    """[(iteration, perf_counter)] at every block-th of `iterations` of hybrid_sac.train() online, read as the loop
    adds the iteration's row to its replay buffer. With this process's torch thread count, as every other
    measurement here: train()'s own default shares the cores among the trainings running on the machine."""
    stamps, add = [], buffer.ReplayBuffer.add

    def clocked_add(rb, *args):
        if rb.pos % block == 0:  # rb.pos: the rows added per env, the iteration here (one env)
            stamps.append((rb.pos, time.perf_counter()))
        add(rb, *args)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        args = hybrid_sac.Args(num_iterations=iterations + 1, learning_starts=LEARNING_STARTS, eval_interval=10**9,
                               eval_episodes=1, checkpoint_interval=10**9, run_dir=tmp,
                               cuda=torch.device(device).type == "cuda", torch_threads=torch.get_num_threads(),
                               compile=compile, critic_layer_norm=layer_norm)
        buffer.ReplayBuffer.add = clocked_add
        try:
            hybrid_sac.train(args)
        finally:
            buffer.ReplayBuffer.add = add
    return stamps


THREADS_NOTE = ("## Several trainings at once\n\nThe table of cases (one training alone, 2 and 3 at once, torch's "
                "threads shared or not) is [threads.md](threads.md), made by "
                "`python benchmarks/investigations/threads.py`.")
COMPILED, NO_LAYER_NORM = "hybrid_sac.py --compile", "hybrid_sac.py --no-critic-layer-norm (CleanRL's critics)"
LOOPS_NOTE = (
    "Per iteration as above (the median over the blocks of all runs of a program; in brackets the middle half of "
    "the blocks), on the CPU, Pendulum-v1, learning_starts 256, the same torch thread count as above. The runs "
    "alternate (one of each program, then again), so a drift of the machine's speed touches all alike. "
    "--no-critic-layer-norm: critics as CleanRL's (Pendulum-v1's TASK_SETTINGS keep LayerNorm, with which SAC "
    "learns steadier there, see the README). --compile: compiling happens in the first updates, before the first "
    "counted block. CleanRL's own SAC beside ours: `python benchmarks/investigations/peer_sac_speed.py` "
    "([peer_sac_speed.md](peer_sac_speed.md)).")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repetitions")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own default)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the updates, the matmul references and hybrid_sac.train() run (default cpu); "
                             "cuda: the GPU, results in speed_cuda.md, no d3rlpy comparison")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, f"error: --device cuda: no GPU here (torch.cuda.is_available() is False with torch "
                       f"{torch.__version__}); run on a machine with one, or use --device cpu\n")
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    budget = BUDGETS["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    load_before = os.getloadavg()
    props = torch.cuda.get_device_properties(device) if cuda else None
    gpu_model = f"{props.name}, {props.total_memory / 2**30:.0f} GiB" if cuda else None
    gpu = f", GPU: {gpu_model}" if cuda else ""
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs ({cpu_model()}), load average {load_before[0]:.2f}{gpu}", flush=True)

    print("matmul throughput ...", flush=True)
    a, b = BMM_A.to(device), BMM_B.to(device)

    def bmm_here():  # the reference: one layer of the critic ensemble's matmul
        return torch.bmm(a, b)
    matmul_rows = []
    for name, fn, flops in [(f"torch.bmm [2,{HIDDEN},{HIDDEN}] x [2,{HIDDEN},{HIDDEN}]", bmm_here, BMM_FLOPS),
                            (f"torch.mm [{HIDDEN},{HIDDEN}] x [{HIDDEN},{HIDDEN}]", lambda: torch.mm(a[0], b[0]),
                             2 * HIDDEN**3)]:
        seconds, = alternating_seconds_per_call([fn], budget, warmup=50, device=device)
        matmul_rows.append([name, f"{seconds * 1e6:.1f}", f"{flops / seconds / 1e9:.1f}"])

    update_rows, update_seconds, compiled_rows = [], [], []
    for u in UPDATES:
        print(f"{u.name} ...", flush=True)
        update = u.make(device=device)
        flops = counted_flops(update)
        seconds, bmm_seconds = alternating_seconds_per_call([update, bmm_here], budget, device=device)
        update_seconds.append(seconds)
        update_rows.append([u.name, f"{seconds * 1e3:.2f}", f"{1 / seconds:,.0f}", f"{flops / 1e6:,.1f}",
                            f"{flops / seconds / 1e9:.1f}", f"{BMM_FLOPS / bmm_seconds / 1e9:.1f}",
                            f"{flops / seconds / (BMM_FLOPS / bmm_seconds):.0%}"])
        if args.no_compile:
            continue
        print(f"{u.name}, torch.compile ...", flush=True)
        try:
            update = u.make(compiled=True, device=device)
            start = time.perf_counter()
            update()  # compiles
            synchronize(device)
            compile_seconds = time.perf_counter() - start
            compiled, bmm_seconds = alternating_seconds_per_call([update, bmm_here], budget, device=device)
        except Exception as e:  # no C++ compiler, or an inductor failure: say so and go on
            compiled_rows.append([u.name, f"{seconds * 1e3:.2f}", f"failed: {type(e).__name__}", "", "", ""])
            continue
        compiled_rows.append([u.name, f"{seconds * 1e3:.2f}", f"{compiled * 1e3:.2f}", f"{seconds / compiled:.2f}",
                              f"{flops / compiled / (BMM_FLOPS / bmm_seconds):.0%}", f"{compile_seconds:.0f}"])

    iterations, runs, block = budget.loop_runs
    first = LEARNING_STARTS - LEARNING_STARTS % block + 2 * block  # past learning_starts and one more block
    # the loops: ours; on the CPU ours without LayerNorm and, unless --no-compile, ours --compile; one run of
    # each, then again, so that a drift of the machine's speed touches all alike
    loops = {"hybrid_sac.py": partial(training_loop_stamps, device=device)}
    if not cuda:
        loops[NO_LAYER_NORM] = partial(training_loop_stamps, layer_norm=False)
        if not args.no_compile:
            loops[COMPILED] = partial(training_loop_stamps, compile=True)
    print(f"{', '.join(loops)}: {runs} runs of {iterations} iterations each, alternating ...", flush=True)
    loop_blocks, compile_failure = {name: [] for name in loops}, None
    for _ in range(runs):
        for name, run in list(loops.items()):
            try:
                stamps = run(iterations, block)  # seconds per iteration of each block from iteration `first` on
                loop_blocks[name] += [(t1 - t0) / (i1 - i0) for (i0, t0), (i1, t1) in zip(stamps, stamps[1:])
                                      if i0 >= first]
            except Exception as e:  # no C++ compiler, or an inductor failure: its row says so
                if name != COMPILED:
                    raise
                compile_failure = f"failed: {type(e).__name__}"
                del loops[name], loop_blocks[name]
    per = {name: statistics.median(blocks) for name, blocks in loop_blocks.items()}
    per_iteration = per["hybrid_sac.py"]
    # the SAC update (UPDATES[0], the loop's) timed again right after the loop: the machine's speed drifts
    # between measurements minutes apart, and the fraction below compares the loop with the nearer one
    sac_update_seconds, = alternating_seconds_per_call([UPDATES[0].make(device=device)], budget, device=device)

    def middle_half(name):  # "median (first quartile-third quartile)" of the program's blocks, ms per iteration
        q1, _, q3 = statistics.quantiles(loop_blocks[name], n=4) if len(loop_blocks[name]) > 1 else [per[name]] * 3
        return f"{per[name] * 1e3:.2f} ({q1 * 1e3:.2f}-{q3 * 1e3:.2f})"

    loop_rows = []  # on the CPU: ours, ours without LayerNorm, ours --compile
    if not cuda:
        loop_rows = [[name, f"{len(blocks)}", middle_half(name), f"{1 / per[name]:,.0f}",
                      f"{per_iteration / per[name]:.2f}"] for name, blocks in loop_blocks.items()]
        loop_rows += [[COMPILED, compile_failure, "", "", ""]] if compile_failure else []

    d3rlpy_rows = []
    for (name, update), ours in zip((None if cuda else d3rlpy_updates()) or [], UPDATES):  # a CPU comparison
        print(f"{name}, alternating with {ours.name} ...", flush=True)
        flops = counted_flops(update)
        seconds, our_seconds = alternating_seconds_per_call([update, ours.make()], budget)
        d3rlpy_rows.append([name, f"{seconds * 1e3:.2f}", f"{flops / 1e6:,.1f}", ours.name, f"{our_seconds * 1e3:.2f}",
                            f"{seconds / our_seconds:.2f}"])
    load_after = os.getloadavg()

    on_gpu = (f"the GPU: {gpu_model} (every timed block ends with torch.cuda.synchronize(); float32 "
              f"matmuls at torch's default precision, no TF32, as in the scripts), " if cuda else "")
    text = "\n\n".join([
        "# Speed on this machine" + ("'s GPU" if cuda else ""),
        f"Made by `python {shlex.join([os.path.relpath(Path(sys.argv[0]).resolve(), ROOT), *sys.argv[1:]])}` "
        f"on {time.strftime('%Y-%m-%d %H:%M')}: torch {torch.__version__}, {on_gpu}torch.get_num_threads() = "
        f"{torch.get_num_threads()}, {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}. "
        f"1-minute load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (on a shared machine the "
        f"figures drop when the load exceeds the free cores). Times: medians over {budget.repeats} blocks of about "
        f"{budget.block_seconds} s.",
        "## Dense matmul",
        table(["operation", "µs per call", "GFLOP/s"], matmul_rows),
        f"## Updates (batch {BATCH}, hidden {HIDDEN}, a fixed random batch)",
        table(["update", "ms per update", "updates/s", "MFLOP per update", "achieved GFLOP/s",
               "bmm GFLOP/s alongside", "fraction of bmm GFLOP/s"], update_rows),
        "MFLOP per update: FlopCounterMode's count of matmul-type operations (forward, backward, optimizer "
        "and soft update); elementwise operations are not counted.",
        "## The same updates under torch.compile (the scripts' --compile)",
        table(["update", "eager ms", "compiled ms", "speed-up", "fraction of bmm GFLOP/s, compiled",
               "seconds to compile"], compiled_rows) if compiled_rows else "Not measured (--no-compile).",
        "The forward pass and losses are compiled (mode default); backward runs through the compiled graph; "
        "the fused Adam step and the soft update stay eager. Seconds to compile: the first call (inductor keeps "
        "compiled code in an on-disk cache, so only the first run on a machine takes up to a minute per update).",
        "## hybrid_sac.py online training loop (env step included)",
        table(["runs x iterations", f"blocks of {block} iterations counted", "ms per iteration (median; middle half)",
               "iterations/s", "SAC update ms, timed after the loop", "fraction of the iteration in the update"],
              [[f"{runs} x {iterations:,}", f"{len(loop_blocks['hybrid_sac.py'])}",
                middle_half("hybrid_sac.py"), f"{1 / per_iteration:,.0f}",
                f"{sac_update_seconds * 1e3:.2f} (above: {update_seconds[0] * 1e3:.2f})",
                f"{sac_update_seconds / per_iteration:.0%}"]]),
        f"Per iteration: the median over the blocks of {block} iterations from iteration {first} on (learning_starts "
        f"{LEARNING_STARTS}), so every counted iteration steps the env, adds to the replay buffer, samples a batch "
        "and updates; start-up, the first updates (first calls, compiling) and the final evaluation and checkpoint "
        "lie outside every block."
        + (" On the GPU (hybrid_sac.py --cuda): the env steps on the CPU, the action is copied back from the GPU "
           "every iteration, the replay buffer and the update are on the GPU." if cuda else "")
        + (" A fraction above 100% cannot be: the machine's load changed between the measurements; run again "
           "when it is idle." if sac_update_seconds > per_iteration else ""),
        "## hybrid_sac.py's loop with other settings",
        (table(["program", "blocks counted", "ms per iteration (median; middle half)", "iterations/s",
                "hybrid_sac.py's time / this one's"],
               loop_rows) + "\n\n" + LOOPS_NOTE) if loop_rows else
        "Skipped on --device cuda: the settings are compared on the CPU (--device cpu).",
        "## d3rlpy",
        (table(["d3rlpy update", "ms per update", "MFLOP per update", "this project's update", "ms per update",
                "d3rlpy's time / this project's"], d3rlpy_rows)
         + "\n\nd3rlpy's updates are configured like the scripts' (batch, two hidden layers, LayerNorm in the "
         "critics, 2 critics, BC by likelihood, CQL with 10 sampled actions per proposal) and called through its "
         "public `update(batch)` on a fixed random batch, timed in blocks alternating with the script's update "
         "(whose time in this table comes from those blocks); their other settings are d3rlpy's defaults (its CQL "
         "tunes the CQL weight by a Lagrange multiplier).")
        if d3rlpy_rows else "Skipped on --device cuda: the d3rlpy comparison is made on the CPU (--device cpu)."
        if cuda else "d3rlpy is not installed (`pip install d3rlpy`; never a requirement of this project): "
                            "no comparison.",
        THREADS_NOTE,
    ]) + "\n"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results = args.results_dir / ("speed_cuda.md" if cuda else "speed.md")
    results.write_text(text)
    print("\n" + text)
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
