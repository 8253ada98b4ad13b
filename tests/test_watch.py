"""Global hooks and watch_training: module and optimizer hooks on every instance, in PyTorch's
order (the oracle), and diagnostics recorded for training code that was never handed a callback -
a hand-written loop with two models and two optimizers, like a GAN's."""
import json

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd import nn, optim
from macrograd.data import DataLoader, TensorDataset
from macrograd.nn.module import register_module_forward_hook, register_module_forward_pre_hook
from macrograd.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from macrograd.train import Diagnostics, fit, watch_training
from macrograd.train.diagnostics import read_diagnostics


# -- global hooks against PyTorch's --------------------------------------------------------------
def module_hook_order(L, global_pre, global_post):
    calls = []
    layer = L.nn.Linear(3, 2)
    layer.register_forward_pre_hook(lambda m, a: calls.append("own pre"))
    layer.register_forward_hook(lambda m, a, o: calls.append("own post"))
    handles = [global_pre(lambda m, a: calls.append(f"global pre {type(m).__name__}")),
               global_post(lambda m, a, o: calls.append(f"global post {tuple(o.shape)}"))]
    layer(L.ones(4, 3))
    for handle in handles:
        handle.remove()
    layer(L.ones(4, 3))  # removed: only the module's own hooks run
    return calls


def test_global_module_hooks_run_first_as_in_torch():
    from torch.nn.modules.module import register_module_forward_hook as t_post
    from torch.nn.modules.module import register_module_forward_pre_hook as t_pre

    got = module_hook_order(mg, register_module_forward_pre_hook, register_module_forward_hook)
    assert got == module_hook_order(torch, t_pre, t_post)
    assert got[:4] == ["global pre Linear", "own pre", "global post (4, 2)", "own post"]


def test_global_forward_hook_can_replace_output():
    with register_module_forward_hook(lambda m, a, o: o * 0):
        out = nn.Linear(3, 2)(mg.ones(1, 3))
    assert np.all(out.detach().numpy() == 0)


def step_hook_order(L, global_pre, global_post):
    calls = []
    w = L.nn.Parameter(L.ones(2))
    opt = L.optim.SGD([w], lr=0.5)
    opt.register_step_pre_hook(lambda o, a, k: calls.append("own pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append(f"own post w={o.param_groups[0]['params'][0].tolist()}"))
    handles = [global_pre(lambda o, a, k: calls.append(f"global pre {type(o).__name__}")),
               global_post(lambda o, a, k: calls.append("global post"))]
    w.sum().backward()
    opt.step()
    for handle in handles:
        handle.remove()
    opt.step()
    return calls


def test_optimizer_step_hooks_run_in_torchs_order():
    from torch.optim.optimizer import register_optimizer_step_post_hook as t_post
    from torch.optim.optimizer import register_optimizer_step_pre_hook as t_pre

    got = step_hook_order(mg, register_optimizer_step_pre_hook, register_optimizer_step_post_hook)
    assert got == step_hook_order(torch, t_pre, t_post)
    assert got[:4] == ["global pre SGD", "own pre", "own post w=[0.5, 0.5]", "global post"]


# -- watch_training -------------------------------------------------------------------------------
class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 12), nn.Tanh())
        self.head = nn.Linear(12, 1)
        with mg.no_grad():
            self.body[0].bias[:6] = -100.0  # six of twelve tanh units saturated at -1 on every input

    def forward(self, x):
        return self.head(self.body(x))


def gan_like_loop(steps=5):
    """Alternating updates of two models with their own optimizers, no fit() and no callback."""
    mg.manual_seed(0)
    g, d = Generator(), Discriminator()
    opt_g, opt_d = optim.Adam(g.parameters(), lr=1e-2), optim.SGD(d.parameters(), lr=0.1)
    real = mg.randn(32, 8)
    for _ in range(steps):
        fake = g(mg.randn(32, 4))
        loss_d = nn.functional.softplus(-d(real)).mean() + nn.functional.softplus(d(fake.detach())).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = nn.functional.softplus(-d(fake)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return g, d


def test_watch_records_each_optimizer_of_a_hand_written_loop(tmp_path):
    with watch_training(tmp_path, every=2) as watcher:
        g, d = gan_like_loop(steps=5)
    assert [p.name for p in watcher.files] == ["diagnostics-Discriminator.jsonl", "diagnostics-Generator.jsonl"]
    disc, gen = (read_diagnostics(p) for p in watcher.files)
    assert [r["step"] for r in disc] == [1, 2, 4] == [r["step"] for r in gen]
    # each file holds its own model's layers and weights, named by module path
    assert set(gen[0]["layers"]) == {"net.0", "net.1", "net.2"} and gen[0]["layers"]["net.1"]["kind"] == "ReLU"
    assert set(disc[0]["layers"]) == {"body.0", "body.1", "head"}
    assert set(disc[0]["params"]) == {"body.0.weight", "head.weight"}
    assert disc[0]["layers"]["body.1"]["saturated"] >= 0.5  # the six saturated units, on real and fake
    for record in disc + gen:
        for entry in record["params"].values():
            assert entry["update_data_ratio"] > 0 and entry["grad_std"] > 0
    # the hooks are gone afterwards: training again writes nothing new
    sizes = [p.stat().st_size for p in watcher.files]
    gan_like_loop(steps=2)
    assert sizes == [p.stat().st_size for p in watcher.files]


def test_watched_update_ratio_is_the_real_update(tmp_path):
    """update:data of the first step equals std(w1 - w0) / std(w0) computed outside the watcher."""
    mg.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    opt = optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    w0 = model[0].weight.detach().numpy().copy()
    with watch_training(tmp_path, every=10) as watcher:
        loss = model(mg.randn(16, 5)).pow(2).mean()
        loss.backward()
        opt.step()
    w1 = model[0].weight.detach().numpy()
    (record,) = read_diagnostics(watcher.files[0])
    entry = record["params"]["0.weight"]
    assert entry["update_data_ratio"] == pytest.approx(np.std(w1 - w0) / np.std(w0), rel=1e-5)
    assert entry["grad_std"] == pytest.approx(float(model[0].weight.grad.numpy().std()), rel=1e-5)
    assert watcher.files[0].name == "diagnostics-Sequential.jsonl"


def test_an_optimizer_under_a_diagnostics_callback_is_left_to_it(tmp_path):
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    loader = DataLoader(TensorDataset(mg.randn(64, 6), mg.randint(0, 3, (64,))), batch_size=16)
    with watch_training(tmp_path / "watched", every=1) as watcher:
        fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), loader, epochs=1,
            callbacks=[Diagnostics(tmp_path / "callback.jsonl", every=1)])
    assert watcher.files == []
    assert len(read_diagnostics(tmp_path / "callback.jsonl")) == 4


def test_every_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="every must be >= 1"):
        watch_training(tmp_path, every=0)


def test_cli_diagnose_records_an_experiment_with_its_own_loop(tmp_path, monkeypatch, capsys):
    import os

    from macrograd.cli import main

    monkeypatch.setenv("MACROGRAD_DATA", os.environ.get("MACROGRAD_DATA") or "/work/shared/data")
    assert main(["run", "word2vec", "--smoke", "--diagnose", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diagnostics"] == ["diagnostics-GloVe.jsonl", "diagnostics-SkipGramNegativeSampling.jsonl"]
    for name in summary["diagnostics_plots"]:
        assert (tmp_path / name).stat().st_size > 0
    assert "recorded nothing" not in capsys.readouterr().err
