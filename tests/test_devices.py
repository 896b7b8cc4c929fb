"""Devices: every tensor of an update is made on the agent's device, in all three scripts and both
parts; --cuda without a GPU runs on the CPU and says so once."""
import os
import sys
import time

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import buffer
import hybrid_sac
import offline_bc
import offline_cql
from conftest import ROOT

MODULES = [hybrid_sac, offline_bc, offline_cql]


class DevicesMade(TorchDispatchMode):
    """Records every op whose result lies on another device than `device`."""

    def __init__(self, device):
        super().__init__()
        self.device, self.elsewhere = torch.device(device), []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.elsewhere += [f"{func} on {t.device}" for t in tree_leaves(out)
                           if isinstance(t, torch.Tensor) and t.device != self.device]
        return out


@pytest.mark.parametrize("module", MODULES, ids=["sac", "bc", "cql"])
@pytest.mark.parametrize("part", ["online", "offline"])
def test_every_tensor_of_an_update_is_on_the_agents_device(module, part):
    """On the meta device (shapes only), so that a tensor made without the agent's device (on the CPU)
    shows up even on a machine without a GPU. The Adam step is torch's own and keeps its step counts on
    the CPU by design, so it is left out."""
    args = module.Args(hidden_dim=16, batch_size=8, num_critics=4, num_min_critics=2)
    agent = module.Agent(3, 1, args).to("meta")
    batch = buffer.Batch(*(torch.randn(8, *shape, device="meta") for shape in [(3,), (1,), (), (3,), ()]))
    with DevicesMade("meta") as made:
        if part == "online":
            loss, _ = agent.calc_loss(agent.train_step(batch))
        else:
            loss, _ = agent.calc_loss_offline(agent.train_step_offline(batch))
        loss.backward()
        agent.after_update(True, True)
    assert made.elsewhere == []


@pytest.mark.parametrize("module", MODULES, ids=["sac", "bc", "cql"])
@pytest.mark.parametrize("cuda, note", [(True, "device: cpu (no GPU found),"), (False, "device: cpu,")])
def test_without_a_gpu_the_run_is_on_the_cpu_and_says_so(module, cuda, note, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    extra = {"cql_n_actions": 2} if module is offline_cql else {}
    agent, _ = module.train(module.Args(cuda=cuda, run_dir=str(tmp_path / "run"), num_iterations=3, hidden_dim=8,
                                        batch_size=4, eval_episodes=1, **extra,
                                        offline_buffer_dir=[str(ROOT / "data" / "pendulum_expert")]))
    assert capsys.readouterr().out.count(note) == 1
    assert all(p.device.type == "cpu" for p in agent.parameters())


@pytest.mark.parametrize("module", MODULES, ids=["sac", "bc", "cql"])
def test_default_threads_follow_the_cores_free_to_the_run(module, monkeypatch):
    """Without --torch-threads: all the cores when this process had them all since the last count, 1 when it
    had none (others used them), no change over too short a time to count, and --torch-threads wins."""
    if sys.platform != "linux":
        pytest.skip("the free cores are counted on Linux only")
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: chosen.append(n))
    chosen, args = [], module.Args()
    now = module.fit_threads(args, ())  # the first count: no interval yet, nothing set
    assert chosen == [] and len(now) == 2
    module.fit_threads(args, (now[0] - 2.0, now[1] - 2.0 * (cores + 1)))  # more than every core free
    module.fit_threads(args, (now[0] - 2.0, now[1] + 1.0))  # nothing idle, none of it ours
    assert chosen == [cores, 1]
    for last, threads_given in [((time.time() - 0.1, 0.0), None), ((now[0] - 2.0, 0.0), 3)]:
        assert module.fit_threads(module.Args(torch_threads=threads_given), last) is last
    assert chosen == [cores, 1]
