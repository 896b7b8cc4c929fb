#!/usr/bin/env bash
# Makes the peers' own virtual environments for benchmarks/peers.py, beside the project's .venv and never in it:
#
#   .venv-cleanrl  CleanRL 1.2.0 (PyPI), whose sac_continuous_action.py runs unchanged
#   .venv-d3rlpy   d3rlpy 2.8.0 (PyPI) with the project's requirements.txt (peers.py's runner imports buffer.py)
#
#   bash benchmarks/peer_venvs.sh            # both
#   bash benchmarks/peer_venvs.sh cleanrl    # one of them
#
# Run from anywhere; the venvs go in the repository root (git-ignored). PYTHON picks the interpreter (default
# python3.11: torch==2.13.0's CPU build lies on this machine's disk for Python 3.11; an unpinned torch would pull
# a CUDA build of several GB, so every torch here is pinned).
#
# CleanRL 1.2.0 declares Python < 3.11 and pins gym 0.23.1, stable-baselines3 1.2.0, wandb, moviepy, pygame and
# more; its sac_continuous_action.py imports only gym, numpy, torch, stable_baselines3's ReplayBuffer and
# tensorboard (and distutils, still in Python 3.11). So the package goes in with --no-deps and those imports
# with the versions it pins where they install on Python 3.11: gym 0.23.1 (whose API the script is written
# for: reset() gives the observation, step() 4 values, a list of info dicts, info["terminal_observation"]),
# stable-baselines3 1.2.0, numpy < 2 (SB3 1.2.0 predates numpy 2). gym 0.23.1's MuJoCo envs are -v2/-v3 and
# need mujoco-py and MuJoCo 2.1's binaries (not on PyPI); peers.py gives the script Gymnasium's -v4/-v5 envs
# (gymnasium and mujoco at the project's versions) through an adapter to gym 0.23.1's API (see
# benchmarks/peer_runs/cleanrl_sac.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
which="${1:-all}"

if [[ $which == all || $which == cleanrl ]]; then
    rm -rf .venv-cleanrl
    "$PYTHON" -m venv .venv-cleanrl
    .venv-cleanrl/bin/pip install --quiet torch==2.13.0 'numpy<2' 'gymnasium[mujoco]==1.4.0' mujoco==3.15.0 \
        tensorboard==2.21.0 cloudpickle gym_notices pandas matplotlib
    # gym 0.23.1 and SB3 1.2.0 without their pins (SB3 1.2.0 asks for gym; cleanrl for gym==0.23.1 and more)
    .venv-cleanrl/bin/pip install --quiet --no-deps gym==0.23.1 stable-baselines3==1.2.0
    .venv-cleanrl/bin/pip install --quiet --no-deps --ignore-requires-python cleanrl==1.2.0
    .venv-cleanrl/bin/python -c "import cleanrl.sac_continuous_action, torch, gym, gymnasium, stable_baselines3 as sb3
print('cleanrl 1.2.0 ready: torch', torch.__version__, 'gym', gym.__version__, 'gymnasium', gymnasium.__version__,
      'stable-baselines3', sb3.__version__)"
fi

if [[ $which == all || $which == d3rlpy ]]; then
    rm -rf .venv-d3rlpy
    "$PYTHON" -m venv .venv-d3rlpy
    # requirements.txt pins torch==2.13.0 (the CPU build), gymnasium 1.4.0 and mujoco: the same envs as ours
    .venv-d3rlpy/bin/pip install --quiet -r requirements.txt d3rlpy==2.8.0
    .venv-d3rlpy/bin/python -c "import d3rlpy, torch, gymnasium
print('d3rlpy ready:', d3rlpy.__version__, 'torch', torch.__version__, 'gymnasium', gymnasium.__version__)"
fi
