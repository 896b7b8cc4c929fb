"""How the offline data path scales: loading, validating and sampling a 1M-row buffer shaped like HalfCheetah-v5.

    python benchmarks/investigations/data_scale.py              # under a minute (making the file once: about a second)
    python benchmarks/investigations/data_scale.py --threads 0  # torch's default thread count (all cores) instead of 1

Makes once, under benchmarks/datasets/ (git-ignored; skipped when there), a buffer file of 1,000,000 rows
shaped like HalfCheetah-v5 (observation 17 floats, action 6 in [-1, 1], 1000-step episodes cut by the time
limit: FIRST, 999 MID, LAST, as gymnasium's autoreset makes them), one env, random numbers as the data,
written by buffer.ReplayBuffer.save with a meta from buffer.make_meta and HalfCheetah-v5's spaces as
hybrid_sac.make_env rescales them. Adding 1M rows with ReplayBuffer.add takes about 300 µs a row here (five
minutes), so the ring's tensors are filled directly, to the same values (tests/test_benchmarks.py checks
that against add on a small buffer).

Then measures, each in a fresh subprocess so that its RSS is that process's own:

- the baseline: a process that only imported torch and buffer (its wall time, start-up included, and RSS);
- torch.load(path, weights_only=True, mmap=True) alone (buffer.load_checkpoint): its time and the RSS after;
- buffer.load_offline_buffer(path) (load and validate), with the file's pages evicted from the page cache
  first (posix_fadvise DONTNEED: a cold read from disk) and again with them cached: its wall time, the peak
  RSS (ru_maxrss) and the RSS after (VmRSS, split into anonymous memory and pages of the mapped file);
- offline.sample(256): the median time per batch over 2,000 calls after 100 of warm-up, and the RSS after
  10,000 samples;
- one SAC update of hybrid_sac.py at its default sizes (batch 256, hidden 256) on a random HalfCheetah-shaped
  batch (obs 17, act 6), built as benchmarks/speed.py builds it (train_step, calc_loss, backward, fused Adam
  step, soft update): the median of 7 blocks of about 0.5 s; and sampling's time as a fraction of it;
- `python buffer.py info PATH` end to end (start-up included) and its peak RSS.

Every measurement runs with one torch thread (--threads): sampling is single-threaded anyway, and on a
machine whose cores are busy with other work an update with torch's default thread count (all cores) waits
for threads held off their cores (here it took 200 ms to 1 s instead of 30 ms). Times are this machine's at
its load then (other work may share the cores; the load average is recorded).
Prints the table and writes benchmarks/results/data_scale.md (or --out).
"""

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402

ENV_ID, OBS_DIM, ACT_DIM, EPISODE_STEPS = "HalfCheetah-v5", 17, 6, 1000
BATCH = 256
MB = 1e6


def process_memory() -> dict:
    """This process's memory now and at its peak, in MB: VmRSS (anonymous + file-backed pages), RssAnon,
    RssFile (pages of mapped files, e.g. a buffer loaded with mmap), and ru_maxrss (the peak VmRSS)."""
    status = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            status[key] = int(value.split()[0]) * 1024 / MB
    status["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    return status


# ---------------------------------------------------------------------------------------------
# The file


def fill(rb: buffer.ReplayBuffer, rows: int, seed: int = 0, episode_steps: int = EPISODE_STEPS):
    """Fill a one-env ReplayBuffer with `rows` rows of random data in one go, exactly as `rows` calls of
    rb.add would (fill_by_adds): episodes of episode_steps steps cut by the time limit (FIRST, MID..., LAST,
    then the next FIRST), discount 1, reward 0 at FIRST, prev_action the previous row's action (0 at FIRST)."""
    observation, action, reward = random_rows(rows, seed)
    phase = torch.arange(rows) % (episode_steps + 1)
    first = phase == 0
    rb.step_type[0, :rows] = torch.where(first, buffer.FIRST, torch.where(phase == episode_steps, buffer.LAST,
                                                                          buffer.MID)).int()
    rb.reward[0, :rows] = torch.where(first, 0.0, reward)
    rb.discount[0, :rows] = 1.0
    rb.observation[0, :rows] = observation
    rb.action[0, :rows] = action
    rb.prev_action[0, 1:rows] = action[:-1]
    rb.prev_action[0, :rows][first] = 0.0
    rb.pos = rows


def fill_by_adds(rb: buffer.ReplayBuffer, rows: int, seed: int = 0, episode_steps: int = EPISODE_STEPS):
    """What fill does, with rb.add one row at a time (about 300 µs a row: for tests)."""
    observation, action, reward = random_rows(rows, seed)
    for i in range(rows):
        last = i % (episode_steps + 1) == episode_steps  # the time limit cut the episode on arriving here
        rb.add(observation[i:i + 1].numpy(), action[i:i + 1].numpy(), reward[i:i + 1].numpy(),
               [False], [last])


def random_rows(rows: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    observation = torch.randn(rows, OBS_DIM, generator=g)
    action = torch.rand(rows, ACT_DIM, generator=g) * 2 - 1
    reward = torch.randn(rows, generator=g)
    return observation, action, reward


def make_file(path: Path, rows: int) -> float:
    """Write the HalfCheetah-shaped buffer file; the seconds it took."""
    import hybrid_sac  # here, not at the top: the measured processes import only torch and buffer

    start = time.perf_counter()
    env = hybrid_sac.make_env(ENV_ID)()  # HalfCheetah-v5's spaces, actions rescaled to [-1, 1] as the scripts do
    assert env.observation_space.shape == (OBS_DIM,) and env.action_space.shape == (ACT_DIM,)
    rb = buffer.ReplayBuffer(1, rows, env.observation_space, env.action_space)
    fill(rb, rows)
    meta = buffer.make_meta(ENV_ID, env.observation_space, env.action_space,
                            f"random numbers shaped like {ENV_ID} (benchmarks/investigations/data_scale.py)",
                            counts={"rows": rows, "episode_steps": EPISODE_STEPS})
    env.close()
    rb.save(path, meta)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The measurements, each run by a fresh process (--child)


def child_baseline(args) -> dict:
    return {}


def child_torch_load(args) -> dict:
    start = time.perf_counter()
    checkpoint = buffer.load_checkpoint(Path(args.path))
    seconds = time.perf_counter() - start
    assert "algorithm" in checkpoint
    return {"seconds": seconds, "memory": process_memory()}  # read while the checkpoint is alive


def child_load(args) -> dict:
    if args.cold:
        evict_from_page_cache(Path(args.path))
    start = time.perf_counter()
    offline = buffer.load_offline_buffer(args.path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": sum(f.num_rows for f in offline.files), "transitions": offline.num_transitions,
            "memory": process_memory()}  # read while the buffer (its mapping) is alive


def child_sample(args) -> dict:
    offline = buffer.load_offline_buffer(args.path)
    after_load = process_memory()
    for _ in range(100):
        offline.sample(BATCH)
    times = []
    for _ in range(args.timed_samples):
        start = time.perf_counter()
        offline.sample(BATCH)
        times.append(time.perf_counter() - start)
    for _ in range(args.samples - 100 - args.timed_samples):
        offline.sample(BATCH)
    return {"seconds": statistics.median(times), "mean_seconds": statistics.fmean(times),
            "after_load": after_load, "memory": process_memory()}


def child_update(args) -> dict:
    """hybrid_sac.py's SAC update as benchmarks/speed.py's Update.make builds it, at HalfCheetah's shapes."""
    import hybrid_sac

    sac_args = hybrid_sac.Args(critic_layer_norm=True)  # the default when data_scale.md was measured
    agent = hybrid_sac.Agent(OBS_DIM, ACT_DIM, sac_args)
    optimizer = torch.optim.Adam([{"params": agent.actor.parameters(), "lr": sac_args.policy_lr},
                                  {"params": list(agent.qf.parameters()) + [agent.log_alpha], "lr": sac_args.q_lr}],
                                 fused=True)
    b = sac_args.batch_size
    batch = buffer.Batch(observation=torch.randn(b, OBS_DIM), action=torch.rand(b, ACT_DIM) * 2 - 1,
                         reward=torch.randn(b), next_observation=torch.randn(b, OBS_DIM), discount=torch.ones(b))

    def update():
        loss, _ = agent.calc_loss(agent.train_step(batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        agent.after_update(True, True)

    for _ in range(5):
        update()
    start = time.perf_counter()
    update()
    calls = max(1, int(args.update_block_seconds / (time.perf_counter() - start)))
    blocks = []
    for _ in range(args.update_blocks):
        start = time.perf_counter()
        for _ in range(calls):
            update()
        blocks.append((time.perf_counter() - start) / calls)
    return {"seconds": statistics.median(blocks), "batch_size": b, "hidden_dim": sac_args.hidden_dim,
            "calls_per_block": calls}


CHILDREN = {"baseline": child_baseline, "torch_load": child_torch_load, "load": child_load,
            "sample": child_sample, "update": child_update}


def evict_from_page_cache(path: Path):
    """Drop the file's pages from the page cache (no root needed: they are clean once synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_into_page_cache(path: Path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_child(kind: str, args, cold: bool = False) -> dict:
    """Run this script as a fresh process measuring `kind`; its result, its wall time end to end and its memory.
    With --in-process (tests only) the measurement runs in this process instead: quick, but its memory is not
    its own."""
    if args.in_process:
        start = time.perf_counter()
        result = CHILDREN[kind](argparse.Namespace(**{**vars(args), "cold": cold}))
        result.setdefault("memory", process_memory())
        result.update(threads=torch.get_num_threads(), wall=time.perf_counter() - start)
        return result
    command = [sys.executable, __file__, "--child", kind, "--path", str(args.path), "--threads", str(args.threads),
               "--samples", str(args.samples), "--timed-samples", str(args.timed_samples),
               "--update-blocks", str(args.update_blocks), "--update-block-seconds", str(args.update_block_seconds),
               *(["--cold"] if cold else [])]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{result.stderr[-3000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def buffer_info_command(args) -> dict:
    """`python buffer.py info PATH` end to end: its wall time and peak RSS (in this process with --in-process)."""
    if args.in_process:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as output:
            assert buffer.main(["info", str(args.path)]) == 0
        return {"wall": time.perf_counter() - start, "ru_maxrss": process_memory()["ru_maxrss"],
                "output": output.getvalue()}
    return timed_command([sys.executable, str(ROOT / "buffer.py"), "info", str(args.path)])


def timed_command(command) -> dict:
    """Wall time and peak RSS (from wait4's rusage) of a command run end to end."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    output = process.stdout.read()  # to the end: the process has closed it; wait4 reaps it with its rusage
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{output.decode()[-3000:]}")
    return {"wall": wall, "ru_maxrss": usage.ru_maxrss * 1024 / MB, "output": output.decode()}


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the buffer (a smaller one for tests)")
    parser.add_argument("--datasets-dir", type=Path, default=ROOT / "benchmarks" / "datasets",
                        help="where the buffer file is made (once)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data_scale.md",
                        help="where the table is written")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in every measurement (0: torch's default, all cores)")
    parser.add_argument("--samples", type=int, default=10_000, help="batches sampled before the RSS is read")
    parser.add_argument("--timed-samples", type=int, default=2_000, help="batches timed one by one (the median)")
    parser.add_argument("--update-blocks", type=int, default=7, help="timed blocks of SAC updates (the median)")
    parser.add_argument("--update-block-seconds", type=float, default=0.5, help="about how long each block lasts")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # tests: no fresh processes
    args = parser.parse_args(argv)
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        measure(args, argv, parser)
    finally:
        torch.set_num_threads(threads_before)  # for a caller of main() (tests, --in-process)


def measure(args, argv, parser):
    if args.child:
        result = CHILDREN[args.child](args)
        result.setdefault("memory", process_memory())
        result["threads"] = torch.get_num_threads()
        print(json.dumps(result))
        return
    if args.samples < args.timed_samples + 100:
        parser.error("--samples must be at least --timed-samples + 100 (the warm-up)")

    path = args.datasets_dir / f"halfcheetah_shaped_{args.rows}_rows" / f"ckpt-{args.rows}-replay_buffer"
    args.path = path
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/investigations/data_scale.py", *given])
    load_before = os.getloadavg()
    if path.exists():
        made = f"The file was there already (made by an earlier run; delete {path.parent.name}/ to make it again)."
    else:
        print(f"making {path} ...", flush=True)
        made = f"The file was made by this run in {make_file(path, args.rows):.1f} s (filling the tensors directly)."
    file_mb = path.stat().st_size / MB

    print("measuring, each in a fresh process ...", flush=True)
    baseline = run_child("baseline", args)
    cold = run_child("load", args, cold=True)
    read_into_page_cache(path)
    torch_load = run_child("torch_load", args)
    load = run_child("load", args)
    sample = run_child("sample", args)
    update = run_child("update", args)
    info = buffer_info_command(args)
    load_after = os.getloadavg()

    base, ms = baseline["memory"], 1e3
    rows = [
        ("buffer file size, MB", file_mb),
        ("rows held", load["rows"]),
        ("transitions", load["transitions"]),
        ("baseline process (python, import torch and buffer): wall time end to end, s", baseline["wall"]),
        ("baseline process: RSS (VmRSS), MB", base["VmRSS"]),
        ("baseline process: of which anonymous (RssAnon), MB", base["RssAnon"]),
        ("baseline process: of which file-backed (RssFile: torch's libraries), MB", base["RssFile"]),
        ("torch.load(mmap=True) alone: s", torch_load["seconds"]),
        ("torch.load(mmap=True) alone: RSS after, MB", torch_load["memory"]["VmRSS"]),
        ("load_offline_buffer (load + validate), page cache cold: s", cold["seconds"]),
        ("load_offline_buffer (load + validate), page cache warm: s", load["seconds"]),
        ("load_offline_buffer: peak RSS (ru_maxrss), MB", load["memory"]["ru_maxrss"]),
        ("load_offline_buffer: peak RSS above the baseline's RSS, MB", load["memory"]["ru_maxrss"] - base["VmRSS"]),
        ("load_offline_buffer: RSS after (VmRSS), MB", load["memory"]["VmRSS"]),
        ("load_offline_buffer: RssAnon after, above the baseline's, MB",
         load["memory"]["RssAnon"] - base["RssAnon"]),
        ("load_offline_buffer: RssFile after, above the baseline's (the file's pages), MB",
         load["memory"]["RssFile"] - base["RssFile"]),
        (f"offline.sample({BATCH}): median per batch, ms", sample["seconds"] * ms),
        (f"offline.sample({BATCH}): mean per batch, ms", sample["mean_seconds"] * ms),
        (f"RSS after {args.samples:,} samples (VmRSS), MB", sample["memory"]["VmRSS"]),
        (f"RSS after {args.samples:,} samples: RssAnon above the baseline's, MB",
         sample["memory"]["RssAnon"] - base["RssAnon"]),
        (f"RSS after {args.samples:,} samples: RssFile above the baseline's (the file's pages), MB",
         sample["memory"]["RssFile"] - base["RssFile"]),
        (f"hybrid_sac.py SAC update (batch {update['batch_size']}, hidden {update['hidden_dim']}, "
         f"obs {OBS_DIM}, act {ACT_DIM}): ms", update["seconds"] * ms),
        ("sampling a batch as a fraction of an update, %", 100 * sample["seconds"] / update["seconds"]),
        ("`python buffer.py info PATH` end to end: s", info["wall"]),
        ("`python buffer.py info PATH`: peak RSS, MB", info["ru_maxrss"]),
    ]

    def number(x):
        return f"{x:,}" if isinstance(x, int) else f"{x:,.4f}" if abs(x) < 1 else f"{x:,.2f}" if abs(x) < 100 \
            else f"{x:,.1f}"

    shown_path = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    table = ["| measurement | value |", "| --- | --- |"] + [f"| {name} | {number(value)} |" for name, value in rows]
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    cpu = platform.processor() or platform.machine()
    text = "\n".join([
        "# The offline data path at scale", "",
        f"Made by `{command}` on {now}: torch {torch.__version__}, {update['threads']} torch thread(s), "
        f"nproc {len(os.sched_getaffinity(0))} ({cpu}), Python {platform.python_version()}. "
        f"1-minute load average {load_before[0]:.2f} before, {load_after[0]:.2f} after: other work was "
        "sharing the machine's cores, so the times are this machine's at that load, not its best.", "",
        f"The buffer: {args.rows:,} rows shaped like {ENV_ID} (observation {OBS_DIM} floats, action {ACT_DIM}), "
        f"one env, {EPISODE_STEPS}-step episodes cut by the time limit, random numbers as data, written by "
        f"buffer.ReplayBuffer.save to `{shown_path}`. "
        f"{made} Each measurement ran in a fresh process, so each RSS is that process's own; MB = 10^6 bytes.", "",
        *table, "",
        "- Page cache cold: the file's pages dropped with posix_fadvise(DONTNEED) just before; every other "
        "measurement ran with the file read into the page cache first.",
        "- The peak of load_offline_buffer above the baseline is "
        f"{(load['memory']['ru_maxrss'] - base['VmRSS']) / file_mb:.1f} times the file's size: mostly the mapped "
        "pages that validation reads (RssFile), plus the row indices it keeps (RssAnon). Validation "
        "(buffer._OfflineFile._check_values) checks 65,536 rows at a time, so its temporaries do not grow with "
        "the data (copying whole fields, it peaked at 2.6 times the file's size).",
        "- The disk of this machine (a VM's) is fast enough that a cold read of the file barely shows.",
        "- With mmap the file's pages count in a process's RSS (RssFile) as it touches them; they are the page "
        "cache's, shared with every process mapping the file, and the kernel can drop them under memory "
        "pressure. Anonymous memory (RssAnon) is the process's own.",
        f"- Sampling: the median of {args.timed_samples:,} calls timed one by one after 100 of warm-up. "
        f"The SAC update: the median of {args.update_blocks} blocks of {update['calls_per_block']} updates on "
        "a fixed random batch (train_step, calc_loss, backward, fused Adam step, soft update), as "
        "benchmarks/speed.py times it.",
        "- `buffer.py info`: python's start-up and importing torch included (the baseline process's wall "
        "time above); it loads and validates the file, then sums the episodes' returns.",
        ""])
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
