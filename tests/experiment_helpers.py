"""What the experiment tests share: where the real data is, an autouse fixture pointing
MACROGRAD_DATA at it, and the smoke config of an experiment module.

    from experiment_helpers import DATA, data_folder, smoke  # noqa: F401  (data_folder is autouse)
"""
import dataclasses
import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("MACROGRAD_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def data_folder(monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(DATA))


def smoke(module, **changes):
    """module.Config() with its SMOKE budget and `changes` applied."""
    return dataclasses.replace(module.Config(), **{**module.SMOKE, **changes})
