"""Training diagnostics on a network built to have dead ReLU units and saturated tanh units; the
recorded activations, gradients and updates checked against PyTorch on the same weights and batch."""
import json

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd import nn, optim
from macrograd.data import DataLoader, TensorDataset
from macrograd.train import fit
from macrograd.train.diagnostics import Diagnostics, activation_stats, read_diagnostics
from macrograd.viz.diagnostics import plot_diagnostics


def sick_network():
    """ReLU layer: half its 16 units get a bias of -100 (dead on every input); tanh layer: weights
    x100 (saturated); the last Linear is healthy."""
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 3))
    with mg.no_grad():
        net[0].bias[:8] = -100.0
        net[2].weight.mul_(100.0)
    return net


def torch_copy(net):
    t = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12), torch.nn.Tanh(),
                            torch.nn.Linear(12, 3))
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    return t


@pytest.fixture
def data():
    return mg.randn(256, 20), mg.randint(0, 3, (256,))


def train(net, data, tmp_path, lr=0.05, every=2, epochs=1):
    diag = Diagnostics(tmp_path / "diagnostics.jsonl", every=every)
    loader = DataLoader(TensorDataset(*data), batch_size=64)
    fit(net, optim.SGD(net.parameters(), lr=lr), nn.CrossEntropyLoss(), loader, epochs=epochs, callbacks=[diag])
    return diag


def test_dead_and_saturated_units_are_found(data, tmp_path):
    diag = train(sick_network(), data, tmp_path)
    first = diag.records[0]["layers"]
    assert first["1"]["kind"] == "ReLU" and first["1"]["dead"] == 0.5  # exactly the 8 biased units
    assert first["3"]["kind"] == "Tanh" and first["3"]["saturated"] > 0.8
    healthy = train(nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 3)), data, tmp_path / "h")
    assert healthy.records[0]["layers"]["1"]["dead"] == 0.0


def test_recorded_statistics_match_torch(data, tmp_path):
    net = sick_network()
    tnet = torch_copy(net)
    diag = train(net, data, tmp_path, lr=0.05)
    x, y = (torch.tensor(t.numpy()) for t in data)
    xb, yb = x[:64], y[:64]
    acts = {}
    for i in (1, 3):
        tnet[i].register_forward_hook(lambda m, a, o, i=i: acts.__setitem__(str(i), o.detach().numpy()))
    before = {k: v.detach().clone() for k, v in tnet.named_parameters()}
    torch.nn.functional.cross_entropy(tnet(xb), yb).backward()
    record = diag.records[0]
    assert record["step"] == 1
    for name, out in acts.items():
        want = activation_stats(record["layers"][name]["kind"], out)
        got = record["layers"][name]
        for key in ("mean", "std", "saturated", "dead"):
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), (name, key)
    for name in ("0.weight", "2.weight", "4.weight"):
        grad, w = tnet.get_parameter(name).grad.numpy(), before[name].numpy()
        got = record["params"][name]
        assert got["grad_std"] == pytest.approx(grad.std(), rel=1e-4)
        assert got["grad_mean"] == pytest.approx(grad.mean(), rel=1e-3, abs=1e-4 * float(grad.std()))
        assert got["grad_data_ratio"] == pytest.approx(grad.std() / w.std(), rel=1e-4)
        # plain SGD: the update is -lr * grad
        assert got["update_data_ratio"] == pytest.approx(0.05 * grad.std() / w.std(), rel=1e-3)


def test_records_steps_file_and_hooks_removed(data, tmp_path):
    net = sick_network()
    diag = train(net, data, tmp_path, every=3, epochs=2)  # 8 steps
    assert [r["step"] for r in diag.records] == [1, 3, 6]
    on_disk = read_diagnostics(tmp_path / "diagnostics.jsonl")
    assert on_disk == json.loads(json.dumps(diag.records))
    assert all(not m._forward_hooks for m in net.modules())
    # the update ratio of a later step compares with the weights just before that step
    assert all(r["params"]["0.weight"]["update_data_ratio"] > 0 for r in diag.records)


def test_plot(data, tmp_path):
    train(sick_network(), data, tmp_path)
    path = plot_diagnostics(tmp_path / "diagnostics.jsonl", tmp_path / "d.png", title="sick network")
    from PIL import Image

    assert Image.open(path).size[0] > 1000


def test_errors():
    with pytest.raises(ValueError, match="every must be >= 1, got 0"):
        Diagnostics(every=0)
    with pytest.raises(ValueError, match="no diagnostics records"):
        plot_diagnostics([], "/nonexistent.png")

    class Bare(nn.Module):
        def forward(self, x):
            return x

    diag = Diagnostics()
    with pytest.raises(ValueError, match="has no activation, Linear or Conv2d module to watch"):
        diag.on_fit_start(type("T", (), {"model": Bare()})())
