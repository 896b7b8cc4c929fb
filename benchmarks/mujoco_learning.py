"""benchmarks/learning.py with --env-id Hopper-v5 by default: a MuJoCo task's suite (see learning.py and suites.py).

    python benchmarks/mujoco_learning.py --env-id Hopper-v5 --only online_hybrid --seeds 1 --sac-iterations 30000
"""
import learning


def main():
    learning.main(default_env_id="Hopper-v5")


if __name__ == "__main__":
    main()
