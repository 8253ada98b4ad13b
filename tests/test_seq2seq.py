"""The recurrent encoder-decoder: Bahdanau attention against its torch formula (value and grads),
weights that sum to 1 and never touch padding, padding that changes nothing, teacher forcing that
looks only backwards, beam search of size 1 equal to greedy, and the fixed de-en splits."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.data.text_data import load_de_en_pairs, load_de_en_splits
from macrograd.models.seq2seq import BahdanauAttention, Seq2Seq, padding_mask

DATA = Path(os.environ.get("MACROGRAD_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BOS, EOS, PAD = 2, 3, 0


@pytest.fixture(autouse=True)
def data_folder(monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(DATA))


def make_model(cell="gru", attention=True, src_vocab=17, tgt_vocab=13, seed=0):
    mg.manual_seed(seed)
    return Seq2Seq(src_vocab, tgt_vocab, embedding_dim=6, hidden_size=8, cell=cell, attention=attention)


def batch():
    """Two sources of lengths 5 and 3 (right-padded with 0) and their teacher-forcing inputs."""
    src = np.array([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0]])
    tgt_in = np.array([[BOS, 4, 5, 6], [BOS, 7, 8, 0]])
    return src, np.array([5, 3]), tgt_in


# -- attention ------------------------------------------------------------------------------------
def test_bahdanau_attention_matches_the_torch_formula_value_and_grads():
    attn = BahdanauAttention(query_size=4, key_size=6, attention_size=5)
    W, U, b, v = (p.detach().numpy() for p in (attn.query_proj.weight, attn.key_proj.weight, attn.key_proj.bias,
                                               attn.v.weight))
    q, memory = np.random.randn(3, 4).astype(np.float32), np.random.randn(3, 7, 6).astype(np.float32)
    lengths = np.array([7, 4, 1])
    mask = np.arange(7)[None, :] < lengths[:, None]
    cot_c, cot_w = np.random.randn(3, 6).astype(np.float32), np.random.randn(3, 7).astype(np.float32)

    qm, mm = mg.tensor(q, requires_grad=True), mg.tensor(memory, requires_grad=True)
    context, weights = attn(qm, attn.project_keys(mm), mm, mg.tensor(mask))
    ((context * mg.tensor(cot_c)).sum() + (weights * mg.tensor(cot_w)).sum()).backward()

    qt, mt = torch.tensor(q, requires_grad=True), torch.tensor(memory, requires_grad=True)
    # e_j = v^T tanh(W q + U h_j + b)
    scores = torch.tanh((qt @ torch.tensor(W).T)[:, None, :] + mt @ torch.tensor(U).T + torch.tensor(b)) @ torch.tensor(v).T
    w_t = torch.softmax(scores.squeeze(-1).masked_fill(~torch.tensor(mask), float("-inf")), dim=-1)
    c_t = (w_t[:, :, None] * mt).sum(1)
    ((c_t * torch.tensor(cot_c)).sum() + (w_t * torch.tensor(cot_w)).sum()).backward()

    np.testing.assert_allclose(context.detach().numpy(), c_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.detach().numpy(), w_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(qm.grad.numpy(), qt.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mm.grad.numpy(), mt.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_attention_weights_sum_to_one_and_are_zero_on_padding(cell):
    model = make_model(cell)
    src, lengths, tgt_in = batch()
    _, weights = model(mg.tensor(src), lengths, mg.tensor(tgt_in))
    w = weights.detach().numpy()
    assert w.shape == (2, 4, 5)  # (batch, target steps, source positions)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    assert (w[1, :, 3:] == 0).all() and (w[1, :, :3] > 0).all()


def test_padding_changes_nothing_and_gets_no_gradient():
    """A sentence decodes to the same logits alone, padded in a batch, or padded with other ids
    in the pad positions; the embeddings of the padded positions get no gradient."""
    model = make_model()
    src, lengths, tgt_in = batch()
    both, _ = model(mg.tensor(src), lengths, mg.tensor(tgt_in))
    alone, _ = model(mg.tensor(src[1:, :3]), lengths[1:], mg.tensor(tgt_in[1:]))
    np.testing.assert_allclose(both.detach().numpy()[1], alone.detach().numpy()[0], atol=1e-5)
    other = src.copy()
    other[1, 3:] = [15, 16]  # garbage where the padding was
    garbage, _ = model(mg.tensor(other), lengths, mg.tensor(tgt_in))
    np.testing.assert_allclose(garbage.detach().numpy(), both.detach().numpy(), atol=1e-6)
    garbage.sum().backward()
    grad = model.encoder.embedding.weight.grad.numpy()
    assert (grad[[15, 16]] == 0).all() and np.abs(grad[[9, 10, 11]]).sum() > 0


def test_padding_mask_and_its_shape_check():
    assert padding_mask(np.array([2, 0, 3]), 3).numpy().tolist() == [[True, True, False], [False, False, False],
                                                                      [True, True, True]]
    attn = BahdanauAttention(4, 6, 5)
    memory = mg.randn(2, 3, 6)
    with pytest.raises(ValueError, match=r"BahdanauAttention: mask shape \(2, 4\) does not match .* \(2, 3\)"):
        attn(mg.randn(2, 4), attn.project_keys(memory), memory, mg.ones(2, 4, dtype=mg.bool))


# -- the decoder ----------------------------------------------------------------------------------
@pytest.mark.parametrize("attention", [True, False])
def test_teacher_forcing_looks_only_at_earlier_target_tokens(attention):
    model = make_model(attention=attention)
    src, lengths, tgt_in = batch()
    a, _ = model(mg.tensor(src), lengths, mg.tensor(tgt_in))
    changed = tgt_in.copy()
    changed[:, 2:] = 12
    b, _ = model(mg.tensor(src), lengths, mg.tensor(changed))
    np.testing.assert_allclose(a.detach().numpy()[:, :2], b.detach().numpy()[:, :2], atol=1e-6)
    assert not np.allclose(a.detach().numpy()[:, 2:], b.detach().numpy()[:, 2:])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", [True, False])
def test_every_parameter_learns(cell, attention):
    model = make_model(cell, attention)
    src, lengths, tgt_in = batch()
    logits, weights = model(mg.tensor(src), lengths, mg.tensor(tgt_in))
    assert logits.shape == (2, 4, 13) and (weights is None) == (not attention)
    mg.nn.functional.cross_entropy(logits.reshape(-1, 13), mg.tensor(np.array([4, 5, 6, EOS, 7, 8, EOS, PAD])),
                                   ignore_index=PAD).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.numpy()).sum() > 0, name


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_equals_greedy(cell, attention, seed):
    model = make_model(cell, attention, seed=seed)
    src, lengths, _ = batch()
    greedy, attn = model.greedy_decode(mg.tensor(src), lengths, BOS, EOS, max_len=7)
    for i in range(2):
        s = mg.tensor(src[i:i + 1, :lengths[i]])
        for penalty in (0.0, 1.0):
            assert model.beam_decode(s, lengths[i:i + 1], BOS, EOS, beam_size=1, max_len=7,
                                     length_penalty=penalty) == greedy[i]
    if attention:
        assert attn.shape[0] == 2 and attn.shape[2] == 5
        np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)


def sequence_log_prob(model, src, tokens):
    """log p(tokens + EOS | src) under teacher forcing."""
    tgt = np.array([[BOS] + tokens + [EOS]])
    with mg.no_grad():
        logits, _ = model(mg.tensor(src), np.array([src.shape[1]]), mg.tensor(tgt[:, :-1]))
        logp = mg.nn.functional.log_softmax(logits, dim=-1).numpy()[0]
    return float(logp[np.arange(len(tgt[0]) - 1), tgt[0, 1:]].sum())


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy():
    """Unnormalised scores (length_penalty=0): a wider beam never ends below greedy's log-prob,
    and the cached decoder states give the same log-prob as re-reading the whole sequence."""
    model = make_model(tgt_vocab=6, seed=3)
    src = np.array([[4, 5, 6]])
    greedy, _ = model.greedy_decode(mg.tensor(src), np.array([3]), BOS, EOS, max_len=30)
    beam = model.beam_decode(mg.tensor(src), np.array([3]), BOS, EOS, beam_size=4, max_len=30, length_penalty=0.0)
    assert EOS not in beam
    if EOS in greedy[0] or len(greedy[0]) < 30:  # greedy finished
        assert sequence_log_prob(model, src, beam) >= sequence_log_prob(model, src, greedy[0]) - 1e-5


def test_errors_name_the_model_and_the_value():
    with pytest.raises(ValueError, match=r"Seq2Seq: cell must be one of \('gru', 'lstm'\), got 'rnn'"):
        Seq2Seq(5, 5, cell="rnn")
    with pytest.raises(ValueError, match="Seq2Seq: hidden_size must be even"):
        Seq2Seq(5, 5, hidden_size=7)
    src, lengths, _ = batch()
    with pytest.raises(ValueError, match="Seq2Seq.beam_decode: one source sentence at a time, got a batch of 2"):
        make_model().beam_decode(mg.tensor(src), lengths, BOS, EOS)


# -- the fixed de-en splits -----------------------------------------------------------------------
def test_de_en_splits_are_fixed_disjoint_and_cover_every_pair():
    pairs = load_de_en_pairs()
    assert len(pairs) == 17309
    assert pairs[0].en.startswith("I\u2019ve made one or two") and pairs[0].de.startswith("Ich habe am")
    splits = load_de_en_splits()
    assert [len(splits[k]) for k in ("train", "valid", "test")] == [15309, 1000, 1000]
    again = load_de_en_splits(seed=0)
    assert again["test"] == splits["test"] and again["train"][:50] == splits["train"][:50]
    assert sorted(splits["train"] + splits["valid"] + splits["test"]) == sorted(pairs)
    assert load_de_en_splits(seed=1)["test"] != splits["test"]
    with pytest.raises(ValueError, match="load_de_en_splits: valid_size=17000 and test_size=1000"):
        load_de_en_splits(valid_size=17000)
