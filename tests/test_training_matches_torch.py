"""A 30-step MLP training run on real MNIST batches matches PyTorch step for step: the same
initial weights, the same batches in the same order, the same optimizer and schedule. The loss
of every step and the final weights must agree."""
import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.data import MNIST, DataLoader

STEPS = 30


def build(L):
    nn = L.nn
    # No bias before BatchNorm: its true gradient is 0, so Adam would amplify float noise in it.
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))


def make_optimizer(L, name, params):
    if name == "sgd-momentum":
        return L.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    if name == "adam":
        return L.optim.Adam(params, lr=2e-3)
    return L.optim.AdamW(params, lr=2e-3, weight_decay=0.05)


@pytest.mark.parametrize("optimizer_name", ["sgd-momentum", "adam", "adamw"])
def test_thirty_training_steps_match_torch(optimizer_name):
    mg.manual_seed(0)
    loader = DataLoader(MNIST(train=True), batch_size=64, shuffle=True, generator=mg.Generator().manual_seed(1))
    batches = []
    for images, labels in loader:
        batches.append((images.numpy(), labels.numpy()))
        if len(batches) == STEPS:
            break

    ours, theirs = build(mg), build(torch)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    losses = {}
    for model, L in ((ours, mg), (theirs, torch)):
        optimizer = make_optimizer(L, optimizer_name, model.parameters())
        scheduler = L.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"], total_steps=STEPS)
        loss_fn = L.nn.CrossEntropyLoss(label_smoothing=0.05)
        losses[L.__name__] = []
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(L.tensor(x)), L.tensor(y))
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses[L.__name__].append(loss.item())

    np.testing.assert_allclose(losses["macrograd"], losses["torch"], rtol=2e-4, atol=2e-5)
    assert losses["macrograd"][-1] < losses["macrograd"][0]  # it did learn
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
