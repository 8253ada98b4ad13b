"""The translation Transformer against a PyTorch twin (torch.nn.Transformer with the same
embeddings, sinusoidal table and generator, loaded through state_dict): same logits and grads
with padded sources and targets; weight tying; greedy decoding = a beam of one; beam search never
scores below greedy; and a tiny model learns to reverse sequences and decodes them exactly."""
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn

import macrograd as mg
from macrograd.models.seq2seq_transformer import Seq2SeqTransformer

PAD, BOS, EOS = 0, 1, 2
SMALL = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64,
             dropout=0.0, max_len=64)


class TorchTwin(tnn.Module):
    """Token embeddings * sqrt(d) + the Vaswani table, torch.nn.Transformer, a Linear."""

    def __init__(self, src_vocab, tgt_vocab, d_model, nhead, num_encoder_layers, num_decoder_layers,
                 dim_feedforward, dropout, max_len, norm_first=False, tie_weights=False):
        super().__init__()
        self.d_model = d_model
        self.src_embedding = tnn.Embedding(src_vocab, d_model, padding_idx=PAD)
        self.tgt_embedding = tnn.Embedding(tgt_vocab, d_model, padding_idx=PAD)
        self.transformer = tnn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                           dim_feedforward, dropout, batch_first=True, norm_first=norm_first)
        self.generator = tnn.Linear(d_model, tgt_vocab)
        if tie_weights:
            self.generator.weight = self.tgt_embedding.weight
        pos = torch.arange(max_len, dtype=torch.float64)[:, None]
        inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * inv_freq), torch.cos(pos * inv_freq)
        self.register_buffer("pe", pe.float(), persistent=False)

    def embed(self, embedding, tokens):
        return embedding(tokens) * math.sqrt(self.d_model) + self.pe[:tokens.size(1)]

    def forward(self, src, tgt):
        causal = torch.triu(torch.ones(tgt.size(1), tgt.size(1), dtype=torch.bool), diagonal=1)
        out = self.transformer(self.embed(self.src_embedding, src), self.embed(self.tgt_embedding, tgt),
                               tgt_mask=causal, src_key_padding_mask=src == PAD,
                               tgt_key_padding_mask=tgt == PAD, memory_key_padding_mask=src == PAD)
        return self.generator(out)


def padded_batch(seed):
    rng = np.random.default_rng(seed)
    src = rng.integers(3, 20, (3, 9))
    src[1, 6:] = PAD
    src[2, 4:] = PAD
    tgt = rng.integers(3, 17, (3, 7))
    tgt[:, 0] = BOS
    tgt[2, 5:] = PAD
    return src, tgt


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # torch's note on norm_first
@pytest.mark.parametrize("norm_first,tie_weights", [(False, False), (True, True)])
def test_logits_and_grads_match_the_torch_twin(norm_first, tie_weights):
    mg.manual_seed(0)
    ours = Seq2SeqTransformer(20, 17, **SMALL, norm_first=norm_first, tie_weights=tie_weights)
    twin = TorchTwin(20, 17, **SMALL, norm_first=norm_first, tie_weights=tie_weights)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    ours.train(), twin.train()  # dropout 0; train mode keeps torch off its fused fast path
    src, tgt = padded_batch(1)
    logits = ours(mg.tensor(src), mg.tensor(tgt))
    ref = twin(torch.tensor(src), torch.tensor(tgt))
    assert tuple(logits.shape) == (3, 7, 17)
    np.testing.assert_allclose(logits.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    w = np.random.default_rng(2).normal(size=(3, 7, 17)).astype(np.float32)
    (logits * mg.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    theirs = dict(twin.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs[name].grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


def test_padding_does_not_change_a_translation():
    mg.manual_seed(1)
    model = Seq2SeqTransformer(20, 17, **SMALL).eval()
    with mg.no_grad():
        padded = model(mg.tensor([[5, 6, 7, PAD, PAD]]), mg.tensor([[BOS, 4, 5]]))
        alone = model(mg.tensor([[5, 6, 7]]), mg.tensor([[BOS, 4, 5]]))
    np.testing.assert_allclose(padded.numpy(), alone.numpy(), rtol=1e-5, atol=1e-5)


def test_weight_tying_and_shared_embeddings():
    model = Seq2SeqTransformer(20, 17, **SMALL, tie_weights=True)
    assert model.generator.weight is model.tgt_embedding.weight
    assert model.src_embedding.weight is not model.tgt_embedding.weight
    shared = Seq2SeqTransformer(20, 20, **SMALL, tie_weights=True, share_embeddings=True)
    assert shared.src_embedding.weight is shared.tgt_embedding.weight is shared.generator.weight
    untied = Seq2SeqTransformer(20, 20, **SMALL)
    assert len(list(untied.parameters())) - len(list(shared.parameters())) == 2
    emb = untied.src_embedding.weight.detach().numpy()
    assert (emb[PAD] == 0).all() and abs(emb[1:].std() - 32 ** -0.5) < 0.03
    with pytest.raises(ValueError, match="share_embeddings needs one vocabulary, got sizes 20 and 17"):
        Seq2SeqTransformer(20, 17, share_embeddings=True)
    with pytest.raises(ValueError, match="expected src token ids of shape"):
        untied(mg.randn(2, 3), mg.tensor([[BOS]]))


def sequence_log_prob(model, src, tokens):
    """log P(tokens | src) under the model (tokens without BOS)."""
    tgt = mg.tensor([[BOS] + tokens[:-1]])
    with mg.no_grad():
        logp = model(mg.tensor(src), tgt).log_softmax(dim=-1).numpy()[0]
    return float(sum(logp[t, tok] for t, tok in enumerate(tokens)))


def test_greedy_is_a_beam_of_one_and_beams_score_at_least_as_well():
    mg.manual_seed(2)
    model = Seq2SeqTransformer(20, 17, **SMALL).eval()
    src = mg.tensor([[5, 6, 7, 8, PAD], [9, 10, 11, 12, 13]])
    greedy = model.greedy_decode(src, BOS, EOS, max_len=6).numpy()
    assert greedy.shape[0] == 2 and (greedy[:, 0] == BOS).all()
    beams = model.beam_search(src, BOS, EOS, beam_size=1, max_len=6, length_penalty=0.0)
    for i, [(tokens, score)] in enumerate(beams):
        row = greedy[i, 1:].tolist()
        row = row[:row.index(EOS) + 1] if EOS in row else row
        assert tokens.tolist() == row
        source = src.numpy()[i:i + 1]
        assert score == pytest.approx(sequence_log_prob(model, source, row), abs=1e-4)
        (best, best_score), = model.beam_search(source[0], BOS, EOS, beam_size=5, max_len=6, length_penalty=0.0)
        assert best_score >= score - 1e-6
        assert best_score == pytest.approx(sequence_log_prob(model, source, best.tolist()), abs=1e-4)


def test_learns_to_reverse_and_decodes_exactly():
    mg.manual_seed(3)
    model = Seq2SeqTransformer(10, 10, d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=64, dropout=0.0, max_len=16, share_embeddings=True,
                               tie_weights=True)
    optimizer = mg.optim.Adam(model.parameters(), lr=5e-3)
    rng = np.random.default_rng(4)
    for _ in range(250):
        src = rng.integers(3, 10, (32, 4))
        tgt = np.concatenate([np.full((32, 1), BOS), src[:, ::-1], np.full((32, 1), EOS)], axis=1)
        logits = model(mg.tensor(src), mg.tensor(tgt[:, :-1]))
        loss = mg.nn.functional.cross_entropy(logits.reshape(-1, 10), mg.tensor(tgt[:, 1:].reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    src = rng.integers(3, 10, (8, 4))
    out = model.greedy_decode(mg.tensor(src), BOS, EOS, max_len=8).numpy()
    np.testing.assert_array_equal(out[:, 1:5], src[:, ::-1])
    assert (out[:, 5] == EOS).all()
    for i, ((tokens, _),) in enumerate(model.beam_search(mg.tensor(src[:3]), BOS, EOS, beam_size=3, max_len=8)):
        assert tokens.tolist() == src[i, ::-1].tolist() + [EOS]
