"""The transformer experiments (gpt-shakespeare, translate-transformer, vit, minilm,
sentiment-finetune) end to end on tiny budgets, and the attention-map recorder against the
attention each layer really applies (and against torch's MultiheadAttention weights)."""
import json
import math
import shutil

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.viz.attention import plot_attention, plot_attention_grid, record_attention
from experiment_helpers import DATA, data_folder, smoke  # noqa: F401 (data_folder is autouse)

MINILM = DATA.parent / "models" / "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def tiny_minilm(tmp_path_factory):
    """A 1-layer, 16-wide BERT with MiniLM's vocabulary and tokenizer files: the experiments' code
    paths at a fraction of the cost of loading 90 MB (the real model is tested in test_pretrained_minilm)."""
    from macrograd.io import save_pretrained
    from macrograd.models.bert import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-minilm")
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(MINILM / name, folder / name)
    vocab_size = sum(1 for _ in open(MINILM / "vocab.txt", encoding="utf-8"))
    mg.manual_seed(0)
    save_pretrained(BertModel(BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=32)), folder)
    return str(folder)


# -- gpt-shakespeare ------------------------------------------------------------------------------
def test_gpt_schedule_is_nanogpts():
    from macrograd.experiments.gpt_shakespeare import Config, lr_at

    c = Config()
    assert lr_at(0, c) == pytest.approx(1e-3 / 101)
    assert lr_at(99, c) == pytest.approx(1e-3 * 100 / 101)
    assert lr_at(100, c) == pytest.approx(1e-3)
    assert lr_at(1050, c) == pytest.approx(1e-4 + 0.5 * (1e-3 - 1e-4))
    assert lr_at(2000, c) == pytest.approx(1e-4) and lr_at(3000, c) == 1e-4


def test_gpt_shakespeare_matches_the_torch_reference(tmp_path):
    """The smoke run with the PyTorch twin: same weights, batches and schedule give the same
    validation loss (to float32 round-off), and the run folder is complete."""
    from macrograd.experiments import gpt_shakespeare

    summary = gpt_shakespeare.run(smoke(gpt_shakespeare, torch_reference=True, max_iters=4, lr_decay_iters=4,
                                        eval_interval=2, sample_tokens=10), tmp_path)
    assert summary["torch_reference"] == "ran"
    assert abs(summary["val_loss_difference"]) < 1e-4
    assert math.log(64) - 0.5 < summary["val_loss"] < math.log(64) + 0.5  # 4 steps: about uniform over ~64 chars
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "samples.md", "model.safetensors"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert len(summary["samples"][0]) > 0
    # resumed, with the twin's result read from a file (as `gpt_torch.py --torch-only --out` writes it)
    again = gpt_shakespeare.run(smoke(gpt_shakespeare, max_iters=4, lr_decay_iters=4, eval_interval=2, sample_tokens=10,
                                      torch_result=str(tmp_path / "torch_result.json")), tmp_path, resume=True)
    assert again["torch_reference"].startswith("ran apart")
    assert again["val_loss_difference"] == summary["val_loss_difference"]


def test_gpt_bpe_variant(tmp_path):
    from macrograd.experiments import gpt_shakespeare

    summary = gpt_shakespeare.run(smoke(gpt_shakespeare, tokenizer="bpe", max_chars=5000, max_iters=2, eval_interval=2,
                                        lr_decay_iters=2), tmp_path)
    # per token over a 280-token vocabulary, and per character below it (a token is > 1 character)
    assert math.log(280) - 0.5 < summary["val_loss"] < math.log(280) + 0.5
    assert summary["val_loss_per_char"] < summary["val_loss"]
    from macrograd.experiments import gpt_bpe

    assert gpt_bpe.Config().tokenizer == "bpe" and gpt_bpe.Config().n_layer == 4
    with pytest.raises(ValueError, match="tokenizer must be 'char' or 'bpe'"):
        gpt_shakespeare.run(smoke(gpt_shakespeare, tokenizer="word"), tmp_path / "bad")


# -- translate-transformer ------------------------------------------------------------------------
def test_translate_transformer_smoke(tmp_path):
    from macrograd.experiments import translate_transformer

    config = smoke(translate_transformer, train_subset=128, test_subset=8, epochs=1, beam_subset=2, max_decode_len=5,
                   seq2seq_summary=str(tmp_path / "seq2seq.json"))
    (tmp_path / "seq2seq.json").write_text(json.dumps({"attention": {"bleu_greedy": 12.5, "best_val_loss": 3.0}}))
    summary = translate_transformer.run(config, tmp_path / "run")
    assert 0.0 <= summary["bleu_greedy"] <= 100.0 and summary["test_pairs"] == 8 and summary["beam_pairs"] == 2
    assert summary["translate_seq2seq"] == {"attention": {"bleu_greedy": 12.5}}  # read side by side
    for name in ("examples.md", "curves.png", "cross_attention_0.png", "model.safetensors"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name


def test_warmup_cosine_factor():
    from macrograd.experiments.translate_transformer import lr_factor

    assert lr_factor(0, 100, 10) == pytest.approx(0.1) and lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0) and lr_factor(100, 100, 10) == pytest.approx(0.05)


# -- vit ------------------------------------------------------------------------------------------
def test_vit_smoke(tmp_path):
    from macrograd.experiments import vit

    summary = vit.run(smoke(vit, datasets=("fashion-mnist",), train_subset=64, val_size=32, test_subset=32, batch_size=32),
                      tmp_path)
    result = summary["fashion-mnist"]
    assert 0.0 <= result["test_acc"] <= 1.0 and result["parameters"] > 0
    assert (tmp_path / "fashion-mnist" / "attention.png").stat().st_size > 0
    with pytest.raises(ValueError, match="datasets must be"):
        vit.run(smoke(vit, datasets=("cifar",)), tmp_path / "bad")


# -- minilm and sentiment -------------------------------------------------------------------------
def test_polarity_sets_load_in_every_language():
    from macrograd.experiments.text_common import load_polarity

    sizes = {}
    for language in ("en", "nl", "fr", "de"):
        texts, labels = load_polarity(language)
        sizes[language] = len(texts)
        assert set(labels.tolist()) == {0, 1} and all(isinstance(t, str) and t for t in texts)
        assert abs(labels.mean() - 0.5) < 0.01  # balanced sets
        assert not texts[0].startswith("\ufeff")
    assert sizes == {"en": 4000, "nl": 3000, "fr": 1500, "de": 200}
    with pytest.raises(ValueError, match="language must be one of"):
        load_polarity("xx")


def test_split_prefixes_are_random_samples():
    """The polarity files list all positives first: a training subset must still hold both classes."""
    from macrograd.experiments.text_common import load_polarity, split

    _, labels = load_polarity("en")
    train, test = split(len(labels), 0.2, seed=0)
    assert len(set(train) | set(test)) == len(labels) and not set(train) & set(test)
    assert 0.4 < labels[train[:400]].mean() < 0.6 and 0.4 < labels[test[:100]].mean() < 0.6


def test_search_ranks_by_cosine():
    from macrograd.experiments.minilm import search

    corpus = np.eye(4, dtype=np.float32)
    query = np.array([[0.1, 0.9, 0.3, 0.0]], dtype=np.float32)
    top, scores = search(query, corpus, 2)
    assert top.tolist() == [[1, 2]] and scores[0].tolist() == pytest.approx([0.9, 0.3])


def test_minilm_smoke(tmp_path, tiny_minilm):
    from macrograd.experiments import minilm

    summary = minilm.run(smoke(minilm, model=tiny_minilm, shakespeare_lines=8, review_sentences=8), tmp_path)
    assert summary["texts"] == 16 and summary["dimensions"] == 16
    assert summary["norms"] == pytest.approx([1.0, 1.0], abs=1e-5)  # unit vectors
    assert [len(s["hits"]) for s in summary["searches"]] == [2, 2]
    for name in ("results.md", "query_similarity.png", "attention_layers.png"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_sentiment_finetune_smoke(tmp_path, tiny_minilm):
    from macrograd.experiments import sentiment_finetune

    summary = sentiment_finetune.run(smoke(sentiment_finetune, model=tiny_minilm, train_subset=32, test_subset=16), tmp_path)
    en = summary["en"]
    assert (en["train"], en["test"]) == (32, 16)
    for method in sentiment_finetune.METHODS:
        assert 0.0 <= en[method]["test_acc"] <= 1.0, method
    assert "| en | 32 / 16 |" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match="methods must be among"):
        sentiment_finetune.run(smoke(sentiment_finetune, model=tiny_minilm, methods=("svm",)), tmp_path / "bad")


# -- attention maps -------------------------------------------------------------------------------
def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_gpt_attention_maps_are_the_applied_attention(tmp_path):
    """P @ V with the recorded P, through c_proj, gives the attention module's own output."""
    from macrograd.models.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=8)).eval()
    x = mg.tensor(np.random.default_rng(0).integers(0, 11, (2, 7)))
    outputs = {}
    attn = model.transformer.h[1].attn
    handle = attn.register_forward_hook(lambda m, args, out: outputs.update(x=args[0].detach(), y=out.detach()))
    with record_attention(model) as maps:
        model(x)
    handle.remove()
    p = maps["transformer.h.1.attn"]
    assert maps.names == ["transformer.h.0.attn", "transformer.h.1.attn"] and p.shape == (2, 2, 7, 7)
    assert np.allclose(np.triu(p, k=1), 0.0) and np.allclose(p.sum(-1), 1.0, atol=1e-6)
    v = attn.c_attn(outputs["x"]).detach().numpy()[..., 16:].reshape(2, 7, 2, 4).transpose(0, 2, 1, 3)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(2, 7, 8)
    expected = y @ attn.c_proj.weight.detach().numpy().T + attn.c_proj.bias.detach().numpy()
    assert np.allclose(expected, outputs["y"].numpy(), atol=1e-5)
    assert len(model.transformer.h[0].attn._forward_hooks) == 0  # hooks removed on exit
    plot_attention_grid(maps, tmp_path / "grid.png", layers=[1], heads=[0, "mean"], x_labels=list("abcdefg"),
                        y_labels=list("abcdefg"))
    plot_attention(maps, tmp_path / "one.png", layer=-1, head=1, sample=1)
    assert (tmp_path / "grid.png").stat().st_size > 0 and (tmp_path / "one.png").stat().st_size > 0
    with pytest.raises(IndexError, match="head 5 out of range for 2 heads"):
        plot_attention(maps, tmp_path / "bad.png", layer=0, head=5)
    with pytest.raises(ValueError, match="3 key labels for a map with 7 key positions"):
        plot_attention(maps, tmp_path / "bad.png", x_labels=list("abc"))


def test_bert_attention_maps_mask_padding():
    from macrograd.models.bert import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=16)).eval()
    ids = np.array([[2, 5, 7, 3, 0], [2, 9, 3, 0, 0]])
    outputs = {}
    attn = model.encoder.layer[0].attention.self
    handle = attn.register_forward_hook(lambda m, args, out: outputs.update(x=args[0].detach(), y=out.detach()))
    with record_attention(model) as maps:
        model(ids, (ids != 0).astype(np.int64))
    handle.remove()
    p = maps[0]
    assert len(maps) == 2 and p.shape == (2, 2, 5, 5)
    assert np.allclose(p[0, :, :, 4], 0.0) and np.allclose(p[1, :, :, 3:], 0.0)  # padding keys get nothing
    v = attn.value(outputs["x"]).detach().numpy().reshape(2, 5, 2, 4).transpose(0, 2, 1, 3)
    assert np.allclose((p @ v).transpose(0, 2, 1, 3).reshape(2, 5, 8), outputs["y"].numpy(), atol=1e-5)


def test_multihead_attention_maps_equal_torch_weights():
    """Inside a Transformer encoder layer (which asks for no weights), the recorder gets the
    per-head weights that torch's MultiheadAttention returns for the same inputs and mask."""
    layer = mg.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
    twin = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    twin.load_state_dict({k[len("self_attn."):]: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()
                          if k.startswith("self_attn.")})
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    with record_attention(layer) as maps:
        out = layer(mg.tensor(x), src_key_padding_mask=mg.tensor(pad))
    _, expected = twin(torch.tensor(x), torch.tensor(x), torch.tensor(x), key_padding_mask=torch.tensor(pad),
                       need_weights=True, average_attn_weights=False)
    assert maps.names == ["self_attn"] and out.shape == (2, 5, 8)
    np.testing.assert_allclose(maps[0], expected.detach().numpy(), atol=1e-6)


def test_record_attention_needs_an_attention_module():
    with pytest.raises(ValueError, match="Linear has no attention module"):
        with record_attention(mg.nn.Linear(2, 2)):
            pass
