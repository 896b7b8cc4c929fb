"""benchmarks/learning.py reuses a finished run only while its command and its code are unchanged."""
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import learning  # noqa: E402

FAKE_TRAINING = """import json, pathlib, sys
out_dir = pathlib.Path(sys.argv[1])
(out_dir / "eval.jsonl").write_text(json.dumps({"iteration": 5}) + "\\n")
with open(pathlib.Path(__file__).parent / "runs_made", "a") as f:
    f.write("x")
"""


def test_a_finished_run_is_made_again_when_its_command_or_code_changes(tmp_path):
    script, out_dir = tmp_path / "fake_training.py", tmp_path / "run"
    script.write_text(FAKE_TRAINING)

    def ensure(*extra_args):
        learning.ensure([str(script), str(out_dir), *extra_args], out_dir,
                        lambda: learning.last_iteration(out_dir) >= 5, "fake", threads=1)
        return len((tmp_path / "runs_made").read_text())

    assert ensure() == 1
    assert ensure() == 1  # finished, same command and code: reused
    script.write_text(FAKE_TRAINING + "# changed\n")
    assert ensure() == 2
    assert ensure() == 2
    assert ensure("--another-flag") == 3
    (out_dir / "eval.jsonl").write_text("")  # unfinished
    assert ensure("--another-flag") == 4
