"""Does d3rlpy's CQL lead ours on HalfCheetah-v5 medium-replay (issue 38) because of where its critics put LayerNorm?

With `--config like-ours` d3rlpy's CQL has our weight, learning rates, entropy coefficient, backup, sampled actions
and standardized observations, and still ends about 3% above offline_cql.py (37.0 against 36.0, seeds 1-2). Its
critics' layers are Linear, ReLU, LayerNorm (with a learned gain and bias); ours are Linear, LayerNorm (none), ReLU,
as RLPD's. This runs offline_cql.py with its critics' forward pass patched to d3rlpy's order (ReLU, then LayerNorm;
nothing else changed), any flags after `--` passed on:

    python benchmarks/investigations/cql_layer_norm_order.py --run-dir benchmarks/runs/cql_layer_norm_order/seed1 -- \\
        --offline-buffer-dir benchmarks/datasets/HalfCheetah-v5/medium-replay --env-id HalfCheetah-v5 \\
        --num-iterations 20000 --eval-interval 5000 --eval-episodes 10 --seed 1 --torch-threads 1

What it found, with the rows it is read against: cql_layer_norm_order.md.
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import offline_cql  # noqa: E402


def forward_relu_then_layer_norm(self, obs, action, detach=False):
    """offline_cql.Critics.forward with each hidden layer's ReLU before its LayerNorm (d3rlpy's order)."""
    x = torch.cat([(obs - self.obs_mean) / self.obs_std, action], -1).expand(len(self.weights[0]), -1, -1)
    for i, (w, b) in enumerate(zip(self.weights, self.biases)):
        if detach:
            w, b = w.detach(), b.detach()
        x = torch.baddbmm(b, x, w)
        if i < len(self.weights) - 1:
            x = F.relu(x)
            if self.layer_norm:
                x = F.layer_norm(x, x.shape[-1:])
    return x.squeeze(-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("flags", nargs=argparse.REMAINDER, help="offline_cql.py's flags, after --")
    args = parser.parse_args()
    flags = args.flags[1:] if args.flags[:1] == ["--"] else args.flags
    offline_cql.Critics.forward = forward_relu_then_layer_norm
    offline_cql.main([*flags, "--run-dir", args.run_dir])


if __name__ == "__main__":
    main()
