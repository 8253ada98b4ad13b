"""DCGAN: generator and discriminator against their torch twins (train and eval mode, all grads),
DCGAN's initialisation, and the non-saturating generator loss's gradient."""
import numpy as np
import torch

import macrograd as mg
from macrograd.models.gan import dcgan_discriminator, dcgan_generator, dcgan_init_
from twin_helpers import assert_close, assert_grads_match, load_into_twin, randn


def test_generator_and_discriminator_match_torch_twins():
    for train in (True, False):
        G, Gt = dcgan_init_(dcgan_generator(8, 1, 4)), dcgan_generator(8, 1, 4, nn=torch.nn)
        D, Dt = dcgan_init_(dcgan_discriminator(1, 4)), dcgan_discriminator(1, 4, nn=torch.nn)
        load_into_twin(G, Gt)
        load_into_twin(D, Dt)
        for net in (G, Gt, D, Dt):
            net.train(train)
        z = randn(3, 8, seed=1)
        fake_m, fake_t = G(mg.tensor(z)), Gt(torch.tensor(z))
        assert fake_m.shape == (3, 1, 28, 28)
        assert_close(fake_m, fake_t, what=f"G (train={train})")
        score_m, score_t = D(fake_m), Dt(fake_t)
        assert score_m.shape == (3,)
        assert_close(score_m, score_t, what=f"D (train={train})")
        cot = randn(3, seed=2)
        (score_m * mg.tensor(cot)).sum().backward()
        (score_t * torch.from_numpy(cot)).sum().backward()
        assert_grads_match(G, Gt, what=f"G (train={train})")
        assert_grads_match(D, Dt, what=f"D (train={train})")


def test_generator_output_in_tanh_range():
    out = dcgan_generator(16, 3, 8)(mg.tensor(randn(4, 16) * 10)).detach().numpy()
    assert out.shape == (4, 3, 28, 28) and out.min() >= -1 and out.max() <= 1


def test_dcgan_init_statistics():
    G = dcgan_init_(dcgan_generator(64, 1, 64))
    w = G.project[0].weight.detach().numpy()
    assert abs(w.mean()) < 2e-4 and abs(w.std() - 0.02) < 5e-4
    bn = G.project[1]
    assert abs(bn.weight.detach().numpy().mean() - 1.0) < 3e-3 and np.all(bn.bias.detach().numpy() == 0)
    assert np.all(G.net[3].bias.detach().numpy() == 0)


def test_non_saturating_loss_gradient():
    """d/dl BCE(l, 1) = sigmoid(l) - 1: strong where D confidently rejects the fake (l << 0),
    unlike the minimax form d/dl log(1 - sigmoid(l)) = -sigmoid(l), which vanishes there."""
    logits = mg.tensor(np.array([-8.0, 0.0, 3.0], np.float32), requires_grad=True)
    mg.nn.functional.binary_cross_entropy_with_logits(logits, mg.ones(3), reduction="sum").backward()
    expected = 1 / (1 + np.exp(-logits.detach().numpy())) - 1
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-5)
    assert abs(logits.grad.numpy()[0]) > 0.99
