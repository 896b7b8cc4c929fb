"""How fast the scripts' updates and hybrid_sac.py's training loop run on this machine (CPU, or its GPU).

    python benchmarks/speed.py                # about 1.5 minutes (2 more the first time: compiling)
    python benchmarks/speed.py --quick        # fewer and shorter repetitions
    python benchmarks/speed.py --no-compile   # without the torch.compile measurements
    python benchmarks/speed.py --threads 1    # on a busy machine: see below
    python benchmarks/speed.py --device cuda  # on the GPU: writes speed_cuda.md (benchmarks/gpu_check.sh runs it)

With torch's default thread count (all cores), every parallel region waits for a thread that another
process holds off its core: on a machine whose cores are all busy, the figures drop tens of times.

Measures, at the networks' shapes (batch 256, hidden 256, Pendulum's obs_dim 3 and act_dim 1), with
torch's default thread count (or --threads):

- dense matmul throughput, GFLOP/s: torch.bmm [2,256,256] x [2,256,256] (one layer of the critic
  ensemble) and torch.mm [256,256] x [256,256];
- updates per second of each script's update on a fixed random batch, each agent and optimizer built
  as the script's train() builds them: hybrid_sac.py's online SAC update (train_step, calc_loss,
  backward, Adam step, soft update), offline_bc.py's offline update (no soft update: BC trains no
  critic) and offline_cql.py's offline update with 10 sampled actions (with soft update);
- FLOPs per update, counted by torch.utils.flop_counter.FlopCounterMode (matmul-type operations of
  the forward pass, the backward pass and everything else in the update; elementwise work is not
  counted), and the achieved fraction of the bmm throughput: (FLOPs / seconds per update) / bmm FLOP/s,
  with the bmm timed in blocks alternating with the update's (the machine's speed drifts by tens of
  percent within minutes: a reference measured apart gave fractions above 100%);
- the same three updates with the forward pass and losses under torch.compile, as the scripts'
  --compile does: ms per update, the speed-up and the fraction of the bmm throughput (FLOPs counted
  eagerly), and the seconds the first call takes (compiling; shorter when inductor's cache is warm);
- hybrid_sac.py's online training iterations per second in steady state (env step included):
  hybrid_sac.train() for A1 and A2 iterations (learning_starts 256, no evaluation or checkpoint before
  the end), (time(A2) - time(A1)) / (A2 - A1) per iteration, the fixed costs (start-up, the final
  evaluation and checkpoint) cancelling; and the fraction of that time spent in the SAC update (timed
  again right after the loop, as the machine's speed drifts);
- when d3rlpy is installed (`pip install d3rlpy`; never a requirement of this project), d3rlpy's SAC,
  BC and CQL updates configured alike, timed in blocks alternating with the scripts', and the ratios.

offline_cql.py sets glibc's malloc to keep freed blocks when it is imported (see there); in this process
that holds for every measurement, SAC's, BC's and d3rlpy's too (for SAC and BC it made no difference
beyond the noise; CQL's update it makes about a fifth faster). Times are medians over repetitions.
Prints the tables and writes benchmarks/results/speed.md (or --results-dir).

--device cuda (default cpu): the agents, their optimizers, the fixed batches, the bmm and mm references
and hybrid_sac.train() (its --cuda) on the GPU; every timed block ends with torch.cuda.synchronize(), so
the times are the GPU's work done, not the CPU's launches; FLOPs are counted the same way (FlopCounterMode
counts operations on any device); the d3rlpy comparison is skipped (it is a CPU comparison); CUDA graphs
are not measured (the scripts have no such option: --compile is torch.compile's default mode, which
captures none). Writes speed_cuda.md instead of speed.md. Without a GPU: one error line, exit status 2.
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

OBS_DIM, ACT_DIM, BATCH, HIDDEN = 3, 1, 256, 256


@dataclass(frozen=True)
class Budget:
    block_seconds: float  # each timed block of calls lasts about this long
    repeats: int  # blocks; the median is reported
    loop_iterations: tuple  # A1, A2 for the training-loop measurement


BUDGETS = {"full": Budget(0.5, 7, (1256, 3256)), "quick": Budget(0.15, 3, (1256, 2256)),
           "smoke": Budget(0.01, 1, (300, 340))}  # tests only: runs everything, measures nothing


def synchronize(device) -> None:
    """Wait for the work queued on device (a GPU runs it asynchronously); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn, budget: Budget, warmup: int = 5, device="cpu") -> float:
    """Median over budget.repeats blocks of the time per call of fn, each block about block_seconds long."""
    return alternating_seconds_per_call([fn], budget, warmup, device)[0]


def alternating_seconds_per_call(fns, budget: Budget, warmup: int = 5, device="cpu") -> list:
    """seconds_per_call of each of fns, their blocks alternating, so that a drift in the machine's speed
    touches all alike. On a GPU each timed block starts and ends synchronized: it times the work done."""
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
    soft_update: bool
    overrides: dict

    def make(self, compiled=False, device="cpu"):
        """One update of the script, as a function of nothing, on a fixed random batch; compiled: with
        the forward pass and losses under torch.compile, as the scripts' --compile does; agent, optimizer
        and batch on device, as the script's train() puts them there."""
        args = self.module.Args(hidden_dim=HIDDEN, batch_size=BATCH, **self.overrides)
        agent = self.module.Agent(OBS_DIM, ACT_DIM, args).to(torch.device(device))
        critic_group = list(agent.qf.parameters()) + [agent.log_alpha]
        if hasattr(agent, "log_cql_multiplier"):  # offline_cql.py's optimizer holds it too
            critic_group.append(agent.log_cql_multiplier)
        optimizer = torch.optim.Adam([{"params": agent.actor.parameters(), "lr": args.policy_lr},
                                      {"params": critic_group, "lr": args.q_lr}], fused=True)
        forward, loss_of = ((agent.train_step_offline, agent.calc_loss_offline) if self.offline
                            else (agent.train_step, agent.calc_loss))

        def losses(batch):
            return loss_of(forward(batch))
        if compiled:
            losses = torch.compile(losses)
        batch = random_batch(device)

        def update():
            loss, _ = losses(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if self.soft_update:
                agent.soft_update()
        return update


UPDATES = [Update("hybrid_sac.py SAC update (online)", hybrid_sac, offline=False, soft_update=True, overrides={}),
           Update("offline_bc.py BC update (offline)", offline_bc, offline=True, soft_update=False, overrides={}),
           Update("offline_cql.py CQL update (offline, 10 sampled actions)", offline_cql, offline=True,
                  soft_update=True, overrides={"cql_n_actions": 10})]


def d3rlpy_updates():
    """[(name, update as a function of nothing)] of d3rlpy's SAC, BC and CQL, configured like the scripts'
    updates (batch, hidden layers, LayerNorm in the critics, 2 critics, BC by likelihood, CQL with 10
    sampled actions), each on a fixed random batch through d3rlpy's public `update`; None when d3rlpy
    is not installed."""
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


def bmm_on(device):
    """The reference: one layer of the critic ensemble's matmul, on device."""
    a, b = BMM_A.to(device), BMM_B.to(device)
    return lambda: torch.bmm(a, b)


def matmul_throughput(budget: Budget, device="cpu") -> list:
    """[(operation, seconds per call, FLOP/s)]."""
    a, b = BMM_A.to(device), BMM_B.to(device)
    cases = [(f"torch.bmm [2,{HIDDEN},{HIDDEN}] x [2,{HIDDEN},{HIDDEN}]", bmm_on(device), BMM_FLOPS),
             (f"torch.mm [{HIDDEN},{HIDDEN}] x [{HIDDEN},{HIDDEN}]", lambda: torch.mm(a[0], b[0]), 2 * HIDDEN**3)]
    rows = []
    for name, fn, flops in cases:
        seconds = seconds_per_call(fn, budget, warmup=50, device=device)
        rows.append((name, seconds, flops / seconds))
    return rows


def training_loop_seconds(iterations: int, device="cpu") -> float:
    """Wall time of hybrid_sac.train() online for this many iterations (progress bar silenced), on the GPU
    (--cuda) for device cuda, else on the CPU (--no-cuda, even on a machine with a GPU)."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        args = hybrid_sac.Args(num_iterations=iterations, learning_starts=256, eval_interval=10**9, eval_episodes=1,
                               checkpoint_interval=10**9, run_dir=tmp, cuda=torch.device(device).type == "cuda")
        start = time.perf_counter()
        hybrid_sac.train(args)
        return time.perf_counter() - start


def table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def gpu_model(device) -> str:
    props = torch.cuda.get_device_properties(device)
    return f"{props.name}, {props.total_memory / 2**30:.0f} GiB"


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
    gpu = f", GPU: {gpu_model(device)}" if cuda else ""
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs ({cpu_model()}), load average {load_before[0]:.2f}{gpu}", flush=True)

    print("matmul throughput ...", flush=True)
    matmuls = matmul_throughput(budget, device)
    bmm_here = bmm_on(device)

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

    a1, a2 = budget.loop_iterations
    print(f"hybrid_sac.train() online, {a1} and {a2} iterations ...", flush=True)
    t1, t2 = training_loop_seconds(a1, device), training_loop_seconds(a2, device)
    per_iteration = (t2 - t1) / (a2 - a1)
    # the SAC update (UPDATES[0], the loop's) timed again right after the loop: the machine's speed drifts
    # between measurements minutes apart, and the fraction below compares the loop with the nearer one
    sac_update_seconds = seconds_per_call(UPDATES[0].make(device=device), budget, device=device)

    d3rlpy_rows = []
    for (name, update), ours in zip((None if cuda else d3rlpy_updates()) or [], UPDATES):  # a CPU comparison
        print(f"{name}, alternating with {ours.name} ...", flush=True)
        flops = counted_flops(update)
        seconds, our_seconds = alternating_seconds_per_call([update, ours.make()], budget)
        d3rlpy_rows.append([name, f"{seconds * 1e3:.2f}", f"{flops / 1e6:,.1f}", ours.name, f"{our_seconds * 1e3:.2f}",
                            f"{seconds / our_seconds:.2f}"])
    load_after = os.getloadavg()

    on_gpu = (f"the GPU: {gpu_model(device)} (every timed block ends with torch.cuda.synchronize(); float32 "
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
        table(["operation", "µs per call", "GFLOP/s"],
              [[name, f"{seconds * 1e6:.1f}", f"{rate / 1e9:.1f}"] for name, seconds, rate in matmuls]),
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
        "compiled code in an on-disk cache, so only the first run on a machine takes up to a minute per update)."
        + (" CUDA graphs: not measured, as the scripts do not implement them (no --cudagraphs flag; --compile "
           "is torch.compile's default mode, which captures no CUDA graph)." if cuda else ""),
        "## hybrid_sac.py online training loop (env step included)",
        table(["A1, A2 iterations", "train() seconds", "ms per iteration (steady state)", "iterations/s",
               "SAC update ms, timed after the loop", "fraction of the iteration in the update"],
              [[f"{a1:,}, {a2:,}", f"{t1:.1f}, {t2:.1f}", f"{per_iteration * 1e3:.2f}", f"{1 / per_iteration:,.0f}",
                f"{sac_update_seconds * 1e3:.2f} (above: {update_seconds[0] * 1e3:.2f})",
                f"{sac_update_seconds / per_iteration:.0%}"]]),
        "Per iteration: (time(A2) - time(A1)) / (A2 - A1), learning_starts 256, so every iteration counted "
        "steps the env, adds to the replay buffer, samples a batch and updates."
        + (" On the GPU (hybrid_sac.py --cuda): the env steps on the CPU, the action is copied back from the GPU "
           "every iteration, the replay buffer and the update are on the GPU." if cuda else "")
        + (" A fraction above 100% cannot be: the machine's load changed between the measurements; run again "
           "when it is idle." if sac_update_seconds > per_iteration else ""),
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
    ]) + "\n"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    results = args.results_dir / ("speed_cuda.md" if cuda else "speed.md")
    results.write_text(text)
    print("\n" + text)
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
