
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# ALF's own buffer file, provided beside the checkout (../shared/) by CI and the developers' machines.
ALF_BUFFER = ROOT.parent / "shared" / "alf_buffers" / "pendulum_replay_buffer_from_sac"



@pytest.fixture
def alf_buffer_path():
    if not ALF_BUFFER.exists():
        pytest.skip(f"ALF's buffer file is not at {ALF_BUFFER} (it lives in ../shared/ beside the checkout)")
    return ALF_BUFFER
