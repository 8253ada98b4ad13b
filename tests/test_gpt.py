"""GPT (nanoGPT layout) against a PyTorch twin written here in nanoGPT's own code: the same
state_dict gives the same logits, loss, every gradient and the same AdamW steps; weight tying,
nanoGPT's init, optimizer groups, and KV-cached generation equal to the uncached loop."""
import math

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.models.gpt import GPT, GPTConfig


# ---- the PyTorch twin: nanoGPT's model.py, the same one gpt-shakespeare is checked against ------
from reference.gpt_torch import GPT as TorchGPT  # noqa: E402  (tests/ is on sys.path: conftest)


def twins(bias=True, n_layer=2, seed=0):
    mg.manual_seed(seed)
    config = GPTConfig(block_size=16, vocab_size=23, n_layer=n_layer, n_head=4, n_embd=32, dropout=0.0, bias=bias)
    model = GPT(config)
    twin = TorchGPT(config)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    return model, twin


def assert_close(ours, theirs, rtol=1e-4, atol=1e-5, name=""):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_logits_loss_and_every_grad_match_torch(bias):
    model, twin = twins(bias)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 23, (3, 16))
    targets = rng.integers(0, 23, (3, 16))
    targets[0, :5] = -1  # ignored positions, as nanoGPT allows
    logits, loss = model(mg.tensor(idx), mg.tensor(targets))
    t_logits, t_loss = twin(torch.tensor(idx), torch.tensor(targets))
    assert_close(logits, t_logits)
    assert_close(loss, t_loss)
    loss.backward()
    t_loss.backward()
    ours = dict(model.named_parameters())
    theirs = dict(twin.named_parameters())
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert_close(ours[name].grad, theirs[name].grad, rtol=1e-3, atol=1e-6, name=name)


def test_inference_gives_last_position_logits_only():
    model, twin = twins()
    idx = np.random.default_rng(2).integers(0, 23, (2, 9))
    model.eval()
    logits, loss = model(mg.tensor(idx))
    assert loss is None and tuple(logits.shape) == (2, 1, 23)
    assert_close(logits, twin(torch.tensor(idx))[0])


def test_weight_tying_shares_one_parameter():
    model, _ = twins()
    assert model.transformer.wte.weight is model.lm_head.weight
    names = [name for name, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and "transformer.wte.weight" in names
    assert {"lm_head.weight", "transformer.wte.weight"} <= set(model.state_dict())  # both keys, as torch
    # loading a state dict keeps the tie (load copies in place)
    model.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
    assert model.transformer.wte.weight is model.lm_head.weight
    # a gradient through the embedding and through the head lands on the same tensor
    logits, loss = model(mg.tensor([[1, 2, 3]]), mg.tensor([[2, 3, 4]]))
    loss.backward()
    assert model.lm_head.weight.grad is model.transformer.wte.weight.grad
    n_embd, vocab, block = 32, 23, 16
    assert model.get_num_params() == sum(p.numel() for p in model.parameters()) - block * n_embd
    assert model.get_num_params(non_embedding=False) == sum(p.numel() for p in model.parameters())


def test_nanogpt_init():
    mg.manual_seed(0)
    n_layer = 3
    model = GPT(GPTConfig(block_size=64, vocab_size=512, n_layer=n_layer, n_head=4, n_embd=128))
    for name, p in model.named_parameters():
        w = p.detach().numpy()
        if name.endswith("c_proj.weight"):
            assert abs(w.std() - 0.02 / math.sqrt(2 * n_layer)) < 0.1 * 0.02 / math.sqrt(2 * n_layer), name
        elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            assert (w == 1).all(), name
        elif name.endswith(".bias"):
            assert (w == 0).all(), name
        else:  # Linear and Embedding weights
            assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002, name


def test_configure_optimizers_groups_like_nanogpt():
    model, twin = twins()
    optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.95))
    assert isinstance(optimizer, mg.optim.AdamW)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert decay["lr"] == 3e-3 and decay["betas"] == (0.9, 0.95)
    params = dict(model.named_parameters())
    assert {id(p) for p in decay["params"]} == {id(p) for p in params.values() if p.ndim >= 2}
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in params.values() if p.ndim < 2}
    assert len(decay["params"]) + len(no_decay["params"]) == len(params)  # the tied weight once


def test_adamw_training_steps_match_torch_step_for_step():
    model, twin = twins(n_layer=1)
    optimizer = model.configure_optimizers(0.1, 3e-3, (0.9, 0.95))
    params = dict(twin.named_parameters())
    t_optimizer = torch.optim.AdamW(
        [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.1},
         {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}],
        lr=3e-3, betas=(0.9, 0.95))
    rng = np.random.default_rng(3)
    for _ in range(3):
        idx, targets = rng.integers(0, 23, (2, 16)), rng.integers(0, 23, (2, 16))
        optimizer.zero_grad()
        _, loss = model(mg.tensor(idx), mg.tensor(targets))
        loss.backward()
        optimizer.step()
        t_optimizer.zero_grad()
        _, t_loss = twin(torch.tensor(idx), torch.tensor(targets))
        t_loss.backward()
        t_optimizer.step()
        assert_close(loss, t_loss)
    ours = dict(model.named_parameters())
    for name, p in params.items():
        if name.endswith("c_attn.bias"):
            # The key bias adds q.b_k to a whole row of scores, which softmax ignores: its true
            # gradient is 0 and both libraries see rounding noise, which Adam scales up to lr-sized
            # steps. Only the query and value slices are compared tightly.
            n = p.shape[0] // 3
            ours_p, theirs_p = ours[name].detach().numpy(), p.detach().numpy()
            np.testing.assert_allclose(ours_p[n:2 * n], theirs_p[n:2 * n], atol=3 * 3e-3)
            np.testing.assert_allclose(np.delete(ours_p, np.s_[n:2 * n]), np.delete(theirs_p, np.s_[n:2 * n]),
                                       rtol=1e-3, atol=1e-5, err_msg=name)
            continue
        assert_close(ours[name], p, rtol=1e-3, atol=1e-5, name=name)


def test_training_learns_a_repeated_sequence():
    mg.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=8, n_layer=1, n_head=2, n_embd=32))
    data = np.tile(np.array([0, 3, 1, 4, 1, 5, 2, 6]), 3)
    idx, targets = mg.tensor(data[None, :16]), mg.tensor(data[None, 1:17])
    optimizer = model.configure_optimizers(0.0, 1e-2, (0.9, 0.99))
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        _, loss = model(idx, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 1.8 and losses[-1] < 0.1 * losses[0]
    model.eval()
    out = model.generate(idx[:, :2], 14, temperature=0)
    np.testing.assert_array_equal(out.numpy()[0], data[:16])


def test_kv_cache_gives_exactly_the_uncached_greedy_tokens():
    model, _ = twins()
    model.eval()
    prompt = mg.tensor(np.random.default_rng(4).integers(0, 23, (3, 5)))
    # 5 + 20 > block_size 16: the window slides after 11 new tokens
    cached = model.generate(prompt, 20, temperature=0)
    uncached = model.generate(prompt, 20, temperature=0, use_cache=False)
    assert tuple(cached.shape) == (3, 25)
    np.testing.assert_array_equal(cached.numpy(), uncached.numpy())
    np.testing.assert_array_equal(cached.numpy()[:, :5], prompt.numpy())
    # top_k=1 sampling is greedy too
    np.testing.assert_array_equal(model.generate(prompt, 20, top_k=1).numpy(), cached.numpy())


def test_kv_cache_step_logits_equal_a_full_forward():
    model, twin = twins()
    model.eval()
    idx = mg.tensor(np.random.default_rng(5).integers(0, 23, (2, 10)))
    caches = [{} for _ in model.transformer.h]
    with mg.no_grad():
        prefix = model._hidden(idx[:, :6], caches)
        steps = [model._hidden(idx[:, t:t + 1], caches, offset=t) for t in range(6, 10)]
        two = model._hidden(idx[:, :8], [{} for _ in model.transformer.h])
        full = model._hidden(idx)
    np.testing.assert_allclose(mg.cat([prefix] + steps, dim=1).numpy(), full.numpy(), rtol=1e-4, atol=1e-5)
    # several new tokens at once after a cached prefix (bottom-right causal mask)
    caches = [{} for _ in model.transformer.h]
    with mg.no_grad():
        model._hidden(idx[:, :4], caches)
        chunk = model._hidden(idx[:, 4:8], caches, offset=4)
    np.testing.assert_allclose(chunk.numpy(), two.numpy()[:, 4:8], rtol=1e-4, atol=1e-5)


def test_seeded_sampling_is_reproducible_and_cache_independent():
    model, _ = twins()
    model.eval()
    prompt = mg.tensor([[1, 2, 3]])
    mg.manual_seed(7)
    a = model.generate(prompt, 12, temperature=0.9, top_k=10, top_p=0.9)
    mg.manual_seed(7)
    b = model.generate(prompt, 12, temperature=0.9, top_k=10, top_p=0.9, use_cache=False)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mg.manual_seed(8)
    c = model.generate(prompt, 12, temperature=2.0)
    assert not np.array_equal(a.numpy(), c.numpy())


def test_errors_name_the_problem():
    model, _ = twins()
    with pytest.raises(ValueError, match="length 17, block size is only 16"):
        model(mg.tensor(np.zeros((1, 17), dtype=np.int64)))
    with pytest.raises(ValueError, match="integer token ids"):
        model(mg.randn(2, 3))
    with pytest.raises(ValueError, match="n_embd=30 is not divisible by n_head=4"):
        GPT(GPTConfig(block_size=8, vocab_size=5, n_layer=1, n_head=4, n_embd=30))


def test_crop_block_size():
    model, _ = twins()
    model.crop_block_size(8)
    assert tuple(model.transformer.wpe.weight.shape) == (8, 32) and model.config.block_size == 8
    assert tuple(model(mg.tensor([[1] * 8]))[0].shape) == (1, 1, 23)
    with pytest.raises(ValueError, match="block size is only 8"):
        model(mg.tensor([[1] * 9]))


def test_save_and_from_pretrained_round_trip(tmp_path):
    from macrograd.io import from_pretrained, save_pretrained

    model, twin = twins()
    save_pretrained(model, tmp_path)
    stored = mg.load(tmp_path / "model.safetensors")
    assert "transformer.wte.weight" in stored and "lm_head.weight" not in stored  # the tied weight once
    for loaded in (GPT.from_pretrained(tmp_path), from_pretrained(tmp_path)):
        assert isinstance(loaded, GPT) and not loaded.training and loaded.config == model.config
        assert loaded.lm_head.weight is loaded.transformer.wte.weight
        idx = np.random.default_rng(9).integers(0, 23, (2, 7))
        with mg.no_grad():
            assert_close(loaded(mg.tensor(idx))[0], twin(torch.tensor(idx))[0])
    # a checkpoint saved from a torch.compile'd nanoGPT carries '_orig_mod.' on every key
    mg.save({"_orig_mod." + k: v for k, v in stored.items()}, tmp_path / "model.safetensors")
    _, info = from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": []}
