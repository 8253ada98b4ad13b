"""macrograd.io: safetensors state dicts (checked against safetensors.torch and torch.nn) and
training checkpoints."""
import json
import math
import os

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import macrograd as mg
import macrograd.nn as nn
import macrograd.optim as optim
from macrograd.io import load, load_checkpoint, save, save_checkpoint


def _state():
    return {
        "weight": mg.randn(3, 4),
        "double": mg.tensor(np.arange(6.0).reshape(2, 3)),  # float64 stays float64
        "steps": mg.tensor([1, 2, 3]),
        "mask": mg.tensor([True, False]),
        "pixels": mg.tensor(np.arange(4, dtype=np.uint8)),
        "scalar": mg.tensor(2.5),
        "transposed": mg.randn(4, 5).T,  # not contiguous
    }


# -- save / load ---------------------------------------------------------------------------------
def test_round_trip_keeps_values_dtypes_and_shapes(tmp_path):
    state = _state()
    path = tmp_path / "m.safetensors"
    save(state, path)
    loaded = load(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert isinstance(loaded[key], mg.Tensor)
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())
    loaded["weight"].fill_(1)  # loaded tensors are writable (an optimizer updates them in place)


def test_save_rejects_non_tensors(tmp_path):
    with pytest.raises(TypeError, match=r"value for key 'lr' is a float, not a Tensor"):
        save({"w": mg.ones(2), "lr": 0.1}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"expected a state dict.*got Tensor"):
        save(mg.ones(2), tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be str"):
        save({0: mg.ones(2)}, tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)  # nothing written


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save({"w": mg.ones(3)}, path)
    before = path.read_bytes()

    def crash_midway(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x10\x00\x00\x00partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save({"w": mg.zeros(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.safetensors"]
    np.testing.assert_array_equal(load(path)["w"].numpy(), np.ones(3, np.float32))


def test_corrupt_and_missing_files_are_named(tmp_path):
    path = tmp_path / "m.safetensors"
    save({"w": mg.ones(100)}, path)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 10])
    (tmp_path / "junk.safetensors").write_bytes(b"definitely not safetensors")
    for name in ("cut.safetensors", "junk.safetensors"):
        with pytest.raises(RuntimeError, match=rf"{name} is not a valid safetensors file"):
            load(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load(tmp_path / "nope.safetensors")


def test_file_loads_into_torch_linear_with_same_outputs(tmp_path):
    layer = nn.Linear(4, 3)
    path = tmp_path / "linear.safetensors"
    save(layer.state_dict(), path)
    twin = torch.nn.Linear(4, 3)
    twin.load_state_dict(safetensors.torch.load_file(path))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with mg.no_grad():
        ours = layer(mg.tensor(x)).numpy()
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), ours, rtol=1e-6, atol=1e-6)
    # ... and the other way round: a file torch wrote loads into macrograd.
    safetensors.torch.save_file({k: v.contiguous() for k, v in twin.state_dict().items()}, tmp_path / "t.safetensors")
    fresh = nn.Linear(4, 3)
    fresh.load_state_dict(load(tmp_path / "t.safetensors"))
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), twin.weight.detach().numpy())


# -- checkpoints with small stand-ins for Module / Optimizer / LRScheduler -------------------------
class FakeModel:
    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.params = {"fc.weight": mg.tensor(rng.standard_normal((2, 3)).astype(np.float32)),
                       "fc.bias": mg.tensor(np.zeros(2, np.float32))}
        self.strict = None

    def state_dict(self):
        return dict(self.params)

    def load_state_dict(self, state, strict=True):
        self.params, self.strict = dict(state), strict


class FakeOptimizer:
    """torch's layout: {'state': {param index: {name: Tensor or number}}, 'param_groups': [...]}."""

    def __init__(self):
        self.state = {0: {"step": 3, "exp_avg": mg.randn(2, 3), "exp_avg_sq": mg.rand(2, 3)},
                      1: {"step": mg.tensor(3.0), "exp_avg": mg.randn(2)}}
        self.param_groups = [{"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                              "weight_decay": 0.0, "amsgrad": False, "maximize": False}]
        self.loaded = None

    def state_dict(self):
        return {"state": self.state, "param_groups": self.param_groups}

    def load_state_dict(self, state):
        self.loaded = state


class FakeScheduler:
    def state_dict(self):
        return {"last_epoch": 7, "base_lrs": [0.1], "_last_lr": [0.025], "best": math.inf, "lr_lambdas": [None]}

    def load_state_dict(self, state):
        self.loaded = state


def test_checkpoint_round_trip(tmp_path):
    model, optimizer, scheduler = FakeModel(0), FakeOptimizer(), FakeScheduler()
    path = tmp_path / "ckpt.safetensors"
    metrics = {"val_loss": 0.25, "history": [1.5, 0.5], "best": mg.tensor(0.9)}
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=4,
                    metrics=metrics, extra={"config": {"width": 8}, "classes": ("a", "b")})
    expected_rng = mg.rand(5).numpy()  # what the RNG gives right after the checkpoint

    mg.manual_seed(123)
    fresh_model, fresh_optimizer, fresh_scheduler = FakeModel(1), FakeOptimizer(), FakeScheduler()
    info = load_checkpoint(path, fresh_model, fresh_optimizer, fresh_scheduler)
    np.testing.assert_array_equal(mg.rand(5).numpy(), expected_rng)  # RNG restored
    for key, value in model.params.items():
        np.testing.assert_array_equal(fresh_model.params[key].numpy(), value.numpy())
    state = fresh_optimizer.loaded
    assert state["param_groups"] == optimizer.param_groups  # tuples stay tuples (betas)
    assert set(state["state"]) == {0, 1} and state["state"][0]["step"] == 3  # int keys stay ints
    assert isinstance(state["state"][1]["step"], mg.Tensor) and state["state"][1]["step"].item() == 3.0
    for index, values in optimizer.state.items():
        for name, value in values.items():
            if isinstance(value, mg.Tensor):
                np.testing.assert_array_equal(state["state"][index][name].numpy(), value.numpy())
    assert fresh_scheduler.loaded == scheduler.state_dict()
    assert info["epoch"] == 4 and info["metrics"]["history"] == [1.5, 0.5]
    assert info["metrics"]["best"].item() == pytest.approx(0.9)
    assert info["extra"] == {"config": {"width": 8}, "classes": ("a", "b")}
    assert fresh_model.strict is True


def test_checkpoint_layout_is_plain_safetensors(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=FakeModel(0), optimizer=FakeOptimizer(), epoch=1)
    arrays = safetensors.numpy.load_file(path)
    assert {"model.fc.weight", "model.fc.bias", "optimizer.state.0.exp_avg", "optimizer.state.0.exp_avg_sq",
            "optimizer.state.1.exp_avg", "optimizer.state.1.step"} == set(arrays)
    torch_state = safetensors.torch.load_file(path)
    assert torch_state["model.fc.weight"].shape == (2, 3)
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = json.loads(f.metadata()["macrograd.checkpoint"])
    assert meta["epoch"] == 1 and meta["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_checkpoint_errors(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save({"w": mg.ones(1)}, plain)
    with pytest.raises(ValueError, match="holds no training state.*mg.load"):
        load_checkpoint(plain, FakeModel(0))
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=FakeModel(0), epoch=1)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(path, FakeModel(0), optimizer=FakeOptimizer())
    with pytest.raises(TypeError, match=r"cannot store extra.fn of type function"):
        save_checkpoint(tmp_path / "bad.safetensors", extra={"fn": lambda: 0})
    assert not (tmp_path / "bad.safetensors").exists()
    # A damaged JSON header and a truncated file both name the file.
    safetensors.numpy.save_file({"model.w": np.ones(1, np.float32)}, tmp_path / "broken.safetensors",
                                metadata={"macrograd.checkpoint": "{not json"})
    with pytest.raises(RuntimeError, match="broken.safetensors has a corrupt training-state header"):
        load_checkpoint(tmp_path / "broken.safetensors", FakeModel(0))
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:40])
    with pytest.raises(RuntimeError, match="cut.safetensors is not a valid safetensors file"):
        load_checkpoint(tmp_path / "cut.safetensors", FakeModel(0))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=FakeModel(0), epoch=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.numpy, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model=FakeModel(1), epoch=2)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_resuming_real_training_matches_uninterrupted(tmp_path):
    """With the real nn / optim: train, checkpoint, train on; a resumed run retraces it exactly."""
    def make():
        mg.manual_seed(0)
        model = nn.Linear(3, 2)
        optimizer = optim.Adam(model.parameters(), lr=0.1)
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return model, optimizer, scheduler

    def train(model, optimizer, scheduler, steps):
        for _ in range(steps):
            x = mg.randn(4, 3)  # the data come from the global RNG, which the checkpoint restores
            loss = (model(x) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()

    model, optimizer, scheduler = make()
    train(model, optimizer, scheduler, 3)
    save_checkpoint(tmp_path / "ckpt.safetensors", model=model, optimizer=optimizer, scheduler=scheduler, epoch=3)
    train(model, optimizer, scheduler, 3)

    resumed, resumed_optimizer, resumed_scheduler = make()
    mg.manual_seed(99)
    info = load_checkpoint(tmp_path / "ckpt.safetensors", resumed, resumed_optimizer, resumed_scheduler)
    assert info["epoch"] == 3
    train(resumed, resumed_optimizer, resumed_scheduler, 3)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=name)
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
