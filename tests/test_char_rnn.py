"""CharRNN against its torch.nn twin (same code, same weights), generation with a carried hidden
state, the Shakespeare data (split by position, seeded contiguous blocks), and the training loop
run in both libraries from the same start: the losses agree step for step."""
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.data.text_data import CharBatches, encode_chars, load_shakespeare
from macrograd.experiments import char_rnn as experiment
from macrograd.models.char_rnn import CharRNN, classes

DATA = Path(os.environ.get("MACROGRAD_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def data_folder(monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(DATA))


def twins(cell, vocab=11, hidden=8, layers=1, emb=5):
    ours = CharRNN(vocab, hidden, layers, cell, emb)
    theirs = classes(torch.nn).CharRNN(vocab, hidden, layers, cell, emb)
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_forward_and_every_grad_match_torch(cell, layers):
    ours, theirs = twins(cell, layers=layers)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.randint(0, 11, (3, 7))
    weights = np.random.randn(3, 7, 11).astype(np.float32)  # a random cotangent, not ones
    outs = []
    for model, lib in ((ours, mg), (theirs, torch)):
        logits, hidden = model(lib.tensor(x))
        (logits * lib.tensor(weights)).sum().backward()
        h = hidden[0] if isinstance(hidden, tuple) else hidden
        outs.append((logits.detach().numpy(), h.detach().numpy(),
                     {k: p.grad.numpy() for k, p in model.named_parameters()}))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-5, atol=1e-5)
    for name in outs[0][2]:
        np.testing.assert_allclose(outs[0][2][name], outs[1][2][name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_hidden_state_carries_a_sequence_across_calls(cell):
    ours, _ = twins(cell)
    x = mg.tensor(np.random.randint(0, 11, (2, 9)))
    whole, _ = ours(x)
    first, hidden = ours(x[:, :4])
    rest, _ = ours(x[:, 4:], hidden)
    np.testing.assert_allclose(mg.cat([first, rest], dim=1).detach().numpy(), whole.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_generation_equals_argmax_of_full_forward(cell):
    """temperature 0: each new token is the argmax of the logits of the whole sequence so far,
    recomputed from scratch, so the carried hidden state is exactly right."""
    model, _ = twins(cell)
    prompt = mg.tensor(np.array([[1, 2, 3]]))
    out = model.generate(prompt, 6, temperature=0.0).numpy()[0]
    assert out.shape == (9,) and out[:3].tolist() == [1, 2, 3]
    with mg.no_grad():
        for t in range(3, 9):
            logits, _ = model(mg.tensor(out[None, :t]))
            assert out[t] == int(logits.numpy()[0, -1].argmax())


def test_sampling_is_seeded_and_respects_top_k():
    model, _ = twins("gru")
    prompt = mg.tensor(np.array([[0], [5]]))
    a = model.generate(prompt, 20, temperature=1.0, generator=mg.Generator().manual_seed(3)).numpy()
    b = model.generate(prompt, 20, temperature=1.0, generator=mg.Generator().manual_seed(3)).numpy()
    assert a.shape == (2, 21) and (a == b).all()
    top1 = model.generate(prompt, 10, temperature=1.5, top_k=1).numpy()
    assert (top1 == model.generate(prompt, 10, temperature=0.0).numpy()).all()
    assert model.training  # generate restores the mode


def test_bad_cell_names_the_choices():
    with pytest.raises(ValueError, match=r"CharRNN: cell must be one of \('rnn', 'lstm', 'gru'\), got 'transformer'"):
        CharRNN(10, cell="transformer")


# -- data -----------------------------------------------------------------------------------------
def test_shakespeare_split_by_position_and_fast_encoding():
    text, tok, train, val = load_shakespeare(max_chars=50_000)
    assert len(train) == 45_000 and len(val) == 5_000
    assert tok.decode(train[:200].tolist()) == text[:200] and tok.decode(val[-50:].tolist()) == text[-50:]
    assert encode_chars(text[:3000], tok).tolist() == tok.encode(text[:3000])
    assert train.dtype == np.int64


def test_encode_chars_rejects_unknown_characters():
    _, tok, _, _ = load_shakespeare(max_chars=2_000)
    with pytest.raises(ValueError, match="outside the tokenizer's vocabulary"):
        encode_chars("ok \u00e9", tok)


def test_char_batches_are_shifted_contiguous_blocks_from_a_seeded_generator():
    ids = np.arange(1000)
    batches = CharBatches(ids, block_size=16, batch_size=5, seed=7)
    x, y = batches.next()
    assert x.shape == y.shape == (5, 16) and x.dtype == np.int64
    assert (np.diff(x, axis=1) == 1).all() and (y == x + 1).all()  # contiguous, y shifted by one
    state = batches.state_dict()
    following = batches.next()
    again = CharBatches(ids, 16, 5, seed=7)
    assert (again.next()[0] == x).all()
    again.load_state_dict(state)
    assert (again.next()[0] == following[0]).all()
    assert all(b[1].max() < 1000 for b in CharBatches(ids, 16, 64, seed=1).take(50))
    with pytest.raises(ValueError, match="CharBatches: need a 1-D stream longer than block_size"):
        CharBatches(np.arange(10), block_size=16, batch_size=2)


# -- the training loop in both libraries ----------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_train_lm_matches_torch_step_for_step(cell):
    """The experiment's loop (Adam, cosine schedule, clipping) from the same weights on the same
    batches: the logged losses and the validation losses agree."""
    config = dataclasses.replace(experiment.Config(), hidden_size=16, embedding_dim=8, block_size=12, batch_size=4,
                                 steps=12, eval_every=6, log_every=1, lr=1e-2, grad_clip=0.5)
    ids = np.random.randint(0, 13, 3000)
    val = CharBatches(ids, 12, 4, seed=9).take(3)
    ours = CharRNN(13, 16, 1, cell, 8)
    init = {k: v.detach().numpy().copy() for k, v in ours.state_dict().items()}
    from reference.char_rnn_torch import torch_model

    theirs = torch_model(config, cell, 13, init)
    a = experiment.train_lm(ours, mg, CharBatches(ids, 12, 4, seed=0), val, config)["history"]
    b = experiment.train_lm(theirs, torch, CharBatches(ids, 12, 4, seed=0), val, config)["history"]
    assert [r["kind"] for r in a] == [r["kind"] for r in b] and len(a) == 14
    for ra, rb in zip(a, b):
        key = "loss" if ra["kind"] == "step" else "val_loss"
        assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-5), (ra, rb)
