import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # so tests can `from oracle import check`

import torch
from hypothesis import settings

# One thread: on a shared 2-core machine torch's thread pool makes tiny oracle ops slow
# (a small Transformer backward took 1 s instead of 3 ms), and pytest -n 2 uses both cores.
torch.set_num_threads(1)

settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed():
    import macrograd as mg

    mg.manual_seed(0)
    np.random.seed(0)
    yield
