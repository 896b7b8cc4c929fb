#!/usr/bin/env bash
# The wheels that benchmarks/gpu_check.sh needs on the GPU machine beyond its image (which has torch, numpy,
# tensorboard, tqdm, matplotlib, h5py, huggingface-hub, typer, cloudpickle, absl-py, etils): fetched here into
# .whl/ (git-ignored) for Python 3.12 on x86-64, at requirements.txt's versions. On the GPU machine, with .whl
# carried:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
#       .whl/*.whl && export PYTHONPATH=/tmp/site && benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version() { sed -n "s/^$1\(\[[a-z0-9,]*\]\)\?==\([^ ]*\).*/\2/p" requirements.txt; }
PY=${PY:-python3}
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl \
    "gymnasium==$(version gymnasium)" "mujoco==$(version mujoco)" "tyro==$(version tyro)" "minari==$(version minari)" \
    farama-notifications glfw pyopengl websockets docstring-parser typeguard
ls .whl
du -sh .whl
