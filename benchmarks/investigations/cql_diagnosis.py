"""Where an offline_cql.py policy on Pendulum-v1 leaves its data: the critic on the data's states, and
the policy's own episodes.

    python benchmarks/investigations/cql_diagnosis.py benchmarks/runs/offline/cql-expert/seed1 data/pendulum_expert

Reads the run's newest checkpoint and the offline data it trained on, and prints three tables.

On the data's states (a sample), split into full-torque rows (|action| > 0.99) with the energy below
15 (the scripted expert pumping energy in during the swing-up), full-torque rows with the energy 15 or
more (mostly the expert braking: it has more than it needs to reach the top) and the others (mostly
balancing near the top):
- |actor - data|: the deterministic action's distance from the data's action;
- |argmax Q - data|: the same for the action that maximizes the critics' minimum over a grid of 81
  actions in [-1, 1] (the action the actor is pushed towards);
- argmax Q's sign differs: how often that action pushes the other way than the data's (on the
  full-torque rows only: there it means the critic prefers the other full torque);
- Q range: max minus min of Q over that grid (how much the critic says the action matters).
On the same rows, how narrow the critic's peak at the data's action is: how far Q falls from the
data's action to actions 0.01, 0.03, 0.1 and 0.3 away, and the slope dQ/da there (a peak narrower
than the policy's spread gives the actor's gradient nothing to climb).

On the policy's episodes (deterministic actions, as the evaluations): the return; the largest
pendulum energy E = speed^2 / 2 + 15 cos(theta) (15 at rest upright; collect.py's expert pumps towards
it), against the largest in the data; the share of steps in the expert's balancing zone (within 0.5
rad of the top); and, on the other steps, how often the torque's sign differs from the expert's.
Then the mean return of the critic's own greedy policy (argmax Q over the grid) on the same episodes:
if it is far above the actor's, the critic ranks actions well and the actor fails to follow it; and
the critic over the grid at the upright rest state, the state the expert's data holds most often.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import buffer  # noqa: E402
import offline_cql  # noqa: E402
from collect import pendulum_expert  # noqa: E402

GRID = torch.linspace(-1, 1, 81)  # the actions over which the critic's best one is found
OFFSETS = (0.01, 0.03, 0.1, 0.3)  # distances from the data's action at which the critic's peak is measured


def energy(obs):
    return 0.5 * obs[..., 2] ** 2 + 15.0 * obs[..., 0]


def load_agent(run_dir: Path):
    found = buffer.checkpoint_paths(run_dir)
    if not found:
        sys.exit(f"{run_dir}: no checkpoint under train/algorithm/")
    ckpt = buffer.load_checkpoint(found[max(found)])
    fields = offline_cql.Args.__dataclass_fields__
    args = offline_cql.Args(**{k: v for k, v in ckpt["args"].items() if k in fields})
    if args.env_id != "Pendulum-v1":
        sys.exit(f"{run_dir}: trained on {args.env_id}; this diagnosis knows Pendulum-v1 only")
    agent = offline_cql.Agent(3, 1, args)
    agent.load_state_dict(ckpt["agent"])
    return agent, max(found)


def row_groups(batch):
    """The three kinds of data rows: (name, mask, whether the action's sign means something)."""
    full_torque, high_energy = batch.action[:, 0].abs() > 0.99, energy(batch.observation) >= 15
    # near-zero actions have no meaningful sign: only the full-torque rows get the sign column
    return [("full torque, energy below 15 (swing-up)", full_torque & ~high_energy, True),
            ("full torque, energy 15 or more (mostly braking)", full_torque & high_energy, True),
            ("other (mostly balancing)", ~full_torque, False)]


@torch.no_grad()
def on_data_states(agent, batch):
    obs, action = batch.observation, batch.action[:, 0]
    q = agent.qf(obs.repeat_interleave(len(GRID), 0), GRID.repeat(len(obs))[:, None]).min(0).values
    q = q.view(len(obs), len(GRID))
    best = GRID[q.argmax(1)]  # the critic's preferred action per state
    actor = agent.actor.act(obs)[:, 0]
    rows = []
    for name, rows_of, signed in row_groups(batch):
        sign_differs = None
        if signed and rows_of.any():
            sign_differs = (best.sign() != action.sign())[rows_of].float().mean().item()
        rows.append((name, int(rows_of.sum()), (actor - action)[rows_of].abs().mean().item(),
                     (best - action)[rows_of].abs().mean().item(), sign_differs,
                     (q.max(1).values - q.min(1).values)[rows_of].mean().item()))
    return rows


def peak_at_data(agent, batch):
    """How narrow the critics' peak at the data's action is: per kind of row, the mean drop of Q from
    the data's action to the actions OFFSETS away (on the sides that lie in [-1, 1]), and the median
    slope |dQ/da| at the data's action (what the actor's gradient meets there)."""
    obs, action = batch.observation, batch.action
    with torch.no_grad():
        q_data = agent.qf(obs, action).min(0).values
        drops = []
        for offset in OFFSETS:
            total, sides = 0.0, 0.0
            for side in (-1, 1):
                near = action + side * offset
                inside = (near.abs() <= 1)[:, 0].float()  # a full-torque action has a neighbour on one side
                total = total + inside * agent.qf(obs, near.clamp(-1, 1)).min(0).values
                sides = sides + inside
            drops.append(q_data - total / sides)
    at_data = action.clone().requires_grad_(True)
    slope = torch.autograd.grad(agent.qf(obs, at_data).min(0).values.sum(), at_data)[0][:, 0].abs()
    return [(name, [drop[rows_of].mean().item() for drop in drops], slope[rows_of].median().item())
            for name, rows_of, _ in row_groups(batch) if rows_of.any()]


@torch.no_grad()
def q_over_actions(agent, obs, grid):
    """The critics' minimum at one observation [1, 3] for every action of the grid."""
    return agent.qf(obs.expand(len(grid), -1), grid[:, None]).min(0).values


def greedy_action(agent, obs):
    """The action of the grid with the highest minimum over the critics."""
    return GRID[q_over_actions(agent, obs, GRID).argmax()].view(1, 1)


@torch.no_grad()
def episodes(choose_action, count: int, seed: int):
    """Episodes of choose_action(observation [1, 3]) -> action [1, 1]."""
    env = offline_cql.make_env("Pendulum-v1")()
    rows = []
    for episode in range(count):
        obs, _ = env.reset(seed=seed + episode)
        total, energies, balancing, sign_differs = 0.0, [], 0, []
        for _ in range(200):
            action = choose_action(torch.as_tensor(obs[None], dtype=torch.float32)).numpy()[0]
            energies.append(energy(obs))
            if obs[0] > math.cos(0.5):
                balancing += 1
            else:
                sign_differs.append(np.sign(action[0]) != np.sign(pendulum_expert(obs[None])[0, 0]))
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            if terminated or truncated:
                break
        rows.append((total, max(energies), balancing / len(energies), np.mean(sign_differs) if sign_differs else 0.0))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="an offline_cql.py run directory (its newest checkpoint)")
    parser.add_argument("data", help="the offline buffer it trained on")
    parser.add_argument("--states", type=int, default=4000, help="data rows to sample (default 4000)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes of the policy (default 10)")
    parser.add_argument("--seed", type=int, default=100, help="seed of the sample and the first episode")
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent, iteration = load_agent(args.run_dir)
    data = buffer.load_offline_buffer([args.data], None)
    batch = data.sample(args.states, torch.Generator().manual_seed(args.seed))
    data_energy = energy(batch.observation)

    print(f"{args.run_dir}, checkpoint of iteration {iteration:,}, on {args.data}\n")
    print("| data rows | count | abs(actor - data) | abs(argmax Q - data) | argmax Q's sign differs "
          "| Q range over actions |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, count, actor_error, argmax_error, sign_differs, q_range in on_data_states(agent, batch):
        sign_text = "-" if sign_differs is None else f"{sign_differs:.0%}"
        print(f"| {name} | {count} | {actor_error:.3f} | {argmax_error:.3f} | {sign_text} | {q_range:.2f} |")

    print("\nhow narrow the critics' peak at the data's action is: Q(s, a_data) - Q(s, a_data ± d), and the "
          "median slope there\n")
    print("| data rows | " + " | ".join(f"d = {offset}" for offset in OFFSETS) + " | median abs(dQ/da) at a_data |")
    print("| --- |" + " --- |" * (len(OFFSETS) + 1))
    for name, drops, slope in peak_at_data(agent, batch):
        print(f"| {name} | " + " | ".join(f"{drop:.2f}" for drop in drops) + f" | {slope:.1f} |")

    print(f"\nlargest energy in the sampled data: {data_energy.max():.1f} (99th percentile "
          f"{data_energy.quantile(0.99):.1f}; 15 is at rest upright)\n")
    print("| episode | return | largest energy | steps near the top | torque sign differs from the expert's |")
    print("| --- | --- | --- | --- | --- |")
    actor_rows = episodes(agent.actor.act, args.episodes, args.seed)
    for i, (total, top_energy, balancing, differs) in enumerate(actor_rows):
        print(f"| {i} | {total:.0f} | {top_energy:.1f} | {balancing:.0%} | {differs:.0%} |")
    greedy_rows = episodes(lambda obs: greedy_action(agent, obs), args.episodes, args.seed)
    print(f"\nmean return of these episodes: the actor {np.mean([row[0] for row in actor_rows]):.0f}, "
          f"the critic's greedy action {np.mean([row[0] for row in greedy_rows]):.0f}\n")

    rest, grid = torch.tensor([[1.0, 0.0, 0.0]]), torch.linspace(-1, 1, 21)
    q = q_over_actions(agent, rest, grid)
    with torch.no_grad():
        mean, log_std = agent.actor(rest)
    print(f"at rest upright (observation 1, 0, 0; the expert's action 0): the actor's action "
          f"{torch.tanh(mean).item():+.2f}, std before tanh {log_std.exp().item():.2f}; Q over actions -1 to 1:")
    print("    " + " ".join(f"{value:.0f}" for value in q.tolist()))


if __name__ == "__main__":
    main()
